#include "fer/player/http_range.hpp"

#include <charconv>
#include <optional>

namespace fer::player {

namespace {

std::string_view trim_spaces(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// A run of decimal digits, nothing else; nullopt on anything else or on overflow.
std::optional<std::uint64_t> parse_position(std::string_view digits) {
    if (digits.empty()) return std::nullopt;
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
    return value;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

RangeSelection select_byte_range(std::string_view range_header, std::uint64_t size) {
    RangeSelection whole;
    whole.kind = RangeSelection::Kind::whole;
    whole.range = {0, size == 0 ? 0 : size - 1};
    RangeSelection unsatisfiable;
    unsatisfiable.kind = RangeSelection::Kind::unsatisfiable;

    range_header = trim_spaces(range_header);
    if (range_header.empty()) return whole;
    const auto equals = range_header.find('=');
    // The RFC says to ignore a Range in a unit we do not serve rather than to fail the request.
    if (equals == std::string_view::npos || !equals_ignoring_case(trim_spaces(range_header.substr(0, equals)), "bytes"))
        return whole;
    const std::string_view spec = trim_spaces(range_header.substr(equals + 1));
    // Several ranges would need a multipart/byteranges body; a server may answer them with the whole file.
    if (spec.find(',') != std::string_view::npos) return whole;
    const auto dash = spec.find('-');
    if (dash == std::string_view::npos) return unsatisfiable;
    const std::string_view first_text = trim_spaces(spec.substr(0, dash));
    const std::string_view last_text = trim_spaces(spec.substr(dash + 1));

    RangeSelection partial;
    partial.kind = RangeSelection::Kind::partial;
    if (first_text.empty()) {  // "bytes=-n": the last n bytes
        const auto suffix = parse_position(last_text);
        if (!suffix || *suffix == 0 || size == 0) return unsatisfiable;
        partial.range = {*suffix >= size ? 0 : size - *suffix, size - 1};
        return partial;
    }
    const auto first = parse_position(first_text);
    if (!first || *first >= size) return unsatisfiable;
    std::uint64_t last = size - 1;
    if (!last_text.empty()) {
        const auto requested_last = parse_position(last_text);
        if (!requested_last || *requested_last < *first) return unsatisfiable;
        if (*requested_last < last) last = *requested_last;
    }
    partial.range = {*first, last};
    return partial;
}

std::string content_range_value(const ByteRange& range, std::uint64_t size) {
    return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" + std::to_string(size);
}

std::string unsatisfied_content_range_value(std::uint64_t size) {
    return "bytes */" + std::to_string(size);
}

}  // namespace fer::player

#include "stb_guard.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <optional>

namespace fer {

namespace {

// JPEG marker codes, as stb_image names them.
constexpr std::uint8_t no_marker = 0xff;  // STBI__MARKER_none: no marker where one was expected
constexpr std::uint8_t start_of_image = 0xd8;
constexpr std::uint8_t end_of_image = 0xd9;
constexpr std::uint8_t start_of_scan = 0xda;
constexpr std::uint8_t define_huffman_tables = 0xc4;
constexpr std::uint8_t define_quantization_tables = 0xdb;
constexpr std::uint8_t define_restart_interval = 0xdd;
constexpr std::uint8_t define_number_of_lines = 0xdc;
constexpr int max_huffman_codes = 256;

bool is_start_of_frame(std::uint8_t marker) {  // the frame types stb decodes: baseline, extended, progressive
    return marker == 0xc0 || marker == 0xc1 || marker == 0xc2;
}
bool is_restart(std::uint8_t marker) {
    return marker >= 0xd0 && marker <= 0xd7;
}
bool is_application_or_comment(std::uint8_t marker) {
    return (marker >= 0xe0 && marker <= 0xef) || marker == 0xfe;
}

// stb's reader over memory: reading past the end gives zeros, and skipping may go past the end.
class StbReader {
public:
    explicit StbReader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

    std::uint8_t byte() { return position_ < bytes_.size() ? bytes_[position_++] : 0; }
    int be16() {
        const int high = byte();
        return (high << 8) | byte();
    }
    void skip(long count) { position_ = count < 0 ? bytes_.size() : position_ + std::size_t(count); }
    bool at_end() const { return position_ >= bytes_.size(); }

    // stbi__get_marker: 0xFF, any number of 0xFF fill bytes, then the marker code.
    std::uint8_t marker() {
        std::uint8_t code = byte();
        if (code != 0xff) return no_marker;
        while (code == 0xff) code = byte();
        return code;
    }

    // The marker that ends entropy-coded data: 0xFF followed by a code that is neither a stuffed 0x00, a
    // fill byte nor a restart marker (stb decodes across restarts). nullopt at the end of the data.
    std::optional<std::uint8_t> marker_after_scan() {
        while (!at_end()) {
            if (byte() != 0xff) continue;
            std::uint8_t code = byte();
            while (code == 0xff) code = byte();
            if (code != 0x00 && !is_restart(code)) return code;
        }
        return std::nullopt;
    }

private:
    std::span<const std::uint8_t> bytes_;
    std::size_t position_ = 0;
};

struct SegmentResult {
    bool stb_continues = true;  // false: stb reports an error here and stops reading
    std::string hazard;         // non-empty: the overflow
};

// The bytes stb's stbi__process_marker consumes for one segment, and whether it goes on afterwards.
SegmentResult read_segment(StbReader& reader, std::uint8_t marker) {
    if (marker == define_restart_interval) {
        if (reader.be16() != 4) return {false, ""};
        reader.be16();
        return {};
    }
    if (marker == define_quantization_tables) {
        int left = reader.be16() - 2;
        while (left > 0) {
            const std::uint8_t kind = reader.byte();
            const int precision = kind >> 4, table = kind & 15;
            if (precision > 1 || table > 3) return {false, ""};
            reader.skip(precision ? 128 : 64);
            left -= precision ? 129 : 65;
        }
        return {left == 0, ""};
    }
    if (marker == define_huffman_tables) {
        int left = reader.be16() - 2;
        while (left > 0) {
            const std::uint8_t kind = reader.byte();
            if ((kind >> 4) > 1 || (kind & 15) > 3) return {false, ""};
            int codes = 0;
            for (int length = 0; length < 16; ++length) codes += reader.byte();
            if (codes > max_huffman_codes)
                return {false, "corrupt JPEG: a Huffman table declares " + std::to_string(codes) + " codes (at most " +
                                   std::to_string(max_huffman_codes) + ")"};
            reader.skip(codes);
            left -= 17 + codes;
        }
        return {left == 0, ""};
    }
    if (is_application_or_comment(marker)) {
        const int length = reader.be16();
        if (length < 2) return {false, ""};
        reader.skip(length - 2);
        return {};
    }
    return {false, ""};  // no marker, or one stb does not know
}

std::string jpeg_hazard(std::span<const std::uint8_t> bytes) {
    StbReader reader(bytes);
    if (reader.marker() != start_of_image) return "";  // not a JPEG: stb tries the other formats

    // Up to the frame header (stbi__decode_jpeg_header), which also skips stray bytes between segments.
    std::uint8_t marker = reader.marker();
    while (!is_start_of_frame(marker)) {
        SegmentResult segment = read_segment(reader, marker);
        if (!segment.hazard.empty() || !segment.stb_continues) return segment.hazard;
        marker = reader.marker();
        while (marker == no_marker) {
            if (reader.at_end()) return "";
            marker = reader.marker();
        }
    }
    reader.skip(reader.be16() - 2);

    // Scans and the tables between them (stbi__decode_jpeg_image).
    marker = reader.marker();
    while (marker != end_of_image) {
        if (marker == start_of_scan) {
            reader.skip(reader.be16() - 2);
            const std::optional<std::uint8_t> next = reader.marker_after_scan();
            if (!next) return "";
            marker = *next;
            continue;
        }
        if (marker == define_number_of_lines) {
            reader.skip(4);
        } else {
            SegmentResult segment = read_segment(reader, marker);
            if (!segment.hazard.empty() || !segment.stb_continues) return segment.hazard;
        }
        marker = reader.marker();
    }
    return "";
}

std::uint32_t big_endian_32(std::span<const std::uint8_t> bytes, std::size_t at) {
    return std::uint32_t(bytes[at]) << 24 | std::uint32_t(bytes[at + 1]) << 16 | std::uint32_t(bytes[at + 2]) << 8 |
           std::uint32_t(bytes[at + 3]);
}

// stb reads chunk after chunk until IEND; on its success path it consumes each chunk's declared length
// and a CRC, which is what this walk does.
std::string png_hazard(std::span<const std::uint8_t> bytes) {
    constexpr std::array<std::uint8_t, 8> signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (bytes.size() < signature.size() || !std::equal(signature.begin(), signature.end(), bytes.begin())) return "";
    constexpr std::uint32_t idat = 0x49444154, iend = 0x49454e44;
    std::size_t position = signature.size();
    while (bytes.size() - position >= 8) {
        const std::uint32_t length = big_endian_32(bytes, position), type = big_endian_32(bytes, position + 4);
        position += 8;
        const std::size_t left = bytes.size() - position;
        if (type == idat && length > left)
            return "corrupt PNG: an IDAT chunk declares " + std::to_string(length) + " bytes but " +
                   std::to_string(left) + " are left";
        if (type == iend || length > left) return "";
        position += length;
        position += std::min<std::size_t>(4, bytes.size() - position);  // the CRC
    }
    return "";
}

bool is_pnm_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// stbi__pnm_info reads three numbers (width, height, maximum value) after "P5" or "P6", skipping white
// space and '#' comments, into an int without an overflow check.
std::string pnm_hazard(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < 2 || bytes[0] != 'P' || (bytes[1] != '5' && bytes[1] != '6')) return "";
    StbReader reader(bytes);
    reader.skip(2);
    char c = char(reader.byte());
    for (int number = 0; number < 3; ++number) {
        for (;;) {
            while (!reader.at_end() && is_pnm_space(c)) c = char(reader.byte());
            if (reader.at_end() || c != '#') break;
            while (!reader.at_end() && c != '\n' && c != '\r') c = char(reader.byte());
        }
        std::int64_t value = 0;
        while (!reader.at_end() && c >= '0' && c <= '9') {
            value = value * 10 + (c - '0');
            if (value > std::numeric_limits<int>::max())
                return "corrupt PNM: a number in the header is larger than " +
                       std::to_string(std::numeric_limits<int>::max());
            c = char(reader.byte());
        }
    }
    return "";
}

}  // namespace

std::string stb_image_hazard(std::span<const std::uint8_t> bytes) {
    for (const auto hazard : {jpeg_hazard, png_hazard, pnm_hazard})
        if (std::string reason = hazard(bytes); !reason.empty()) return reason;
    return "";
}

}  // namespace fer

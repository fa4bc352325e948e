// HTTP byte ranges (RFC 9110 section 14) for serving audio files: the browser's <audio> element seeks
// by asking for "bytes=a-b", "bytes=a-" or "bytes=-n" of the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fer::player {

struct ByteRange {
    std::uint64_t first = 0;  // inclusive
    std::uint64_t last = 0;   // inclusive
    std::uint64_t length() const { return last - first + 1; }
};

struct RangeSelection {
    enum class Kind {
        whole,          // no Range header, another unit, or several ranges: send the whole file (200)
        partial,        // one satisfiable range: send it (206 with Content-Range)
        unsatisfiable,  // malformed, or starts past the end: 416 with "Content-Range: bytes */size"
    };
    Kind kind = Kind::whole;
    ByteRange range;  // the bytes to send for whole and partial; meaningless for unsatisfiable
};

// Resolves the value of a Range header against a resource of `size` bytes. A last position past the
// end is clamped to the end, and a suffix longer than the file selects the whole file, as the RFC says.
RangeSelection select_byte_range(std::string_view range_header, std::uint64_t size);

// "bytes 0-99/1234" for a 206 response.
std::string content_range_value(const ByteRange& range, std::uint64_t size);

// "bytes */1234" for a 416 response.
std::string unsatisfied_content_range_value(std::uint64_t size);

}  // namespace fer::player

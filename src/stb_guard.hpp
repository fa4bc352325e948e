// Guards for flaws of stb_image 2.27, the version Debian 12 ships as libstb, found by fuzzing
// (docs/reliability.md). fer links the system library, so it checks the bytes before stb sees them:
// - JPEG: a Huffman table (DHT segment) that declares more than 256 codes is written past the end of
//   stb's fixed-size tables (stbi__build_huffman), corrupting the decoder's memory. Later stb versions
//   reject it the same way.
// - PNG: stb grows its buffer to an IDAT chunk's declared length (up to 2 GB) before finding that the
//   data is not there.
// - PNM: a header number beyond INT_MAX overflows a signed int (undefined behaviour) in
//   stbi__pnm_getinteger. Later stb versions reject it the same way.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace fer {

// Why stb_image 2.27 must not be given these bytes ("corrupt JPEG: ...", "corrupt PNG: ...", ...), or "" when
// it may. Only bytes that stb would reject anyway or mishandle are refused. For a JPEG the walk follows
// stb's marker by marker up to the first scan; after a scan it goes on at the next marker in the data,
// which covers every place stb can go on from.
std::string stb_image_hazard(std::span<const std::uint8_t> bytes);

}  // namespace fer

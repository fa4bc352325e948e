// CRC-32 (IEEE 802.3, the zlib/PNG polynomial) for detecting corrupt model files.
#pragma once

#include <cstdint>
#include <span>

namespace fer {

// CRC-32 of `bytes`, continuing from `crc` (0 for a fresh checksum), so a stream can be summed in pieces:
// crc32(b, crc32(a)) == crc32(a + b). crc32("123456789") == 0xCBF43926.
std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0);

}  // namespace fer

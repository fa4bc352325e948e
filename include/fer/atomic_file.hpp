// Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one: the bytes go
// to a temporary file in the same folder, which is flushed, fsync'ed and renamed over the target.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace fer {

// Throws std::runtime_error naming `path` and the reason; on failure no temp file is left behind and
// an existing target is untouched.
void write_file_atomically(const std::string& path, std::span<const std::uint8_t> bytes);
void write_file_atomically(const std::string& path, std::string_view text);

// Checks early (before hours of training) that a file can be created in path's folder; throws naming
// the folder and the reason (missing, read-only, full).
void check_writable(const std::string& path);

// Reads a whole file; throws naming the path.
std::string read_file(const std::string& path);

}  // namespace fer

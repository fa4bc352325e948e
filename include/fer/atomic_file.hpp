// Writing files so that a crash, a full disk or Ctrl-C never leaves a half-written one: the bytes go
// to a temporary file in the same folder, which is flushed, fsync'ed and renamed over the target.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace fer {

// Throws std::runtime_error naming `path` and the reason; on failure no temp file is left behind and
// an existing target is untouched. The temp file is named "<path>.tmp-<writer's pid>-XXXXXX", so that a
// later run can tell one left by a killed writer (see remove_orphaned_temp_files).
void write_file_atomically(const std::string& path, std::span<const std::uint8_t> bytes);
void write_file_atomically(const std::string& path, std::string_view text);

// A file a long job will write, and the disk space it needs at most.
struct PlannedFile {
    std::string path;
    std::uint64_t bytes = 4096;
};

// Checks early (before hours of training) that every file can be written: its folder exists, is a folder
// and takes a new file, and the disks have room for all the bytes at once (reserved together, because files
// on one disk share its free space, then released). Removes orphaned temp files in those folders first.
// Throws naming the path and the reason (missing, not a folder, read-only, full).
void check_writable(std::span<const PlannedFile> files);
void check_writable(const std::string& path, std::uint64_t bytes = 4096);

// Removes the temp files that writers killed mid-write (SIGKILL, power loss) left in path's folder: those
// whose writer process no longer exists. A live writer's temp file is never touched. Returns how many.
std::size_t remove_orphaned_temp_files(const std::string& path);

// Reads a whole file; throws naming the path.
std::string read_file(const std::string& path);

}  // namespace fer

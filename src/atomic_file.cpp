#include "fer/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace fer {

namespace {

std::string folder_of(const std::string& path) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}

// "FOLDER: REASON" for a failed create in path's folder; error is the create's errno.
std::string describe_folder(const std::string& path, int error) {
    std::string folder = folder_of(path);
    std::error_code ec;
    if (!std::filesystem::exists(folder, ec)) return folder + ": the folder does not exist";
    if (!std::filesystem::is_directory(folder, ec)) return folder + ": not a folder";
    return folder + ": " + std::strerror(error);
}

constexpr std::string_view kTempMarker = ".tmp-";
constexpr std::size_t kTempRandomChars = 6;  // mkstemp's XXXXXX

// A unique temp name beside the target; mkstemp creates it exclusively. The pid in the name is what
// lets remove_orphaned_temp_files tell a killed writer's leftover from a live writer's file.
struct TempFile {
    std::string name;
    int fd = -1;
    explicit TempFile(const std::string& target) {
        std::string pattern = target + std::string(kTempMarker) + std::to_string(::getpid()) + "-XXXXXX";
        std::vector<char> buffer(pattern.begin(), pattern.end());
        buffer.push_back('\0');
        fd = mkstemp(buffer.data());
        if (fd < 0) {
            const int error = errno;
            throw std::runtime_error(target + ": cannot create a file in " + describe_folder(target, error));
        }
        name = buffer.data();
    }
    ~TempFile() {
        if (fd >= 0) ::close(fd);
        if (!name.empty()) ::unlink(name.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    TempFile(TempFile&& other) noexcept : name(std::move(other.name)), fd(other.fd) {
        other.name.clear();
        other.fd = -1;
    }
    TempFile& operator=(TempFile&&) = delete;
};

// The pid of the writer that made temp file `filename`, or 0 when the name is not one of ours.
pid_t temp_file_writer(const std::string& filename) {
    std::size_t marker = filename.rfind(kTempMarker);
    if (marker == std::string::npos || marker == 0) return 0;
    std::string rest = filename.substr(marker + kTempMarker.size());  // "<pid>-XXXXXX"
    std::size_t dash = rest.find('-');
    // Linux pids have at most 7 digits (pid_max <= 2^22); the bound also keeps pid_t from overflowing.
    if (dash == 0 || dash > 9 || rest.size() - dash - 1 != kTempRandomChars) return 0;
    long long pid = 0;
    for (std::size_t i = 0; i < dash; ++i) {
        if (rest[i] < '0' || rest[i] > '9') return 0;
        pid = pid * 10 + (rest[i] - '0');
    }
    return pid_t(pid);
}

bool process_exists(pid_t pid) {
    // EPERM: it exists but belongs to someone else.
    return ::kill(pid, 0) == 0 || errno == EPERM;
}

std::string mebibytes(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", double(bytes) / (1024.0 * 1024.0));
    return text;
}

}  // namespace

void write_file_atomically(const std::string& path, std::span<const std::uint8_t> bytes) {
    // Every failure below leaves the target as it was; saying so tells the user the last good
    // checkpoint or model is still there.
    auto failed = [&path](const char* step) {
        return std::runtime_error(path + ": " + step + " failed: " + std::strerror(errno) +
                                  " (any earlier version of the file is unchanged)");
    };
    TempFile temp(path);
    const std::uint8_t* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        ssize_t written = ::write(temp.fd, p, left);
        if (written < 0) {
            if (errno == EINTR) continue;
            throw failed("write");
        }
        p += written;
        left -= std::size_t(written);
    }
    // mkstemp creates 0600; models and logs are meant to be shared like any other output.
    ::fchmod(temp.fd, 0644);
    if (::fsync(temp.fd) != 0) throw failed("fsync");
    int fd = temp.fd;
    temp.fd = -1;
    if (::close(fd) != 0) throw failed("close");
    if (::rename(temp.name.c_str(), path.c_str()) != 0) throw failed("rename");
    temp.name.clear();  // renamed: nothing to clean up
    // Make the rename itself durable.
    int dir = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
}

void write_file_atomically(const std::string& path, std::string_view text) {
    write_file_atomically(
        path, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void check_writable(std::span<const PlannedFile> files) {
    for (const PlannedFile& file : files) {
        std::string folder = folder_of(file.path);
        std::error_code ec;
        if (!std::filesystem::exists(folder, ec))
            throw std::runtime_error(file.path + ": output folder " + folder + " does not exist");
        if (!std::filesystem::is_directory(folder, ec))
            throw std::runtime_error(file.path + ": " + folder + " is not a folder");
        remove_orphaned_temp_files(file.path);
    }
    // All reservations are held until the last one succeeds: two files on one disk need the sum.
    // posix_fallocate allocates real blocks, so a full disk, a quota or a file-size limit shows here.
    std::vector<TempFile> reservations;
    for (const PlannedFile& file : files) {
        TempFile& probe = reservations.emplace_back(file.path);
        int error = EINTR;
        while (error == EINTR) error = ::posix_fallocate(probe.fd, 0, off_t(std::max<std::uint64_t>(file.bytes, 1)));
        if (error != 0)
            throw std::runtime_error(file.path + ": cannot reserve the " + mebibytes(file.bytes) + " it needs in " +
                                     folder_of(file.path) + ": " + std::strerror(error));
    }
}

void check_writable(const std::string& path, std::uint64_t bytes) {
    const PlannedFile file{path, bytes};
    check_writable(std::span<const PlannedFile>(&file, 1));
}

std::size_t remove_orphaned_temp_files(const std::string& path) {
    std::size_t removed = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(folder_of(path), ec)) {
        pid_t writer = temp_file_writer(entry.path().filename().string());
        if (writer <= 0 || process_exists(writer)) continue;
        std::error_code ignored;
        if (entry.is_regular_file(ignored) && std::filesystem::remove(entry.path(), ignored)) ++removed;
    }
    return removed;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) throw std::runtime_error(path + ": read failed");
    return buffer.str();
}

}  // namespace fer

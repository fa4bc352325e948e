#include "fer/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

// A unique temp name beside the target; mkstemp creates it exclusively.
struct TempFile {
    std::string name;
    int fd = -1;
    explicit TempFile(const std::string& target) {
        std::vector<char> pattern(target.begin(), target.end());
        const char suffix[] = ".tmp-XXXXXX";
        pattern.insert(pattern.end(), suffix, suffix + sizeof suffix);  // keeps the terminating NUL
        fd = mkstemp(pattern.data());
        if (fd < 0)
            throw std::runtime_error(target + ": cannot create a file in " + folder_of(target) + ": " +
                                     std::strerror(errno));
        name = pattern.data();
    }
    ~TempFile() {
        if (fd >= 0) ::close(fd);
        if (!name.empty()) ::unlink(name.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
};

}  // namespace

void write_file_atomically(const std::string& path, std::span<const std::uint8_t> bytes) {
    TempFile temp(path);
    const std::uint8_t* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        ssize_t written = ::write(temp.fd, p, left);
        if (written < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(path + ": write failed: " + std::strerror(errno));
        }
        p += written;
        left -= std::size_t(written);
    }
    // mkstemp creates 0600; models and logs are meant to be shared like any other output.
    ::fchmod(temp.fd, 0644);
    if (::fsync(temp.fd) != 0) throw std::runtime_error(path + ": fsync failed: " + std::strerror(errno));
    int fd = temp.fd;
    temp.fd = -1;
    if (::close(fd) != 0) throw std::runtime_error(path + ": close failed: " + std::strerror(errno));
    if (::rename(temp.name.c_str(), path.c_str()) != 0)
        throw std::runtime_error(path + ": cannot replace the file: " + std::strerror(errno));
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

void check_writable(const std::string& path) {
    std::string folder = folder_of(path);
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec))
        throw std::runtime_error(path + ": output folder " + folder + " does not exist");
    // Probe with a real file of a few KiB: catches read-only folders and full disks alike.
    std::vector<std::uint8_t> probe(4096, 0);
    write_file_atomically(path + ".probe", probe);
    std::filesystem::remove(path + ".probe", ec);
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

// A temporary folder for a test, removed with everything in it when the test ends.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace fer {

class TempDir {
public:
    TempDir() {
        // Unique per process and object, so parallel ctest runs never share a folder.
        static std::atomic<unsigned> counter{0};
        root_ = std::filesystem::temp_directory_path() /
                ("fer-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(root_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(root_, ignored);
    }
    TempDir(TempDir&& other) noexcept : root_(std::move(other.root_)) { other.root_.clear(); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string path(const std::string& name = "") const { return (root_ / name).string(); }

private:
    std::filesystem::path root_;
};

}  // namespace fer

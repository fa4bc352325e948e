// A scratch folder for one test, removed with everything in it when the test ends.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace fer {

class TempDir {
public:
    // The tag only makes the folder recognisable; the process id and a counter make it unique, so
    // parallel ctest processes and several folders in one test never collide.
    explicit TempDir(const std::string& tag = "test") {
        static std::atomic<unsigned> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("fer_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        if (path.empty()) return;
        std::error_code ignored;
        // A test may have made the folder read-only; take that back so it can be removed.
        std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                     ignored);
        std::filesystem::remove_all(path, ignored);
    }
    TempDir(TempDir&& other) noexcept : path(std::move(other.path)) { other.path.clear(); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path / name).string(); }

    std::filesystem::path path;
};

}  // namespace fer

// The main of a fuzz target's replay program: feeds every file under the folders on the command line
// (sorted, so runs are repeatable) to LLVMFuzzerTestOneInput, without libFuzzer. ctest runs it over the
// target's seeds and kept regression inputs, so every crash once found stays fixed in the normal build.
#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "%s: cannot be read\n", path.c_str());
        std::exit(1);
    }
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

#if defined(__SANITIZE_ADDRESS__)
#define FER_REPLAY_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FER_REPLAY_UNDER_ASAN 1
#endif
#endif

// libFuzzer reports an absurd allocation by its -malloc_limit_mb; here the address space is capped, so
// that one becomes std::bad_alloc, which the targets report as a finding, instead of a machine that
// swaps or an out-of-memory kill. AddressSanitizer reserves terabytes of address space for itself, so
// under it the cap is left to ASAN_OPTIONS (tests/fuzz/CMakeLists.txt).
void limit_address_space() {
#ifndef FER_REPLAY_UNDER_ASAN
    constexpr rlim_t cap = rlim_t(8) << 30;
    rlimit limit{};
    if (getrlimit(RLIMIT_AS, &limit) == 0 && (limit.rlim_max == RLIM_INFINITY || limit.rlim_max > cap)) {
        limit.rlim_cur = cap;
        setrlimit(RLIMIT_AS, &limit);
    }
#endif
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FOLDER_OR_FILE...\n", argv[0]);
        return 2;
    }
    limit_address_space();
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path place = argv[i];
        std::error_code error;
        if (fs::is_regular_file(place, error)) {
            inputs.push_back(place);
        } else if (fs::is_directory(place, error)) {
            for (const auto& entry : fs::recursive_directory_iterator(place))
                if (entry.is_regular_file()) inputs.push_back(entry.path());
        } else {
            // A target with no kept crash has no regression folder yet; its seeds still have to exist.
            std::fprintf(stderr, "%s: no such file or folder, skipped\n", place.c_str());
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "no inputs found in the folders given: nothing was checked\n");
        return 1;
    }
    std::sort(inputs.begin(), inputs.end());
    for (const fs::path& input : inputs) {
        // Printed first, so that when an input aborts the process the log names it.
        std::fprintf(stderr, "replaying %s\n", input.c_str());
        const std::vector<std::uint8_t> bytes = read_bytes(input);
        // libFuzzer passes a valid pointer even for an empty input; so does this.
        static const std::uint8_t nothing = 0;
        LLVMFuzzerTestOneInput(bytes.empty() ? &nothing : bytes.data(), bytes.size());
    }
    std::fprintf(stderr, "%zu inputs replayed, no findings\n", inputs.size());
    return 0;
}

// Run options passed explicitly to every forward and backward call (never globals).
#pragma once

#include <cstdint>

namespace fer {

struct RunOptions {
    // OpenMP threads for every kernel; 0 means all the machine's cores.
    int threads = 0;
};

// Resolves RunOptions::threads (0 -> omp_get_max_threads()).
int resolve_threads(const RunOptions& options);

struct Context {
    bool training = false;  // train mode: batch statistics in BatchNorm, dropout active
    int threads = 1;        // resolved thread count, >= 1
    // Training step counter. Dropout derives its mask from (layer seed, step, element), so a
    // resumed run reproduces the masks of an uninterrupted one.
    std::uint64_t step = 0;

    static Context train(const RunOptions& options, std::uint64_t step) {
        return {true, resolve_threads(options), step};
    }
    static Context eval(const RunOptions& options) { return {false, resolve_threads(options), 0}; }
};

}  // namespace fer

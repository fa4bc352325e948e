// Run options passed explicitly to every forward and backward call (never globals).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fer {

struct WinogradWorkspace;

// The arithmetic of inference. bf16: eval-mode stride-1 convolutions multiply bf16-rounded inputs and
// weights with fp32 sums (include/fer/conv_bf16.hpp) where the CPU has AVX-512 BF16, and fp32 elsewhere;
// whether that is faster depends on the CPU (docs/performance.md). Training and every other layer are
// always fp32.
enum class Precision { fp32, bf16 };

// "fp32" / "bf16"; parse_precision throws std::invalid_argument naming the text otherwise.
std::string to_string(Precision precision);
Precision parse_precision(const std::string& text);

struct RunOptions {
    // OpenMP threads for every kernel; 0 means all the machine's cores.
    int threads = 0;
    Precision precision = Precision::fp32;
    // fp32 stride-1 convolutions with 3x3 to 7x7 kernels and at least 16 channels each way, forward, input
    // gradient and weight gradient, by Winograd's minimal filtering (include/fer/conv_winograd.hpp): 1.5-4.5x
    // faster, close to the direct kernels (within 6e-5 of a layer's largest output, 1.3e-4 of its largest
    // weight gradient) rather than their bits. false: the direct and GEMM kernels only.
    bool winograd = true;
};

// Resolves RunOptions::threads (0 -> omp_get_max_threads()).
int resolve_threads(const RunOptions& options);

// Where a forward's time goes, step by step (fer-bench --latency-layers): the outermost Sequence::forward that
// sees one appends each step's wall seconds to seconds[i], i the step's first layer, and sets layers[i] to how
// many layers the step ran (more than one where it fused a BatchNorm or ReLU into a convolution). Both are
// sized to the sequence's layers on the first call.
struct ForwardProfile {
    std::vector<std::vector<double>> seconds;
    std::vector<std::size_t> layers;
};

struct Context {
    bool training = false;  // train mode: batch statistics in BatchNorm, dropout active
    int threads = 1;        // resolved thread count, >= 1
    // Training step counter. Dropout derives its mask from (layer seed, step, element), so a
    // resumed run reproduces the masks of an uninterrupted one.
    std::uint64_t step = 0;
    Precision precision = Precision::fp32;  // eval mode only; training is fp32
    // The owner's promise that the parameters have not changed while this stays the same non-zero value
    // (Network sets it), so layers may keep converted copies of their weights; 0: no promise, convert
    // on every call.
    std::uint64_t weights_version = 0;
    bool winograd = true;               // RunOptions::winograd
    ForwardProfile* profile = nullptr;  // timing of each step of a forward, when set (nested sequences: not)
    // Scratch for the Winograd convolutions that every layer of a pass uses instead of its own, when set
    // (Network sets its own): the buffers one layer leaves in cache are the next one's (gap's batch-1 forward
    // at 1 thread 2-3 % faster on the Zen 5 VM). Every layer writes what it reads of it. One pass at a time.
    WinogradWorkspace* winograd_scratch = nullptr;

    static Context train(const RunOptions& options, std::uint64_t step) {
        return {true, resolve_threads(options), step, Precision::fp32, 0, options.winograd};
    }
    static Context eval(const RunOptions& options) {
        return {false, resolve_threads(options), 0, options.precision, 0, options.winograd};
    }
};

}  // namespace fer

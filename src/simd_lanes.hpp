// One machine vector of floats for the hand-vectorised kernels (GCC vector extension): AVX-512, AVX or SSE as
// the target has. A wider type than the registers would build, but every value would take several registers
// and the kernels' register blocks would spill.
#pragma once

#include <cstddef>
#include <utility>

namespace fer::simd {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kVectorRegisters = 32;
#elif defined(__AVX__)
constexpr int kLanes = 8;
constexpr int kVectorRegisters = 16;
#else
constexpr int kLanes = 4;
constexpr int kVectorRegisters = 16;
#endif
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));

// value in every lane. An initializer of kLanes copies rather than Lanes{} + value, which GCC must compile
// to a scalar add of 0.0 (for the sign of a zero) and a register broadcast, or a loop over the lanes, which
// it compiled to masked broadcasts with AVX-512: this is one broadcast load.
inline Lanes broadcast(float value) {
    return [value]<std::size_t... lane>(std::index_sequence<lane...>) {
        return Lanes{(static_cast<void>(lane), value)...};
    }
    (std::make_index_sequence<kLanes>{});
}

inline float horizontal_sum(const Lanes& lanes) {
    float sum = 0.0f;
    for (int lane = 0; lane < kLanes; ++lane) sum += lanes[lane];
    return sum;
}

}  // namespace fer::simd

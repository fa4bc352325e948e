// One machine vector of floats for the hand-vectorised kernels (GCC vector extension): AVX-512, AVX or SSE as
// the target has. A wider type than the registers would build, but every value would take several registers
// and the kernels' register blocks would spill.
#pragma once

#include <cstddef>
#include <cstring>
#include <type_traits>
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
// As many ints: what comparing two Lanes gives, and max pooling's arg-max indices.
using IntLanes = int __attribute__((vector_size(kLanes * sizeof(int))));

// The element type of Lanes or IntLanes.
template <class Vector>
using LaneType = std::remove_cvref_t<decltype(std::declval<Vector&>()[0])>;

// value in every lane. An initializer of kLanes copies rather than Lanes{} + value, which GCC must compile
// to a scalar add of 0.0 (for the sign of a zero) and a register broadcast, or a loop over the lanes, which
// it compiled to masked broadcasts with AVX-512: this is one broadcast load.
template <class Vector = Lanes>
inline Vector broadcast(LaneType<Vector> value) {
    return [value]<std::size_t... lane>(std::index_sequence<lane...>) {
        return Vector{(static_cast<void>(lane), value)...};
    }
    (std::make_index_sequence<kLanes>{});
}

// One vector from memory of any alignment (GCC compiles the copy to one unaligned load).
inline Lanes load(const float* from) {
    Lanes v;
    std::memcpy(&v, from, sizeof v);
    return v;
}

// v (Lanes or IntLanes) to memory of any alignment.
template <class Vector>
inline void store(void* to, const Vector& v) {
    std::memcpy(to, &v, sizeof v);
}

inline float horizontal_sum(const Lanes& lanes) {
    float sum = 0.0f;
    for (int lane = 0; lane < kLanes; ++lane) sum += lanes[lane];
    return sum;
}

}  // namespace fer::simd

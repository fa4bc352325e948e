// A blocked transpose of 32-bit values, for moving NCHW planes to and from channel-last buffers (the
// Winograd tiles, max pooling's blocks of planes).
#pragma once

#include <cstddef>
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace fer {

// dst[j * dst_stride + i] = src[i * src_stride + j] for i < rows, j < cols: 8 x 8 blocks in registers where
// the target has AVX, one by one at the edges. T is float or int (the registers only move bits).
template <class T>
void transpose(const T* src, std::size_t src_stride, T* dst, std::size_t dst_stride, int rows, int cols) {
    static_assert(sizeof(T) == 4 && std::is_trivially_copyable_v<T>);
    int i0 = 0;
#if defined(__AVX__)
    // The intrinsics' loads and stores may alias any type.
    const float* from = reinterpret_cast<const float*>(src);
    float* to = reinterpret_cast<float*>(dst);
    for (; i0 + 8 <= rows; i0 += 8) {
        int j0 = 0;
        for (; j0 + 8 <= cols; j0 += 8) {
            __m256 r[8], t[8], u[8];
            for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(from + (i0 + i) * src_stride + j0);
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
                u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
                u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
                u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
            }
            for (int j = 0; j < 4; ++j) {
                _mm256_storeu_ps(to + (j0 + j) * dst_stride + i0, _mm256_permute2f128_ps(u[j], u[j + 4], 0x20));
                _mm256_storeu_ps(to + (j0 + j + 4) * dst_stride + i0, _mm256_permute2f128_ps(u[j], u[j + 4], 0x31));
            }
        }
        for (; j0 < cols; ++j0)
            for (int i = i0; i < i0 + 8; ++i) dst[j0 * dst_stride + i] = src[i * src_stride + j0];
    }
#endif
    for (; i0 < rows; ++i0)
        for (int j = 0; j < cols; ++j) dst[j * dst_stride + i0] = src[i0 * src_stride + j];
}

}  // namespace fer

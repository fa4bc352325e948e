// Winograd convolution: F(m x m, r x r) computes an m x m tile of a stride-1 r x r convolution
// from an n x n tile of its input (n = m + r - 1) with n^2 multiplications per channel pair instead of
// m^2 r^2, by transforming the input tile (B^T d B), the kernel (G g G^T) and the element-wise products back
// (A^T . A). Over the channels the element-wise products are n^2 independent matrix products, (tiles, C) x
// (C, OC), which is where the time goes.
//
// The transforms come from polynomial interpolation (Cook-Toom) at the points 0, 1, -1, 2, -2, 1/2, -1/2 (and
// 5/4, -5/4 for the 7x7 kernels' n = 10) and infinity, computed at compile time. They trade multiplications
// for rounding: the result is the convolution within a few units in the last place times a factor that
// grows with n (tested against the reference: up to 7e-6 of the largest output for n <= 8, 6e-5 for n = 10),
// not the direct kernel's bits. Conv2D runs its forwards (inference and training), its input gradient and its
// weight gradient on it where winograd_tile applies and RunOptions::winograd allows.
//
// Layout: in is (N,C,H,W), weight (OC,C,R,R), out (N,OC,OH,OW); the intermediate tiles are channel-last, so
// the transforms run on vectors of channels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "fer/channel_epilogue.hpp"
#include "fer/conv_kernels.hpp"

namespace fer {

// The three 1-D transforms of F(m, r), row-major, in double: at is (m, n), g is (n, r), bt is (n, n). For
// d of length n and a kernel k of length r, at * ((g k) . (bt d)) is the correlation y[i] = sum_j d[i+j] k[j].
struct WinogradTransform {
    int m = 0, r = 0, n = 0;
    std::vector<double> at, g, bt;
};
// The (m, r) pairs the kernel is built for; winograd_transform throws std::invalid_argument for others.
std::vector<std::pair<int, int>> winograd_tile_sizes();
// The tile sizes m built for kernel size r (empty for none).
std::vector<int> winograd_tiles_for(int r);
WinogradTransform winograd_transform(int m, int r);

// The output tile m the kernel would use for g: stride 1, a square 3x3, 4x4, 5x5 or 7x7 kernel, at least 16
// input and output channels and 4 tiles over the batch; 0 where it does not apply or measured no faster
// (docs/performance.md).
int winograd_tile(const ConvGeometry& g);

// The transformed kernel: (n*n, channels, OCp) with OCp = outputs rounded up to the vector width (zero past
// outputs), for a convolution of `channels` inputs and `outputs` outputs.
struct WinogradWeights {
    int m = 0, channels = 0, outputs = 0;
    std::vector<float> u;
    // weight is (OC,C,R,R); m must be one of the tiles built for R (winograd_tile(g) when non-zero). Packs on
    // `threads` threads where the kernel is large enough to gain from them; the result does not depend on it.
    void pack(const ConvGeometry& g, int tile, const float* weight, int threads = 1);
    // The weights of g's stride-1 input gradient as a convolution of dout, input_gradient_geometry(g): weight
    // flipped in both directions with its channels swapped, (C,OC,R,R), for a tile built for R.
    void pack_input_gradient(const ConvGeometry& g, int tile, const float* weight, int threads = 1);
};

// Scratch, per thread: the channel-last padded input, the transformed input tiles, their products and the
// channel-last output. Only grows, so a forward at a batch size seen before allocates nothing.
struct WinogradWorkspace {
    std::vector<std::vector<float>> padded, transformed, products, staged;
    std::vector<std::vector<float>> sums;  // the weight gradient's per-thread sums
};

// in (N,C,H,W), weights packed for g, bias (OC) or null -> out (N,OC,OH,OW): assigned, then passed through
// epilogue when one is given (per channel plane, with ChannelEpilogue::apply). The arithmetic is in a fixed
// order, so the result is bit-identical from run to run for any thread count. Throws std::logic_error when
// weights were not packed for g.
void conv2d_forward_winograd(const ConvGeometry& g, const float* in, const WinogradWeights& weights, const float* bias,
                             float* out, int threads, WinogradWorkspace& workspace,
                             const ChannelEpilogue* epilogue = nullptr);

// The weight gradient on the tiles of the forward's F(m x m, r x r), m = tile (winograd_tile(g) when non-zero):
// each m x m tile of dout against the n x n input patch under it is an F(r x r, m x m) correlation, whose
// input transform is the forward's (the same n points); the sum over every tile of the batch is n^2 products
// (OC, tiles) x (tiles, C), and A^T . A runs once per weight at the end. in (N,C,H,W), dout (N,OC,OH,OW) ->
// dweight (OC,C,R,R) and dbias (OC, may be null): ACCUMULATED. Each thread sums whole blocks of samples and
// the threads' sums are added in thread order: bit-identical from run to run for a fixed thread count (not
// across thread counts). Throws std::logic_error for a stride or kernel it does not take, and
// std::invalid_argument for a tile not built for R.
void conv2d_backward_weights_winograd(const ConvGeometry& g, int tile, const float* in, const float* dout,
                                      float* dweight, float* dbias, int threads, WinogradWorkspace& workspace);

}  // namespace fer

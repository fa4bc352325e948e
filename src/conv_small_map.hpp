// The small-map convolution kernel (stride 1, output maps up to 12 wide): vectorised over output channels
// instead of output columns, for the layers whose rows are shorter than a vector. Internal to the library;
// conv2d_forward dispatches to it.
#pragma once

#include <cstdint>

#include "fer/conv_kernels.hpp"

namespace fer {

// weight is (OC,C,KH,KW); packed is (ceil(OC/B), C, KH, KW, B) for B = block: a block's weights for one tap
// side by side, zero for channels past OC. The layout of both the direct and the small-map kernel.
void pack_output_channel_blocks(const ConvGeometry& g, int block, const float* weight, float* packed);

// conv2d_forward's contract, for a g where use_small_map holds (declared in fer/conv_kernels.hpp).
void small_map_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                       int threads, ConvWorkspace& workspace, const ChannelEpilogue* epilogue,
                       std::uint64_t weights_version);

}  // namespace fer

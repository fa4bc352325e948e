// bf16 inference convolution: the input and the weights rounded to bfloat16 (fp32's exponent, 8 bits of
// mantissa), the products summed in fp32 by AVX-512 BF16's dot-product instruction, which does two
// multiply-adds per lane where an FMA does one (at the FMA's rate on some CPUs, slower on others:
// docs/performance.md). Used only by eval-mode forwards that ask for it (RunOptions::precision);
// training, gradients and the fp32 path are untouched.
//
// The reduction runs over pairs of input channels: the input is stored as 32-bit pairs (channel 2i in the
// low half, 2i+1 in the high half) per pixel, and the weights as, per tap and channel pair, one vector of
// 16 output channels x 2. Each output position broadcasts its input pair at a tap into one instruction
// that updates 16 output channels; an odd channel count pairs the last channel with zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fer/channel_epilogue.hpp"
#include "fer/conv_kernels.hpp"

namespace fer {

// The build has AVX-512 BF16 (-march=native on such a CPU) and the CPU running it has it too.
bool bf16_supported();
// The geometries the bf16 kernel handles: stride 1 (others stay on the fp32 kernels).
bool bf16_conv_applies(const ConvGeometry& g);

// Round to nearest, ties to even, as the hardware's conversion does; NaN stays NaN. Denormals flush to
// a signed zero (the hardware conversion treats them as zero).
std::uint16_t to_bf16(float value);
float from_bf16(std::uint16_t bits);

// Weights regrouped for the kernel: (ceil(OC/16), ceil(C/2), KH*KW, 16, 2) bf16, zero past OC and C.
struct Bf16ConvWeights {
    std::vector<std::uint16_t> packed;
    void pack(const ConvGeometry& g, const float* weight);  // weight is (OC,C,KH,KW)
};

// The kernel's scratch: the input as zero-padded bf16 pairs and the output-position offset table. Only
// grows; prepared outside any parallel region.
struct Bf16ConvWorkspace {
    std::vector<std::uint32_t> pairs;
    std::vector<int> offsets;
};

// in is (N,C,H,W), weight (OC,C,KH,KW), bias (OC) or null -> out (N,OC,OH,OW): assigned as the sum in
// double of bf16(in) * bf16(weight), plus bias, then passed through epilogue when one is given.
void conv2d_forward_bf16_reference(const ConvGeometry& g, const float* in, const float* weight, const float* bias,
                                   float* out, const ChannelEpilogue* epilogue = nullptr);

// The fast kernel (bf16_supported() and bf16_conv_applies(g) required; throws std::logic_error otherwise):
// same contract as the reference with fp32 accumulation in a fixed order, so bit-identical from run to
// run for any thread count. weights must have been packed for g's shape.
void conv2d_forward_bf16(const ConvGeometry& g, const float* in, const Bf16ConvWeights& weights, const float* bias,
                         float* out, int threads, Bf16ConvWorkspace& workspace,
                         const ChannelEpilogue* epilogue = nullptr);

}  // namespace fer

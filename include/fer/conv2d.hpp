// Conv2D: 2-D convolution with TensorFlow/Keras 'same'/'valid' padding, weight (OC,C,KH,KW), optional bias.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fer/conv_bf16.hpp"
#include "fer/conv_kernels.hpp"
#include "fer/conv_winograd.hpp"
#include "fer/layer.hpp"
#include "fer/padding.hpp"

namespace fer {

struct Conv2DSpec {
    int filters = 0;
    int kernel_h = 3, kernel_w = 3;
    int stride_h = 1, stride_w = 1;
    Padding padding = Padding::same;
    bool bias = true;
};

class Conv2D final : public Layer {
public:
    explicit Conv2D(Conv2DSpec spec);  // throws std::invalid_argument naming "conv2d" for a bad spec
    const Conv2DSpec& spec() const { return spec_; }

    std::string kind() const override { return "conv2d"; }
    // filters, kernel, stride, padding, bias; kernel and stride read "5" when square, "4x3" (HxW) otherwise.
    LayerConfig config() const override;

    Shape setup(const Shape& in) override;
    std::vector<ParamBlock> param_blocks() const override;
    void bind(float* params, float* grads, float* state) override;
    // Glorot uniform (the Keras default): limit sqrt(6 / (fan_in + fan_out)); bias zero.
    void init(Rng& rng) override;

    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    // An inference forward with the following BatchNorm and/or ReLU applied to each output tile as it is
    // computed (Sequence fuses them in eval mode); the same bits as running those layers after forward.
    // Both run on the bf16 kernel when ctx asks for bf16 in eval mode and it applies (stride 1, a CPU
    // with AVX-512 BF16), otherwise on the Winograd kernel where it applies and ctx allows it (winograd_tile):
    // in eval mode keeping the converted weights while a non-zero ctx.weights_version stays the same, in
    // training converting them on every call.
    void forward_fused(const Tensor& in, Tensor& out, const Context& ctx, const ChannelEpilogue& epilogue);
    // Both gradients by Winograd's kernels too where ctx allows it: din where they apply to the flipped
    // convolution (input_gradient_geometry), the weight gradient where they apply to the layer (winograd_tile).
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;

    std::uint64_t macs() const override;

private:
    ConvGeometry geometry(int batch) const;
    void check_ready(const Tensor& in, const char* pass) const;
    bool runs_bf16(const ConvGeometry& g, const Context& ctx) const;
    int winograd_tile_for(const ConvGeometry& g, const Context& ctx) const;
    // The forward on the bf16 or the Winograd kernel when one applies; false: it did not run.
    bool forward_converted(const ConvGeometry& g, const Tensor& in, Tensor& out, const Context& ctx,
                           const ChannelEpilogue* epilogue);
    void forward_bf16(const ConvGeometry& g, const Tensor& in, Tensor& out, const Context& ctx,
                      const ChannelEpilogue* epilogue);
    // The pass's shared Winograd scratch (Context::winograd_scratch), or this layer's own.
    WinogradWorkspace& winograd_workspace(const Context& ctx) {
        return ctx.winograd_scratch ? *ctx.winograd_scratch : winograd_workspace_;
    }

    Conv2DSpec spec_;
    int pad_top_ = 0, pad_left_ = 0;
    float* weight_ = nullptr;
    float* bias_ = nullptr;
    float* weight_grad_ = nullptr;
    float* bias_grad_ = nullptr;
    ConvWorkspace workspace_;
    Bf16ConvWeights bf16_weights_;
    std::uint64_t bf16_weights_version_ = 0;  // the weights_version they were converted at; 0: stale
    Bf16ConvWorkspace bf16_workspace_;
    WinogradWeights winograd_weights_;
    const float* winograd_source_ = nullptr;           // the weight they were transformed from
    std::uint64_t winograd_weights_version_ = 0;       // and its weights_version; 0: stale
    WinogradWeights winograd_input_gradient_weights_;  // transformed on every backward
    WinogradWorkspace winograd_workspace_;             // without a shared one
};

}  // namespace fer

// Fully connected layer on flat (F,1,1) inputs, and Flatten, which makes such inputs.
#pragma once

#include <string>
#include <vector>

#include "fer/channel_epilogue.hpp"
#include "fer/layer.hpp"

namespace fer {

// out = in * W^T + b, in is (N,F,1,1), W is (units,F) row-major, out is (N,units,1,1).
class Dense final : public Layer {
public:
    explicit Dense(int units, bool bias = true);

    std::string kind() const override { return "dense"; }
    LayerConfig config() const override;  // units, bias ("true" / "false")

    Shape setup(const Shape& in) override;
    // "weight" (units x F, row-major, decay) then "bias" (units, no decay) when enabled.
    std::vector<ParamBlock> param_blocks() const override;
    void bind(float* params, float* grads, float* state) override;
    // Glorot uniform weights, limit sqrt(6 / (F + units)); zero bias.
    void init(Rng& rng) override;

    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    // An inference forward with the following BatchNorm and/or ReLU applied to each thread's block of
    // outputs as soon as it is computed (Sequence fuses them in eval mode); the same bits as running those
    // layers after forward.
    void forward_fused(const Tensor& in, Tensor& out, const Context& ctx, const ChannelEpilogue& epilogue);
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
    std::uint64_t macs() const override { return std::uint64_t(units_) * std::uint64_t(features_); }

    int units() const { return units_; }
    bool has_bias() const { return has_bias_; }

private:
    void forward_with(const Tensor& in, Tensor& out, const Context& ctx, const ChannelEpilogue* epilogue);

    int units_;
    bool has_bias_;
    int features_ = 0;
    float* weight_ = nullptr;
    float* bias_ = nullptr;
    float* weight_grad_ = nullptr;
    float* bias_grad_ = nullptr;
};

// (C,H,W) -> (C*H*W,1,1) keeping the NCHW memory order: index (c*H + h)*W + w.
class Flatten final : public Layer {
public:
    std::string kind() const override { return "flatten"; }
    Shape setup(const Shape& in) override;
    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
};

}  // namespace fer

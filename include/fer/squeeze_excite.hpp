// Squeeze-and-excitation (Hu et al. 2018): rescales each channel by a gate computed from the
// channel means. For in (C,H,W) with Hd = max(1, C / reduction):
//   s = mean over H,W of x (C);  z = relu(W1 s + b1), W1 (Hd,C);  e = sigmoid(W2 z + b2), W2 (C,Hd);
//   out = x * e, per channel.
#pragma once

#include <string>
#include <vector>

#include "fer/layer.hpp"

namespace fer {

class SqueezeExcite final : public Layer {
public:
    explicit SqueezeExcite(int reduction = 16);

    std::string kind() const override { return "squeeze_excite"; }
    LayerConfig config() const override;  // reduction

    Shape setup(const Shape& in) override;
    // "w1" (Hd x C, decay), "b1" (Hd), "w2" (C x Hd, decay), "b2" (C).
    std::vector<ParamBlock> param_blocks() const override;
    void bind(float* params, float* grads, float* state) override;
    // Glorot uniform weights, zero biases.
    void init(Rng& rng) override;

    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
    std::uint64_t macs() const override;

    int reduction() const { return reduction_; }
    int hidden() const { return hidden_; }

private:
    int reduction_;
    int channels_ = 0, hidden_ = 0, spatial_ = 0;
    float *w1_ = nullptr, *b1_ = nullptr, *w2_ = nullptr, *b2_ = nullptr;
    float *w1_grad_ = nullptr, *b1_grad_ = nullptr, *w2_grad_ = nullptr, *b2_grad_ = nullptr;
    // Training caches, one row per sample: squeeze s (N,C), hidden z (N,Hd), gate e (N,C).
    std::vector<float> squeeze_, hidden_act_, gate_;
    // Backward scratch, (N,C) and (N,Hd).
    std::vector<float> gate_grad_, hidden_grad_, squeeze_grad_;
};

}  // namespace fer

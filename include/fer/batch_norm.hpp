// Batch normalisation over the channel axis, Keras convention for the running statistics.
//
// Statistics are per channel over N*H*W, so the one layer serves as BatchNorm2D on (C,H,W) and as
// BatchNorm1D on (F,1,1).
#pragma once

#include <string>
#include <vector>

#include "fer/layer.hpp"

namespace fer {

class BatchNorm final : public Layer {
public:
    // running = m * running + (1 - m) * batch statistic, with m = min(momentum, t / (t + 1)) at
    // training step t (ctx.step): a cumulative mean over the first steps, then Keras' exponential one.
    explicit BatchNorm(float momentum = 0.99f, float epsilon = 1e-3f);

    std::string kind() const override { return "batchnorm"; }
    LayerConfig config() const override;

    Shape setup(const Shape& in) override;
    // "gamma" (C) then "beta" (C), no decay.
    std::vector<ParamBlock> param_blocks() const override;
    // Running mean (C) then running variance (C).
    std::size_t state_size() const override { return 2 * std::size_t(channels_); }
    void bind(float* params, float* grads, float* state) override;
    void init(Rng& rng) override;

    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
    // One multiply-add per element (eval folds the statistics into a scale and a shift).
    std::uint64_t macs() const override { return input_shape_.sample_size(); }

    // The eval form y = x * scale + shift, one pair per channel (C each) from the running statistics:
    // what an eval forward applies, and what a convolution fused with this layer applies instead.
    void eval_affine(float* scale, float* shift) const;
    int channels() const { return channels_; }

    float momentum() const { return momentum_; }
    float epsilon() const { return epsilon_; }

private:
    void forward_training(const Tensor& in, Tensor& out, const Context& ctx);
    void forward_eval(const Tensor& in, Tensor& out, const Context& ctx);

    float momentum_, epsilon_;
    int channels_ = 0;
    float* gamma_ = nullptr;
    float* beta_ = nullptr;
    float* gamma_grad_ = nullptr;
    float* beta_grad_ = nullptr;
    float* running_mean_ = nullptr;
    float* running_var_ = nullptr;
    // Training caches for backward: the input shape, the batch mean and 1/sqrt(batch var + eps) per channel
    // (backward normalises the input again rather than reading a stored copy: one pass over memory fewer).
    Shape trained_shape_;
    std::vector<float> mean_, inv_std_;
    std::vector<float> eval_scale_, eval_shift_;  // eval_affine's output, kept to avoid allocating
};

}  // namespace fer

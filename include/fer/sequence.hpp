// Sequence: layers run one after another. The Network is a Sequence plus its buffers; residual
// blocks hold two. A Sequence is itself no Layer: it keeps every intermediate activation (the
// caches backward needs) and ping-pong gradient buffers, so nothing is allocated once the batch
// size is steady.
#pragma once

#include <cstddef>
#include <vector>

#include "fer/layer.hpp"

namespace fer {

class Sequence {
public:
    Sequence() = default;
    Sequence(Sequence&&) noexcept = default;
    Sequence& operator=(Sequence&&) noexcept = default;

    void add(LayerPtr layer);
    bool empty() const { return layers_.empty(); }
    std::size_t size() const { return layers_.size(); }
    Layer& layer(std::size_t i) { return *layers_[i]; }
    const Layer& layer(std::size_t i) const { return *layers_[i]; }

    // Sets up every layer in turn; returns the per-sample output shape (the input shape when empty).
    // Errors are rethrown with the failing layer's index and kind.
    Shape setup(const Shape& in);
    std::size_t param_size() const;
    std::size_t state_size() const;
    // Hands each layer its consecutive slices of the three buffers.
    void bind(float* params, float* grads, float* state);
    void init(Rng& rng);

    // Runs all layers; returns the last activation (in itself when empty). With stop_before = k,
    // runs only the first size()-k layers (used to get logits before a final softmax). In eval mode a
    // Conv2D or Dense followed by a BatchNorm, a ReLU or both runs as one fused layer (forward_fused): the
    // same bits, one pass over memory fewer per fused layer; the fused layers' own activations are then
    // not written, and backward refuses to run; so for a layer that passes its input through (an eval
    // dropout). With ctx.profile set, each step's time is recorded there.
    const Tensor& forward(const Tensor& in, const Context& ctx, std::size_t stop_before = 0);
    // dout is dL/d(output of the layers that forward ran). din (may be null) is assigned dL/din.
    void backward(const Tensor& in, const Tensor& dout, Tensor* din, const Context& ctx);

    std::uint64_t macs() const;

private:
    // Eval forward of layer i fused with the BatchNorm and/or ReLU after it: returns how many layers it
    // ran (0 when layer i is no Conv2D or Dense with such a follower), writing the last one's activation.
    std::size_t forward_fused(std::size_t i, const Tensor& in, const Context& ctx);

    std::vector<LayerPtr> layers_;
    std::vector<Tensor> activations_;  // activations_[i] is layer i's output
    Tensor grad_a_, grad_b_;
    std::size_t ran_ = 0;  // layers run by the last forward
    bool fused_ = false;   // whether the last forward fused layers (so some activations are stale)
    std::vector<float> fused_scale_, fused_shift_;  // a fused BatchNorm's eval_affine
};

}  // namespace fer

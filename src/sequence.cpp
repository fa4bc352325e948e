#include "fer/sequence.hpp"

#include <chrono>
#include <stdexcept>

#include "fer/activations.hpp"
#include "fer/batch_norm.hpp"
#include "fer/conv2d.hpp"
#include "fer/dense.hpp"

namespace fer {

void Sequence::add(LayerPtr layer) {
    if (!layer) throw std::invalid_argument("Sequence::add: null layer");
    layers_.push_back(std::move(layer));
    activations_.emplace_back();
}

Shape Sequence::setup(const Shape& in) {
    Shape shape = in;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        try {
            shape = layers_[i]->setup(shape);
        } catch (const std::exception& e) {
            throw std::invalid_argument("layer " + std::to_string(i) + " (" + layers_[i]->kind() + "): " + e.what());
        }
    }
    return shape;
}

std::size_t Sequence::param_size() const {
    std::size_t total = 0;
    for (const auto& layer : layers_) total += layer->param_size();
    return total;
}

std::size_t Sequence::state_size() const {
    std::size_t total = 0;
    for (const auto& layer : layers_) total += layer->state_size();
    return total;
}

void Sequence::bind(float* params, float* grads, float* state) {
    for (auto& layer : layers_) {
        layer->bind(params, grads, state);
        params += layer->param_size();
        grads += layer->param_size();
        state += layer->state_size();
    }
}

void Sequence::init(Rng& rng) {
    for (auto& layer : layers_) layer->init(rng);
}

const Tensor& Sequence::forward(const Tensor& in, const Context& outer, std::size_t stop_before) {
    if (stop_before > layers_.size()) throw std::invalid_argument("Sequence::forward: stop_before too large");
    ran_ = layers_.size() - stop_before;
    fused_ = false;
    // The layers run without the profile: a residual block's own sequences would record into it too.
    ForwardProfile* profile = outer.profile;
    Context ctx = outer;
    ctx.profile = nullptr;
    if (profile) {
        profile->seconds.resize(layers_.size());
        profile->layers.resize(layers_.size());
    }
    const Tensor* x = &in;
    for (std::size_t i = 0; i < ran_; ++i) {
        const auto start = profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        const std::size_t first = i;
        bool fused = false;
        if (!ctx.training)
            if (const std::size_t count = forward_fused(i, *x, ctx)) {
                i += count - 1;
                x = &activations_[i];
                fused_ = fused = true;
            }
        if (!fused && layers_[i]->passes_through(ctx)) {
            fused_ = true;  // activations_[i] is stale, as for a fused layer
        } else if (!fused) {
            layers_[i]->forward(*x, activations_[i], ctx);
            x = &activations_[i];
        }
        if (profile) {
            profile->seconds[first].push_back(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            profile->layers[first] = i - first + 1;
        }
    }
    return *x;
}

std::size_t Sequence::forward_fused(std::size_t i, const Tensor& in, const Context& ctx) {
    auto* conv = dynamic_cast<Conv2D*>(layers_[i].get());
    auto* dense = dynamic_cast<Dense*>(layers_[i].get());
    if (!conv && !dense) return 0;
    std::size_t next = i + 1;
    ChannelEpilogue epilogue;
    if (next < ran_)
        if (const auto* batch_norm = dynamic_cast<const BatchNorm*>(layers_[next].get())) {
            fused_scale_.resize(std::size_t(batch_norm->channels()));
            fused_shift_.resize(std::size_t(batch_norm->channels()));
            batch_norm->eval_affine(fused_scale_.data(), fused_shift_.data());
            epilogue.scale = fused_scale_.data();
            epilogue.shift = fused_shift_.data();
            ++next;
        }
    if (next < ran_ && dynamic_cast<const ReLU*>(layers_[next].get())) {
        epilogue.relu = true;
        ++next;
    }
    if (next == i + 1) return 0;
    if (conv)
        conv->forward_fused(in, activations_[next - 1], ctx, epilogue);
    else
        dense->forward_fused(in, activations_[next - 1], ctx, epilogue);
    return next - i;
}

void Sequence::backward(const Tensor& in, const Tensor& dout, Tensor* din, const Context& ctx) {
    if (fused_)
        throw std::logic_error(
            "Sequence::backward: the last forward was an inference forward with fused layers, "
            "whose intermediate activations backward would need were never written");
    if (ran_ == 0) {
        if (din) *din = dout;
        return;
    }
    const Tensor* upstream = &dout;
    for (std::size_t i = ran_; i-- > 0;) {
        const Tensor& layer_in = i == 0 ? in : activations_[i - 1];
        Tensor* target = i == 0 ? din : (upstream == &grad_a_ ? &grad_b_ : &grad_a_);
        layers_[i]->backward(layer_in, activations_[i], *upstream, target, ctx);
        upstream = target;
    }
}

std::uint64_t Sequence::macs() const {
    std::uint64_t total = 0;
    for (const auto& layer : layers_) total += layer->macs();
    return total;
}

}  // namespace fer

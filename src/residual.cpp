#include "fer/residual.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>

#include "config_text.hpp"

namespace fer {

namespace {

std::string per_sample_text(const Shape& s) {
    return "(" + std::to_string(s.c) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + ")";
}

void append_blocks(const Sequence& sequence, const std::string& prefix, std::vector<ParamBlock>& blocks) {
    for (std::size_t i = 0; i < sequence.size(); ++i)
        for (auto block : sequence.layer(i).param_blocks()) {
            block.name = prefix + "." + std::to_string(i) + "." + block.name;
            blocks.push_back(std::move(block));
        }
}

}  // namespace

Residual::Residual(Sequence body, Sequence shortcut, bool relu_after)
    : body_(std::move(body)), shortcut_(std::move(shortcut)), relu_after_(relu_after) {}

LayerConfig Residual::config() const {
    return {{"relu", config_text::flag(relu_after_)}};
}

Shape Residual::setup(const Shape& in) {
    Shape sample = in.with_batch(0);
    Shape body_out, shortcut_out;
    try {
        body_out = body_.setup(sample);
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("residual body: ") + e.what());
    }
    try {
        shortcut_out = shortcut_.setup(sample);
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("residual shortcut: ") + e.what());
    }
    if (!(body_out.with_batch(0) == shortcut_out.with_batch(0)))
        throw std::invalid_argument("residual: body output " + per_sample_text(body_out) +
                                    " does not match shortcut output " + per_sample_text(shortcut_out));
    input_shape_ = sample;
    output_shape_ = body_out.with_batch(0);
    return output_shape_;
}

std::vector<ParamBlock> Residual::param_blocks() const {
    std::vector<ParamBlock> blocks;
    append_blocks(body_, "body", blocks);
    append_blocks(shortcut_, "shortcut", blocks);
    return blocks;
}

std::size_t Residual::state_size() const {
    return body_.state_size() + shortcut_.state_size();
}

void Residual::bind(float* params, float* grads, float* state) {
    body_.bind(params, grads, state);
    shortcut_.bind(params + body_.param_size(), grads + body_.param_size(), state + body_.state_size());
}

void Residual::init(Rng& rng) {
    body_.init(rng);
    shortcut_.init(rng);
}

// in is (N, in shape), out is (N, out shape) = [relu](body(in) + shortcut(in)).
void Residual::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "residual input");
    const Tensor& body_out = body_.forward(in, ctx);
    const Tensor& shortcut_out = shortcut_.forward(in, ctx);  // `in` itself when the shortcut is empty
    out.resize(body_out.shape());
    const float* a = body_out.data();
    const float* b = shortcut_out.data();
    float* y = out.data();
    const std::ptrdiff_t size = std::ptrdiff_t(out.size());
    if (relu_after_) {
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < size; ++i) y[i] = std::max(a[i] + b[i], 0.0f);
    } else {
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < size; ++i) y[i] = a[i] + b[i];
    }
}

// dout is (N, out shape). Both branches receive dL/d(sum); din = body's din + shortcut's din.
void Residual::backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) {
    check_same_shape(dout.shape(), out.shape(), "residual backward: dout vs output");
    const Tensor* sum_grad = &dout;
    if (relu_after_) {
        sum_grad_.resize(dout.shape());
        const float* y = out.data();
        const float* dy = dout.data();
        float* ds = sum_grad_.data();
        const std::ptrdiff_t size = std::ptrdiff_t(dout.size());
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < size; ++i) ds[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        sum_grad = &sum_grad_;
    }

    body_.backward(in, *sum_grad, din, ctx);
    if (shortcut_.empty()) {
        if (!din) return;
        const float* ds = sum_grad->data();
        float* dx = din->data();
        const std::ptrdiff_t size = std::ptrdiff_t(din->size());
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < size; ++i) dx[i] += ds[i];
        return;
    }
    shortcut_.backward(in, *sum_grad, din ? &shortcut_grad_ : nullptr, ctx);
    if (!din) return;
    const float* dshort = shortcut_grad_.data();
    float* dx = din->data();
    const std::ptrdiff_t size = std::ptrdiff_t(din->size());
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static)
    for (std::ptrdiff_t i = 0; i < size; ++i) dx[i] += dshort[i];
}

std::vector<const Layer*> Residual::children() const {
    std::vector<const Layer*> layers;
    for (std::size_t i = 0; i < body_.size(); ++i) layers.push_back(&body_.layer(i));
    for (std::size_t i = 0; i < shortcut_.size(); ++i) layers.push_back(&shortcut_.layer(i));
    return layers;
}

std::uint64_t Residual::macs() const {
    return body_.macs() + shortcut_.macs();
}

}  // namespace fer

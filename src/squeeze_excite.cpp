#include "fer/squeeze_excite.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "eigen_maps.hpp"

namespace fer {

using namespace eigen;  // the matrix maps

namespace {

// Stable for any x: exp only ever sees a non-positive argument.
inline float stable_sigmoid(float x) {
    float e = std::exp(-std::abs(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

void glorot_uniform(float* weight, int fan_out, int fan_in, Rng& rng) {
    const float limit = std::sqrt(6.0f / float(fan_in + fan_out));
    for (std::size_t i = 0; i < std::size_t(fan_out) * std::size_t(fan_in); ++i) weight[i] = rng.uniform(-limit, limit);
}

}  // namespace

SqueezeExcite::SqueezeExcite(int reduction) : reduction_(reduction) {
    if (reduction <= 0)
        throw std::invalid_argument("squeeze_excite: reduction must be positive, got " + std::to_string(reduction));
}

LayerConfig SqueezeExcite::config() const {
    return {{"reduction", std::to_string(reduction_)}};
}

Shape SqueezeExcite::setup(const Shape& in) {
    if (in.c <= 0 || in.h <= 0 || in.w <= 0)
        throw std::invalid_argument("squeeze_excite: empty input shape " + in.str());
    // H*W is kept in an int; a model file may declare 65536x65536 (found by fuzzing).
    if (std::int64_t(in.h) * in.w > std::numeric_limits<int>::max())
        throw std::invalid_argument("squeeze_excite: input " + in.str() +
                                    " has more than 2^31-1 positions per channel");
    channels_ = in.c;
    hidden_ = std::max(1, in.c / reduction_);
    spatial_ = in.h * in.w;
    input_shape_ = output_shape_ = {0, in.c, in.h, in.w};
    return output_shape_;
}

std::vector<ParamBlock> SqueezeExcite::param_blocks() const {
    const std::size_t weights = std::size_t(hidden_) * std::size_t(channels_);
    return {{"w1", weights, true},
            {"b1", std::size_t(hidden_), false},
            {"w2", weights, true},
            {"b2", std::size_t(channels_), false}};
}

void SqueezeExcite::bind(float* params, float* grads, float* /*state*/) {
    const std::size_t weights = std::size_t(hidden_) * std::size_t(channels_);
    w1_ = params;
    b1_ = w1_ + weights;
    w2_ = b1_ + hidden_;
    b2_ = w2_ + weights;
    w1_grad_ = grads;
    b1_grad_ = w1_grad_ + weights;
    w2_grad_ = b1_grad_ + hidden_;
    b2_grad_ = w2_grad_ + weights;
}

void SqueezeExcite::init(Rng& rng) {
    glorot_uniform(w1_, hidden_, channels_, rng);
    std::fill(b1_, b1_ + hidden_, 0.0f);
    glorot_uniform(w2_, channels_, hidden_, rng);
    std::fill(b2_, b2_ + channels_, 0.0f);
}

std::uint64_t SqueezeExcite::macs() const {
    // The squeeze and the rescale touch every element once; the two small products add 2*C*Hd.
    return 2 * input_shape_.sample_size() + 2 * std::uint64_t(channels_) * std::uint64_t(hidden_);
}

// in, out are (N,C,H,W); s, e are (N,C), z is (N,Hd). The tiny excitation products run on one
// thread over the whole batch; the squeeze and the rescale are split over samples.
void SqueezeExcite::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "squeeze_excite input");
    const int batch = in.shape().n;
    out.resize(in.shape());
    squeeze_.resize(std::size_t(batch) * channels_);
    hidden_act_.resize(std::size_t(batch) * hidden_);
    gate_.resize(std::size_t(batch) * channels_);
    const float inv_spatial = 1.0f / float(spatial_);

#pragma omp parallel for num_threads(ctx.threads) schedule(static)
    for (int n = 0; n < batch; ++n) {
        const float* x = in.sample(n);
        for (int c = 0; c < channels_; ++c) {
            const float* xc = x + std::size_t(c) * spatial_;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int i = 0; i < spatial_; ++i) sum += xc[i];
            squeeze_[std::size_t(n) * channels_ + c] = sum * inv_spatial;
        }
    }

    ConstMatrixMap w1(w1_, hidden_, channels_), w2(w2_, channels_, hidden_);
    ConstMatrixMap s(squeeze_.data(), batch, channels_);
    MatrixMap z(hidden_act_.data(), batch, hidden_), e(gate_.data(), batch, channels_);
    z.noalias() = s * w1.transpose();
    z.rowwise() += ConstRowVectorMap(b1_, hidden_);
    z = z.cwiseMax(0.0f);
    e.noalias() = z * w2.transpose();
    e.rowwise() += ConstRowVectorMap(b2_, channels_);
    for (float& value : gate_) value = stable_sigmoid(value);

#pragma omp parallel for num_threads(ctx.threads) schedule(static)
    for (int n = 0; n < batch; ++n) {
        const float* x = in.sample(n);
        float* y = out.sample(n);
        for (int c = 0; c < channels_; ++c) {
            const float scale = gate_[std::size_t(n) * channels_ + c];
            const float* xc = x + std::size_t(c) * spatial_;
            float* yc = y + std::size_t(c) * spatial_;
#pragma omp simd
            for (int i = 0; i < spatial_; ++i) yc[i] = xc[i] * scale;
        }
    }
}

// dout, in, din are (N,C,H,W). With de = sum_hw dout * x:
//   da2 = de * e (1 - e); dW2 += da2^T z; db2 += sum_n da2; dz = da2 W2; da1 = dz * [z > 0];
//   dW1 += da1^T s; db1 += sum_n da1; ds = da1 W1; din = dout * e + ds / (H*W).
void SqueezeExcite::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din,
                             const Context& ctx) {
    check_same_shape(dout.shape(), in.shape(), "squeeze_excite backward: dout vs input");
    const int batch = in.shape().n;
    if (squeeze_.size() != std::size_t(batch) * channels_)
        throw std::runtime_error("squeeze_excite backward: batch differs from the last training forward");
    gate_grad_.resize(std::size_t(batch) * channels_);
    hidden_grad_.resize(std::size_t(batch) * hidden_);
    squeeze_grad_.resize(std::size_t(batch) * channels_);

#pragma omp parallel for num_threads(ctx.threads) schedule(static)
    for (int n = 0; n < batch; ++n) {
        const float* x = in.sample(n);
        const float* dy = dout.sample(n);
        for (int c = 0; c < channels_; ++c) {
            const std::size_t offset = std::size_t(c) * spatial_;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int i = 0; i < spatial_; ++i) sum += dy[offset + i] * x[offset + i];
            const float e = gate_[std::size_t(n) * channels_ + c];
            gate_grad_[std::size_t(n) * channels_ + c] = sum * e * (1.0f - e);  // now dL/d(pre-sigmoid)
        }
    }

    ConstMatrixMap w1(w1_, hidden_, channels_), w2(w2_, channels_, hidden_);
    ConstMatrixMap s(squeeze_.data(), batch, channels_), z(hidden_act_.data(), batch, hidden_);
    ConstMatrixMap pre_gate_grad(gate_grad_.data(), batch, channels_);
    MatrixMap dz(hidden_grad_.data(), batch, hidden_), ds(squeeze_grad_.data(), batch, channels_);
    MatrixMap(w2_grad_, channels_, hidden_).noalias() += pre_gate_grad.transpose() * z;
    RowVectorMap(b2_grad_, channels_) += pre_gate_grad.colwise().sum();
    dz.noalias() = pre_gate_grad * w2;
    dz.array() = (z.array() > 0.0f).select(dz.array(), 0.0f);
    MatrixMap(w1_grad_, hidden_, channels_).noalias() += dz.transpose() * s;
    RowVectorMap(b1_grad_, hidden_) += dz.colwise().sum();
    if (!din) return;
    ds.noalias() = dz * w1;

    din->resize(in.shape());
    const float inv_spatial = 1.0f / float(spatial_);
#pragma omp parallel for num_threads(ctx.threads) schedule(static)
    for (int n = 0; n < batch; ++n) {
        const float* dy = dout.sample(n);
        float* dx = din->sample(n);
        for (int c = 0; c < channels_; ++c) {
            const std::size_t offset = std::size_t(c) * spatial_;
            const float scale = gate_[std::size_t(n) * channels_ + c];
            const float mean_grad = squeeze_grad_[std::size_t(n) * channels_ + c] * inv_spatial;
#pragma omp simd
            for (int i = 0; i < spatial_; ++i) dx[offset + i] = dy[offset + i] * scale + mean_grad;
        }
    }
}

}  // namespace fer

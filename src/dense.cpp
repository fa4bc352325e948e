#include "fer/dense.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "config_text.hpp"
#include "eigen_maps.hpp"

namespace fer {

using namespace eigen;  // the matrix maps

namespace {

// Chunk k of `chunks` equal parts of [0, total): each thread owns a block of the result, so the
// products are bit-identical for a fixed thread count.
inline int chunk_begin(int total, int chunks, int k) {
    return int(std::int64_t(total) * k / chunks);
}

std::string per_sample_text(const Shape& s) {
    return "(" + std::to_string(s.c) + "," + std::to_string(s.h) + "," + std::to_string(s.w) + ")";
}

}  // namespace

Dense::Dense(int units, bool bias) : units_(units), has_bias_(bias) {
    if (units <= 0) throw std::invalid_argument("dense: units must be positive, got " + std::to_string(units));
}

LayerConfig Dense::config() const {
    return {{"units", std::to_string(units_)}, {"bias", config_text::flag(has_bias_)}};
}

Shape Dense::setup(const Shape& in) {
    if (in.c <= 0 || in.h != 1 || in.w != 1)
        throw std::invalid_argument("dense needs a flat input (F,1,1), got " + per_sample_text(in) + "; add flatten");
    features_ = in.c;
    input_shape_ = {0, in.c, 1, 1};
    output_shape_ = {0, units_, 1, 1};
    return output_shape_;
}

std::vector<ParamBlock> Dense::param_blocks() const {
    std::vector<ParamBlock> blocks{{"weight", std::size_t(units_) * std::size_t(features_), true}};
    if (has_bias_) blocks.push_back({"bias", std::size_t(units_), false});
    return blocks;
}

void Dense::bind(float* params, float* grads, float* /*state*/) {
    const std::size_t weight_size = std::size_t(units_) * std::size_t(features_);
    weight_ = params;
    weight_grad_ = grads;
    bias_ = has_bias_ ? params + weight_size : nullptr;
    bias_grad_ = has_bias_ ? grads + weight_size : nullptr;
}

void Dense::init(Rng& rng) {
    const float limit = std::sqrt(6.0f / float(features_ + units_));
    const std::size_t weight_size = std::size_t(units_) * std::size_t(features_);
    for (std::size_t i = 0; i < weight_size; ++i) weight_[i] = rng.uniform(-limit, limit);
    if (has_bias_) std::fill(bias_, bias_ + units_, 0.0f);
}

void Dense::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    forward_with(in, out, ctx, nullptr);
}

void Dense::forward_fused(const Tensor& in, Tensor& out, const Context& ctx, const ChannelEpilogue& epilogue) {
    forward_with(in, out, ctx, &epilogue);
}

// in is (N,F), W is (U,F), out is (N,U) = in * W^T + b, then the epilogue when given. Threads split the
// units: W is the big operand (the batch is small), so each thread streams only its own rows of it.
void Dense::forward_with(const Tensor& in, Tensor& out, const Context& ctx, const ChannelEpilogue* epilogue) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "dense input");
    const int batch = in.shape().n;
    out.resize({batch, units_, 1, 1});
    ConstMatrixMap x(in.data(), batch, features_), weight(weight_, units_, features_);
    MatrixMap y(out.data(), batch, units_);
    const int chunks = std::max(1, std::min(ctx.threads, units_));
#pragma omp parallel for num_threads(chunks) schedule(static)
    for (int k = 0; k < chunks; ++k) {
        const int begin = chunk_begin(units_, chunks, k), count = chunk_begin(units_, chunks, k + 1) - begin;
        if (count == 0) continue;
        auto y_block = y.middleCols(begin, count);
        y_block.noalias() = x * weight.middleRows(begin, count).transpose();
        if (has_bias_) y_block.rowwise() += ConstRowVectorMap(bias_ + begin, count);
        if (epilogue)
            for (int n = 0; n < batch; ++n) {
                float* row = out.data() + std::size_t(n) * units_ + begin;
                epilogue->apply_across(begin, row, row, std::size_t(count));
            }
    }
}

// dout is (N,U), in is (N,F): din (N,F) = dout * W (threads split the features);
// dW (U,F) += dout^T * in and db (U) += column sums of dout (threads split the units).
void Dense::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din, const Context& ctx) {
    const int batch = in.shape().n;
    check_same_shape(dout.shape(), Shape{batch, units_, 1, 1}, "dense backward: dout");
    ConstMatrixMap weight(weight_, units_, features_);
    ConstMatrixMap x(in.data(), batch, features_);
    ConstMatrixMap dy(dout.data(), batch, units_);

    if (din) {
        din->resize(in.shape());
        MatrixMap dx(din->data(), batch, features_);
        const int chunks = std::max(1, std::min(ctx.threads, features_));
#pragma omp parallel for num_threads(chunks) schedule(static)
        for (int k = 0; k < chunks; ++k) {
            const int begin = chunk_begin(features_, chunks, k), count = chunk_begin(features_, chunks, k + 1) - begin;
            if (count == 0) continue;
            dx.middleCols(begin, count).noalias() = dy * weight.middleCols(begin, count);
        }
    }

    const int chunks = std::max(1, std::min(ctx.threads, units_));
#pragma omp parallel for num_threads(chunks) schedule(static)
    for (int k = 0; k < chunks; ++k) {
        const int begin = chunk_begin(units_, chunks, k), count = chunk_begin(units_, chunks, k + 1) - begin;
        if (count == 0) continue;
        MatrixMap weight_grad(weight_grad_ + std::size_t(begin) * features_, count, features_);
        weight_grad.noalias() += dy.middleCols(begin, count).transpose() * x;
        if (has_bias_) {
            for (int n = 0; n < batch; ++n) {
                const float* dy_row = dout.sample(n) + begin;
                for (int u = 0; u < count; ++u) bias_grad_[begin + u] += dy_row[u];
            }
        }
    }
}

Shape Flatten::setup(const Shape& in) {
    if (in.c <= 0 || in.h <= 0 || in.w <= 0) throw std::invalid_argument("flatten: empty input shape " + in.str());
    // Shapes count in int: a larger product would wrap to a wrong feature count (a crafted model file
    // loaded as a network with 4 features for 4 billion inputs).
    if (in.sample_size() > std::size_t(std::numeric_limits<int>::max()))
        throw std::invalid_argument("flatten: input " + in.str() + " has more than 2^31-1 values per sample");
    input_shape_ = {0, in.c, in.h, in.w};
    output_shape_ = {0, int(input_shape_.sample_size()), 1, 1};
    return output_shape_;
}

// in is (N,C,H,W), out is (N,C*H*W,1,1), same bytes.
void Flatten::forward(const Tensor& in, Tensor& out, const Context& /*ctx*/) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "flatten input");
    out.resize(output_shape_.with_batch(in.shape().n));
    std::copy(in.data(), in.data() + in.size(), out.data());
}

// dout is (N,C*H*W,1,1), din is (N,C,H,W), same bytes.
void Flatten::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din,
                       const Context& /*ctx*/) {
    if (!din) return;
    check_same_shape(dout.shape(), output_shape_.with_batch(in.shape().n), "flatten backward: dout");
    din->resize(in.shape());
    std::copy(dout.data(), dout.data() + dout.size(), din->data());
}

}  // namespace fer

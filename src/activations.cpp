#include "fer/activations.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace fer {

namespace {

// Below this many elements a parallel region costs more than the loop it splits.
constexpr std::ptrdiff_t kParallelMinElements = 1 << 15;

Shape same_shape_setup(const Shape& in, const char* kind) {
    if (in.c <= 0 || in.h <= 0 || in.w <= 0)
        throw std::invalid_argument(std::string(kind) + ": empty input shape " + in.str());
    return {0, in.c, in.h, in.w};
}

// Stable for any x: exp only ever sees a non-positive argument.
inline float stable_sigmoid(float x) {
    float e = std::exp(-std::abs(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

}  // namespace

Shape ReLU::setup(const Shape& in) {
    input_shape_ = output_shape_ = same_shape_setup(in, "relu");
    return output_shape_;
}

// in, out are (N,C,H,W), element-wise.
void ReLU::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "relu input");
    out.resize(in.shape());
    const float* x = in.data();
    float* y = out.data();
    const std::ptrdiff_t size = std::ptrdiff_t(in.size());
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static) if (size >= kParallelMinElements)
    // A select rather than std::max, whose reference-returning form GCC compiles to a branch per
    // element (a misprediction on every sign change); NaN still passes through, as with std::max.
    for (std::ptrdiff_t i = 0; i < size; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

// dout, din are (N,C,H,W); the gradient passes where the input was positive.
void ReLU::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din, const Context& ctx) {
    if (!din) return;
    check_same_shape(dout.shape(), in.shape(), "relu backward: dout vs input");
    din->resize(in.shape());
    const float* x = in.data();
    const float* dy = dout.data();
    float* dx = din->data();
    const std::ptrdiff_t size = std::ptrdiff_t(in.size());
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static) if (size >= kParallelMinElements)
    for (std::ptrdiff_t i = 0; i < size; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

Shape Sigmoid::setup(const Shape& in) {
    input_shape_ = output_shape_ = same_shape_setup(in, "sigmoid");
    return output_shape_;
}

// in, out are (N,C,H,W), element-wise.
void Sigmoid::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "sigmoid input");
    out.resize(in.shape());
    const float* x = in.data();
    float* y = out.data();
    const std::ptrdiff_t size = std::ptrdiff_t(in.size());
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (size >= kParallelMinElements)
    for (std::ptrdiff_t i = 0; i < size; ++i) y[i] = stable_sigmoid(x[i]);
}

// dout, din are (N,C,H,W); dsigmoid/dx = y * (1 - y), taken from the cached output.
void Sigmoid::backward(const Tensor& /*in*/, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) {
    if (!din) return;
    check_same_shape(dout.shape(), out.shape(), "sigmoid backward: dout vs output");
    din->resize(out.shape());
    const float* y = out.data();
    const float* dy = dout.data();
    float* dx = din->data();
    const std::ptrdiff_t size = std::ptrdiff_t(out.size());
#pragma omp parallel for simd num_threads(ctx.threads) schedule(static) if (size >= kParallelMinElements)
    for (std::ptrdiff_t i = 0; i < size; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

Shape Softmax::setup(const Shape& in) {
    if (in.c <= 0 || in.h != 1 || in.w != 1)
        throw std::invalid_argument("softmax needs a flat input (C,1,1), got (" + std::to_string(in.c) + "," +
                                    std::to_string(in.h) + "," + std::to_string(in.w) + "); add flatten");
    input_shape_ = output_shape_ = {0, in.c, 1, 1};
    return output_shape_;
}

// in, out are (N,C,1,1); one row of C per sample.
void Softmax::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "softmax input");
    out.resize(in.shape());
    const int batch = in.shape().n, classes = in.shape().c;
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (batch * classes >= kParallelMinElements)
    for (int n = 0; n < batch; ++n) {
        const float* x = in.sample(n);
        float* y = out.sample(n);
        // Subtracting the row maximum keeps exp from overflowing; the result is unchanged.
        float max_value = *std::max_element(x, x + classes);
        float sum = 0.0f;
        for (int c = 0; c < classes; ++c) {
            y[c] = std::exp(x[c] - max_value);
            sum += y[c];
        }
        const float inv_sum = 1.0f / sum;
        for (int c = 0; c < classes; ++c) y[c] *= inv_sum;
    }
}

// dout, din are (N,C,1,1); Jacobian-vector product dx_i = y_i * (dy_i - sum_j dy_j y_j).
void Softmax::backward(const Tensor& /*in*/, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) {
    if (!din) return;
    check_same_shape(dout.shape(), out.shape(), "softmax backward: dout vs output");
    din->resize(out.shape());
    const int batch = out.shape().n, classes = out.shape().c;
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (batch * classes >= kParallelMinElements)
    for (int n = 0; n < batch; ++n) {
        const float* y = out.sample(n);
        const float* dy = dout.sample(n);
        float* dx = din->sample(n);
        float dot = 0.0f;
        for (int c = 0; c < classes; ++c) dot += dy[c] * y[c];
        for (int c = 0; c < classes; ++c) dx[c] = y[c] * (dy[c] - dot);
    }
}

}  // namespace fer

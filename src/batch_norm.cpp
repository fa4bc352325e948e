#include "fer/batch_norm.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "config_text.hpp"
#include "fer/channel_epilogue.hpp"

namespace fer {

namespace {
// Below this many elements a parallel region costs more than it saves (batch-1 inference). Each channel
// has one thread either way, so the results do not depend on it.
constexpr std::size_t kParallelMinElements = std::size_t(1) << 15;
// Values per group of planes in the training statistics (8 KiB: in L1 for the group's second pass).
constexpr int kStatisticsGroup = 2048;
}  // namespace

BatchNorm::BatchNorm(float momentum, float epsilon) : momentum_(momentum), epsilon_(epsilon) {
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        throw std::invalid_argument("batchnorm: momentum must be in [0, 1], got " + config_text::number(momentum));
    if (!(epsilon > 0.0f))
        throw std::invalid_argument("batchnorm: epsilon must be positive, got " + config_text::number(epsilon));
}

LayerConfig BatchNorm::config() const {
    return {{"momentum", config_text::number(momentum_)}, {"epsilon", config_text::number(epsilon_)}};
}

Shape BatchNorm::setup(const Shape& in) {
    if (in.c <= 0 || in.h <= 0 || in.w <= 0) throw std::invalid_argument("batchnorm: empty input shape " + in.str());
    channels_ = in.c;
    input_shape_ = output_shape_ = {0, in.c, in.h, in.w};
    return output_shape_;
}

std::vector<ParamBlock> BatchNorm::param_blocks() const {
    return {{"gamma", std::size_t(channels_), false}, {"beta", std::size_t(channels_), false}};
}

void BatchNorm::bind(float* params, float* grads, float* state) {
    gamma_ = params;
    beta_ = params + channels_;
    gamma_grad_ = grads;
    beta_grad_ = grads + channels_;
    running_mean_ = state;
    running_var_ = state + channels_;
    // Sized here rather than in setup: a model file's reader sets layers up to count their parameters
    // before it has checked that the file holds them, and a damaged channel count must not allocate.
    mean_.assign(std::size_t(channels_), 0.0f);
    inv_std_.assign(std::size_t(channels_), 0.0f);
}

void BatchNorm::init(Rng& /*rng*/) {
    for (int c = 0; c < channels_; ++c) {
        gamma_[c] = 1.0f;
        beta_[c] = 0.0f;
        running_mean_[c] = 0.0f;
        running_var_[c] = 1.0f;
    }
}

void BatchNorm::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_same_shape(in.shape().with_batch(0), input_shape_, "batchnorm input");
    out.resize(in.shape());
    if (ctx.training)
        forward_training(in, out, ctx);
    else
        forward_eval(in, out, ctx);
}

// in, out are (N,C,H,W); one thread owns a channel, so every statistic has one summation order. Each
// channel's input is read from memory once for its statistics: per group of (sample, channel) planes, which
// stays in L1, the mean and the squared deviations from it, combined over the groups in double (Chan et al.'s
// pairwise update, as accurate as two passes over the whole channel); then once more to normalise. The
// normalised input is not kept: backward recomputes it from the input with the same arithmetic.
void BatchNorm::forward_training(const Tensor& in, Tensor& out, const Context& ctx) {
    const int batch = in.shape().n, spatial = in.shape().h * in.shape().w;
    const std::size_t count = std::size_t(batch) * std::size_t(spatial);
    if (count < 2)
        throw std::invalid_argument("batchnorm: training needs more than one value per channel, got input " +
                                    in.shape().str());
    trained_shape_ = in.shape();
    const std::size_t sample = in.shape().sample_size();
    const float* x = in.data();
    float* y = out.data();
    // Early in training the exponential average would still be mostly its initial (0, 1): step t
    // uses min(momentum, t / (t + 1)), a plain mean of the batches seen so far, until that reaches
    // the configured momentum. Short runs then evaluate with real statistics.
    const float momentum = std::min(momentum_, float(double(ctx.step) / double(ctx.step + 1)));
    // Planes of at least kStatisticsGroup values each, or enough small planes together (a pass per 6x6 plane
    // cost more in its bookkeeping than it saved).
    const int group = std::max(1, kStatisticsGroup / spatial);

#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int c = 0; c < channels_; ++c) {
        double mean = 0.0, squares = 0.0;  // over the groups so far
        for (int first = 0; first < batch; first += group) {
            const int last = std::min(batch, first + group);
            double group_sum = 0.0;
            for (int n = first; n < last; ++n) {
                const float* xc = x + std::size_t(n) * sample + std::size_t(c) * spatial;
#pragma omp simd reduction(+ : group_sum)
                for (int i = 0; i < spatial; ++i) group_sum += double(xc[i]);
            }
            const double size = double(last - first) * spatial, group_mean = group_sum / size;
            double group_squares = 0.0;
            for (int n = first; n < last; ++n) {
                const float* xc = x + std::size_t(n) * sample + std::size_t(c) * spatial;
#pragma omp simd reduction(+ : group_squares)
                for (int i = 0; i < spatial; ++i) {
                    const double d = double(xc[i]) - group_mean;
                    group_squares += d * d;
                }
            }
            const double before = double(first) * spatial, after = before + size;
            const double delta = group_mean - mean;
            mean += delta * (size / after);
            squares += group_squares + delta * delta * (before * size / after);
        }
        const double biased_var = squares / double(count);
        const float inv_std = float(1.0 / std::sqrt(biased_var + double(epsilon_)));
        const float mean_f = float(mean), scale = gamma_[c], shift = beta_[c];
        mean_[c] = mean_f;
        inv_std_[c] = inv_std;
        for (int n = 0; n < batch; ++n) {
            const std::size_t offset = std::size_t(n) * sample + std::size_t(c) * spatial;
            const float* xc = x + offset;
            float* yc = y + offset;
#pragma omp simd
            for (int i = 0; i < spatial; ++i) yc[i] = scale * ((xc[i] - mean_f) * inv_std) + shift;
        }
        // Keras: the running variance is the unbiased estimate, the normalisation uses the biased one.
        const double unbiased_var = squares / double(count - 1);
        running_mean_[c] = momentum * running_mean_[c] + (1.0f - momentum) * float(mean);
        running_var_[c] = momentum * running_var_[c] + (1.0f - momentum) * float(unbiased_var);
    }
}

void BatchNorm::eval_affine(float* scale, float* shift) const {
    for (int c = 0; c < channels_; ++c) {
        scale[c] = gamma_[c] / std::sqrt(running_var_[c] + epsilon_);
        shift[c] = beta_[c] - running_mean_[c] * scale[c];
    }
}

// in, out are (N,C,H,W); the running statistics fold into one scale and shift per channel, applied by
// the same ChannelEpilogue that a convolution fused with this layer runs.
void BatchNorm::forward_eval(const Tensor& in, Tensor& out, const Context& ctx) {
    const int batch = in.shape().n, spatial = in.shape().h * in.shape().w;
    const std::size_t sample = in.shape().sample_size();
    const float* x = in.data();
    float* y = out.data();
    eval_scale_.resize(std::size_t(channels_));
    eval_shift_.resize(std::size_t(channels_));
    eval_affine(eval_scale_.data(), eval_shift_.data());
    const ChannelEpilogue affine{eval_scale_.data(), eval_shift_.data(), false};

#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int c = 0; c < channels_; ++c)
        for (int n = 0; n < batch; ++n) {
            const std::size_t offset = std::size_t(n) * sample + std::size_t(c) * spatial;
            affine.apply(c, x + offset, y + offset, std::size_t(spatial));
        }
}

// in, dout, din are (N,C,H,W). With m = N*H*W and x_hat = (in - mean) * inv_std as the forward computed it:
//   dgamma = sum(dy * x_hat), dbeta = sum(dy),
//   dx = gamma * inv_std / m * (m * dy - dbeta - x_hat * dgamma).
void BatchNorm::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din, const Context& ctx) {
    check_same_shape(dout.shape(), trained_shape_, "batchnorm backward: dout vs the last training forward");
    check_same_shape(in.shape(), trained_shape_, "batchnorm backward: in vs the last training forward");
    const int batch = dout.shape().n, spatial = dout.shape().h * dout.shape().w;
    const std::size_t sample = dout.shape().sample_size();
    const double count = double(batch) * double(spatial);
    const float* dy = dout.data();
    const float* x = in.data();
    float* dx = nullptr;
    if (din) {
        din->resize(dout.shape());
        dx = din->data();
    }

#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (dout.size() >= kParallelMinElements)
    for (int c = 0; c < channels_; ++c) {
        const float mean = mean_[c], inv_std = inv_std_[c];
        double dy_sum = 0.0, dy_xhat_sum = 0.0;
        for (int n = 0; n < batch; ++n) {
            const std::size_t offset = std::size_t(n) * sample + std::size_t(c) * spatial;
            const float* dyc = dy + offset;
            const float* xc = x + offset;
#pragma omp simd reduction(+ : dy_sum, dy_xhat_sum)
            for (int i = 0; i < spatial; ++i) {
                const float h = (xc[i] - mean) * inv_std;
                dy_sum += double(dyc[i]);
                dy_xhat_sum += double(dyc[i]) * double(h);
            }
        }
        gamma_grad_[c] += float(dy_xhat_sum);
        beta_grad_[c] += float(dy_sum);
        if (!dx) continue;
        const float scale = gamma_[c] * inv_std;
        const float mean_dy = float(dy_sum / count), mean_dy_xhat = float(dy_xhat_sum / count);
        for (int n = 0; n < batch; ++n) {
            const std::size_t offset = std::size_t(n) * sample + std::size_t(c) * spatial;
            const float* dyc = dy + offset;
            const float* xc = x + offset;
            float* dxc = dx + offset;
#pragma omp simd
            for (int i = 0; i < spatial; ++i) {
                const float h = (xc[i] - mean) * inv_std;
                dxc[i] = scale * (dyc[i] - mean_dy - h * mean_dy_xhat);
            }
        }
    }
}

}  // namespace fer

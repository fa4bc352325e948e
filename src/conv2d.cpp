#include "fer/conv2d.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "config_text.hpp"

namespace fer {

Conv2D::Conv2D(Conv2DSpec spec) : spec_(spec) {
    if (spec_.filters <= 0)
        throw std::invalid_argument("conv2d: filters must be positive, got " + std::to_string(spec_.filters));
    if (spec_.kernel_h <= 0 || spec_.kernel_w <= 0)
        throw std::invalid_argument("conv2d: kernel must be positive, got " +
                                    config_text::window(spec_.kernel_h, spec_.kernel_w));
    if (spec_.stride_h <= 0 || spec_.stride_w <= 0)
        throw std::invalid_argument("conv2d: stride must be positive, got " +
                                    config_text::window(spec_.stride_h, spec_.stride_w));
}

LayerConfig Conv2D::config() const {
    return {{"filters", std::to_string(spec_.filters)},
            {"kernel", config_text::window(spec_.kernel_h, spec_.kernel_w)},
            {"stride", config_text::window(spec_.stride_h, spec_.stride_w)},
            {"padding", to_string(spec_.padding)},
            {"bias", config_text::flag(spec_.bias)}};
}

Shape Conv2D::setup(const Shape& in) {
    if (in.c <= 0 || in.h <= 0 || in.w <= 0)
        throw std::invalid_argument("conv2d: input shape " + in.str() + " must have positive C, H, W");
    AxisGeometry rows{}, cols{};
    try {
        rows = axis_geometry(in.h, spec_.kernel_h, spec_.stride_h, spec_.padding);
        cols = axis_geometry(in.w, spec_.kernel_w, spec_.stride_w, spec_.padding);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("conv2d: input ") + in.str() + ": " + e.what());
    }
    pad_top_ = rows.pad_before;
    pad_left_ = cols.pad_before;
    input_shape_ = {1, in.c, in.h, in.w};
    output_shape_ = {1, spec_.filters, rows.out, cols.out};
    return output_shape_;
}

std::vector<ParamBlock> Conv2D::param_blocks() const {
    std::vector<ParamBlock> blocks{{"weight", geometry(1).weight_size(), true}};
    if (spec_.bias) blocks.push_back({"bias", std::size_t(spec_.filters), false});
    return blocks;
}

void Conv2D::bind(float* params, float* grads, float* /*state*/) {
    const std::size_t weight_size = geometry(1).weight_size();
    weight_ = params;
    weight_grad_ = grads;
    bias_ = spec_.bias ? params + weight_size : nullptr;
    bias_grad_ = spec_.bias ? grads + weight_size : nullptr;
}

void Conv2D::init(Rng& rng) {
    if (!weight_) throw std::runtime_error("conv2d: init before bind");
    const ConvGeometry g = geometry(1);
    const double fan_in = double(g.c) * g.kh * g.kw, fan_out = double(g.oc) * g.kh * g.kw;
    const float limit = float(std::sqrt(6.0 / (fan_in + fan_out)));
    for (std::size_t i = 0; i < g.weight_size(); ++i) weight_[i] = rng.uniform(-limit, limit);
    if (bias_) std::fill(bias_, bias_ + g.oc, 0.0f);
}

ConvGeometry Conv2D::geometry(int batch) const {
    return {batch,          input_shape_.c,  input_shape_.h, input_shape_.w, spec_.filters,
            spec_.kernel_h, spec_.kernel_w,  spec_.stride_h, spec_.stride_w, pad_top_,
            pad_left_,      output_shape_.h, output_shape_.w};
}

void Conv2D::check_ready(const Tensor& in, const char* pass) const {
    if (!weight_) throw std::runtime_error(std::string("conv2d: ") + pass + " before bind");
    const Shape& s = in.shape();
    if (s.c != input_shape_.c || s.h != input_shape_.h || s.w != input_shape_.w)
        throw std::invalid_argument(std::string("conv2d: ") + pass + " input " + s.str() + " does not match setup " +
                                    input_shape_.with_batch(s.n).str());
}

bool Conv2D::runs_bf16(const ConvGeometry& g, const Context& ctx) const {
    return !ctx.training && ctx.precision == Precision::bf16 && bf16_conv_applies(g) && bf16_supported();
}

void Conv2D::forward_bf16(const ConvGeometry& g, const Tensor& in, Tensor& out, const Context& ctx,
                          const ChannelEpilogue* epilogue) {
    if (ctx.weights_version == 0 || ctx.weights_version != bf16_weights_version_) {
        bf16_weights_.pack(g, weight_);
        bf16_weights_version_ = ctx.weights_version;
    }
    conv2d_forward_bf16(g, in.data(), bf16_weights_, bias_, out.data(), ctx.threads, bf16_workspace_, epilogue);
}

int Conv2D::winograd_tile_for(const ConvGeometry& g, const Context& ctx) const {
    if (!ctx.winograd) return 0;
    // An inference forward without the promise of unchanged weights would transform them on every call, which
    // costs more than it saves at small batches. Training transforms them on every step (they change anyway).
    if (!ctx.training && ctx.weights_version == 0) return 0;
    return winograd_tile(g);
}

bool Conv2D::forward_converted(const ConvGeometry& g, const Tensor& in, Tensor& out, const Context& ctx,
                               const ChannelEpilogue* epilogue) {
    if (ctx.training) {  // an optimizer step may follow: convert again next time
        bf16_weights_version_ = 0;
        winograd_weights_version_ = 0;
    }
    if (runs_bf16(g, ctx)) {
        forward_bf16(g, in, out, ctx, epilogue);
        return true;
    }
    const int tile = winograd_tile_for(g, ctx);
    if (tile == 0) return false;
    if (ctx.training || ctx.weights_version != winograd_weights_version_ || winograd_source_ != weight_ ||
        winograd_weights_.m != tile) {
        winograd_weights_.pack(g, tile, weight_, ctx.threads);
        winograd_source_ = weight_;
        winograd_weights_version_ = ctx.training ? 0 : ctx.weights_version;
    }
    conv2d_forward_winograd(g, in.data(), winograd_weights_, bias_, out.data(), ctx.threads, winograd_workspace(ctx),
                            epilogue);
    return true;
}

void Conv2D::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_ready(in, "forward");
    const ConvGeometry g = geometry(in.shape().n);
    out.resize(output_shape_.with_batch(g.n));
    if (forward_converted(g, in, out, ctx, nullptr)) return;
    conv2d_forward(g, in.data(), weight_, bias_, out.data(), ctx.threads, workspace_, nullptr,
                   ctx.training ? 0 : ctx.weights_version);
}

void Conv2D::forward_fused(const Tensor& in, Tensor& out, const Context& ctx, const ChannelEpilogue& epilogue) {
    check_ready(in, "forward");
    const ConvGeometry g = geometry(in.shape().n);
    out.resize(output_shape_.with_batch(g.n));
    if (forward_converted(g, in, out, ctx, &epilogue)) return;
    conv2d_forward(g, in.data(), weight_, bias_, out.data(), ctx.threads, workspace_, &epilogue,
                   ctx.training ? 0 : ctx.weights_version);
}

void Conv2D::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din, const Context& ctx) {
    check_ready(in, "backward");
    bf16_weights_version_ = 0;
    winograd_weights_version_ = 0;
    const ConvGeometry g = geometry(in.shape().n);
    check_same_shape(dout.shape(), output_shape_.with_batch(g.n), "conv2d backward dout");
    if (din) {
        din->resize(in.shape());
        const bool flips = has_input_gradient_geometry(g);
        const ConvGeometry flipped = flips ? input_gradient_geometry(g) : g;
        if (const int tile = flips && ctx.winograd ? winograd_tile(flipped) : 0) {
            winograd_input_gradient_weights_.pack_input_gradient(g, tile, weight_, ctx.threads);
            conv2d_forward_winograd(flipped, dout.data(), winograd_input_gradient_weights_, nullptr, din->data(),
                                    ctx.threads, winograd_workspace(ctx));
        } else {
            conv2d_backward_input(g, dout.data(), weight_, din->data(), ctx.threads, workspace_);
        }
    }
    if (const int tile = ctx.winograd ? winograd_tile(g) : 0)
        conv2d_backward_weights_winograd(g, tile, in.data(), dout.data(), weight_grad_, bias_grad_, ctx.threads,
                                         winograd_workspace(ctx));
    else
        conv2d_backward_weights(g, in.data(), dout.data(), weight_grad_, bias_grad_, ctx.threads, workspace_);
}

std::uint64_t Conv2D::macs() const {
    const ConvGeometry g = geometry(1);
    return std::uint64_t(g.output_size()) * g.patch_size();
}

}  // namespace fer

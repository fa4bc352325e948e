#include "fer/pooling.hpp"

#include <algorithm>
#include <stdexcept>

#include "config_text.hpp"

namespace fer {

namespace {

void check_spec(const std::string& kind, const Pool2DSpec& spec) {
    if (spec.size_h <= 0 || spec.size_w <= 0)
        throw std::invalid_argument(kind + ": size must be positive, got " +
                                    config_text::window(spec.size_h, spec.size_w));
    if (spec.stride_h <= 0 || spec.stride_w <= 0)
        throw std::invalid_argument(kind + ": stride must be positive, got " +
                                    config_text::window(spec.stride_h, spec.stride_w));
}

LayerConfig pool_config(const Pool2DSpec& spec) {
    return {{"size", config_text::window(spec.size_h, spec.size_w)},
            {"stride", config_text::window(spec.stride_h, spec.stride_w)},
            {"padding", to_string(spec.padding)}};
}

void check_positive_shape(const std::string& kind, const Shape& in) {
    if (in.c <= 0 || in.h <= 0 || in.w <= 0)
        throw std::invalid_argument(kind + ": input shape " + in.str() + " must have positive C, H, W");
}

PoolGeometry pool_geometry(const std::string& kind, const Shape& in, const Pool2DSpec& spec) {
    check_positive_shape(kind, in);
    try {
        AxisGeometry rows = axis_geometry(in.h, spec.size_h, spec.stride_h, spec.padding);
        AxisGeometry cols = axis_geometry(in.w, spec.size_w, spec.stride_w, spec.padding);
        return {in.c,
                in.h,
                in.w,
                spec.size_h,
                spec.size_w,
                spec.stride_h,
                spec.stride_w,
                rows.pad_before,
                cols.pad_before,
                rows.out,
                cols.out};
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(kind + ": input " + in.str() + ": " + e.what());
    }
}

void check_input(const std::string& kind, const Shape& expected, const Tensor& in) {
    const Shape& s = in.shape();
    if (s.c != expected.c || s.h != expected.h || s.w != expected.w)
        throw std::invalid_argument(kind + ": input " + s.str() + " does not match setup " +
                                    expected.with_batch(s.n).str());
}

// Below this many input elements a parallel region costs more than it saves (batch-1 inference); each
// plane has one writer either way, so the results do not depend on it.
constexpr std::size_t kParallelMinElements = std::size_t(1) << 15;

// The part of one window that lies inside the input plane (padding excluded).
struct Window {
    int y_begin, y_end, x_begin, x_end;
    int count() const { return (y_end - y_begin) * (x_end - x_begin); }
};

Window clip_window(const PoolGeometry& g, int oy, int ox) {
    const int y0 = oy * g.stride_h - g.pad_top, x0 = ox * g.stride_w - g.pad_left;
    return {std::max(y0, 0), std::min(y0 + g.size_h, g.h), std::max(x0, 0), std::min(x0 + g.size_w, g.w)};
}

// plane is one (H,W) input channel, out its (OH,OW) output; argmax (OH*OW) is filled when tracked.
// A plain window scan is one long compare-and-select chain per output, bound by its latency. Here a
// block of kBlock neighbouring outputs of a row advances through the window elements together (in
// row-major order, as the plain scan): independent lanes, kept in registers, that the compiler
// vectorises. Window elements in the padding are read at a clamped in-row index and never win.
// Strict >, so ties keep the first element.
template <bool kTrackArgmax>
void max_pool_plane(const PoolGeometry& g, const float* plane, float* out, int* argmax) {
    constexpr int kBlock = 16;
    for (int oy = 0; oy < g.oh; ++oy) {
        const int y0 = oy * g.stride_h - g.pad_top;
        const int y_begin = std::max(y0, 0), y_end = std::min(y0 + g.size_h, g.h);
        for (int block = 0; block < g.ow; block += kBlock) {
            float best_value[kBlock];
            int best[kBlock];
            for (int j = 0; j < kBlock; ++j) {  // each window's first valid element
                const int x = std::clamp((block + j) * g.stride_w - g.pad_left, 0, g.w - 1);
                best[j] = y_begin * g.w + x;
                best_value[j] = plane[best[j]];
            }
            for (int y = y_begin; y < y_end; ++y) {
                const float* row = plane + y * g.w;
                for (int kx = 0; kx < g.size_w; ++kx)
                    for (int j = 0; j < kBlock; ++j) {
                        const int x = (block + j) * g.stride_w - g.pad_left + kx;
                        const bool inside = x >= 0 && x < g.w;
                        const int clamped = std::clamp(x, 0, g.w - 1);
                        const float value = row[clamped];
                        const bool better = inside && value > best_value[j];
                        best_value[j] = better ? value : best_value[j];
                        if constexpr (kTrackArgmax) best[j] = better ? y * g.w + clamped : best[j];
                    }
            }
            const int count = std::min(kBlock, g.ow - block);
            for (int j = 0; j < count; ++j) out[oy * g.ow + block + j] = best_value[j];
            if constexpr (kTrackArgmax)
                for (int j = 0; j < count; ++j) argmax[oy * g.ow + block + j] = best[j];
        }
    }
}

// dout is one (OH,OW) gradient plane; din (H,W) is assigned.
void max_pool_backward_plane(const PoolGeometry& g, const float* dout, const int* argmax, float* din) {
    std::fill(din, din + g.h * g.w, 0.0f);
    for (int o = 0; o < g.oh * g.ow; ++o) din[argmax[o]] += dout[o];
}

// plane is one (H,W) input channel, out its (OH,OW) output: the mean of each window's valid elements.
void avg_pool_plane(const PoolGeometry& g, const float* plane, float* out) {
    for (int oy = 0; oy < g.oh; ++oy)
        for (int ox = 0; ox < g.ow; ++ox) {
            const Window win = clip_window(g, oy, ox);
            float sum = 0.0f;
            for (int y = win.y_begin; y < win.y_end; ++y)
                for (int x = win.x_begin; x < win.x_end; ++x) sum += plane[y * g.w + x];
            out[oy * g.ow + ox] = sum / float(win.count());
        }
}

// dout is one (OH,OW) gradient plane; din (H,W) is assigned.
void avg_pool_backward_plane(const PoolGeometry& g, const float* dout, float* din) {
    std::fill(din, din + g.h * g.w, 0.0f);
    for (int oy = 0; oy < g.oh; ++oy)
        for (int ox = 0; ox < g.ow; ++ox) {
            const Window win = clip_window(g, oy, ox);
            const float share = dout[oy * g.ow + ox] / float(win.count());
            for (int y = win.y_begin; y < win.y_end; ++y)
                for (int x = win.x_begin; x < win.x_end; ++x) din[y * g.w + x] += share;
        }
}

}  // namespace

// ---- MaxPool2D ----

MaxPool2D::MaxPool2D(Pool2DSpec spec) : spec_(spec) {
    check_spec("maxpool2d", spec_);
}

LayerConfig MaxPool2D::config() const {
    return pool_config(spec_);
}

Shape MaxPool2D::setup(const Shape& in) {
    geometry_ = pool_geometry("maxpool2d", in, spec_);
    input_shape_ = {1, in.c, in.h, in.w};
    output_shape_ = {1, in.c, geometry_.oh, geometry_.ow};
    return output_shape_;
}

void MaxPool2D::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_input("maxpool2d", input_shape_, in);
    const int planes = in.shape().n * geometry_.c;
    const int in_plane = geometry_.h * geometry_.w, out_plane = geometry_.oh * geometry_.ow;
    out.resize(output_shape_.with_batch(in.shape().n));
    if (ctx.training) argmax_.resize(std::size_t(planes) * out_plane);
    int* argmax = ctx.training ? argmax_.data() : nullptr;
    const float* src = in.data();
    float* dst = out.data();
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int p = 0; p < planes; ++p)
        if (argmax)
            max_pool_plane<true>(geometry_, src + std::size_t(p) * in_plane, dst + std::size_t(p) * out_plane,
                                 argmax + std::size_t(p) * out_plane);
        else
            max_pool_plane<false>(geometry_, src + std::size_t(p) * in_plane, dst + std::size_t(p) * out_plane,
                                  nullptr);
}

void MaxPool2D::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din, const Context& ctx) {
    check_input("maxpool2d", input_shape_, in);
    check_same_shape(dout.shape(), output_shape_.with_batch(in.shape().n), "maxpool2d backward dout");
    if (argmax_.size() != dout.size())
        throw std::runtime_error("maxpool2d: backward needs a training forward of the same batch first");
    if (!din) return;
    din->resize(in.shape());
    const int planes = in.shape().n * geometry_.c;
    const int in_plane = geometry_.h * geometry_.w, out_plane = geometry_.oh * geometry_.ow;
    const float* upstream = dout.data();
    float* target = din->data();
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int p = 0; p < planes; ++p)
        max_pool_backward_plane(geometry_, upstream + std::size_t(p) * out_plane,
                                argmax_.data() + std::size_t(p) * out_plane, target + std::size_t(p) * in_plane);
}

// ---- AvgPool2D ----

AvgPool2D::AvgPool2D(Pool2DSpec spec) : spec_(spec) {
    check_spec("avgpool2d", spec_);
}

LayerConfig AvgPool2D::config() const {
    return pool_config(spec_);
}

Shape AvgPool2D::setup(const Shape& in) {
    geometry_ = pool_geometry("avgpool2d", in, spec_);
    input_shape_ = {1, in.c, in.h, in.w};
    output_shape_ = {1, in.c, geometry_.oh, geometry_.ow};
    return output_shape_;
}

void AvgPool2D::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_input("avgpool2d", input_shape_, in);
    const int planes = in.shape().n * geometry_.c;
    const int in_plane = geometry_.h * geometry_.w, out_plane = geometry_.oh * geometry_.ow;
    out.resize(output_shape_.with_batch(in.shape().n));
    const float* src = in.data();
    float* dst = out.data();
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int p = 0; p < planes; ++p)
        avg_pool_plane(geometry_, src + std::size_t(p) * in_plane, dst + std::size_t(p) * out_plane);
}

void AvgPool2D::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din, const Context& ctx) {
    check_input("avgpool2d", input_shape_, in);
    check_same_shape(dout.shape(), output_shape_.with_batch(in.shape().n), "avgpool2d backward dout");
    if (!din) return;
    din->resize(in.shape());
    const int planes = in.shape().n * geometry_.c;
    const int in_plane = geometry_.h * geometry_.w, out_plane = geometry_.oh * geometry_.ow;
    const float* upstream = dout.data();
    float* target = din->data();
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int p = 0; p < planes; ++p)
        avg_pool_backward_plane(geometry_, upstream + std::size_t(p) * out_plane, target + std::size_t(p) * in_plane);
}

// ---- GlobalAvgPool2D ----

Shape GlobalAvgPool2D::setup(const Shape& in) {
    check_positive_shape("global_avg_pool", in);
    input_shape_ = {1, in.c, in.h, in.w};
    output_shape_ = {1, in.c, 1, 1};
    return output_shape_;
}

void GlobalAvgPool2D::forward(const Tensor& in, Tensor& out, const Context& ctx) {
    check_input("global_avg_pool", input_shape_, in);
    const int planes = in.shape().n * input_shape_.c;
    const int plane_size = input_shape_.h * input_shape_.w;
    out.resize(output_shape_.with_batch(in.shape().n));
    const float* src = in.data();
    float* dst = out.data();
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int p = 0; p < planes; ++p) {
        const float* plane = src + std::size_t(p) * plane_size;
        float sum = 0.0f;
        for (int i = 0; i < plane_size; ++i) sum += plane[i];
        dst[p] = sum / float(plane_size);
    }
}

void GlobalAvgPool2D::backward(const Tensor& in, const Tensor& /*out*/, const Tensor& dout, Tensor* din,
                               const Context& ctx) {
    check_input("global_avg_pool", input_shape_, in);
    check_same_shape(dout.shape(), output_shape_.with_batch(in.shape().n), "global_avg_pool backward dout");
    if (!din) return;
    din->resize(in.shape());
    const int planes = in.shape().n * input_shape_.c;
    const int plane_size = input_shape_.h * input_shape_.w;
    const float* upstream = dout.data();
    float* target = din->data();
#pragma omp parallel for num_threads(ctx.threads) schedule(static) if (in.size() >= kParallelMinElements)
    for (int p = 0; p < planes; ++p)
        std::fill(target + std::size_t(p) * plane_size, target + std::size_t(p + 1) * plane_size,
                  upstream[p] / float(plane_size));
}

}  // namespace fer

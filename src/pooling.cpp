#include "fer/pooling.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>

#include "config_text.hpp"
#include "simd_lanes.hpp"
#include "transpose.hpp"

namespace fer {

using simd::broadcast;
using simd::IntLanes;
using simd::kLanes;
using simd::Lanes;
using simd::load;
using simd::store;

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
// The 2x2/2 average pool of whole row pairs splits from this many: its input was just written by both threads
// of the convolution before it, and pooling each half where it lies measured faster (gap's pools at batch 1,
// 6.2 / 6.8 / 5.3 / 3.1 -> 5.0 / 4.3 / 2.5 / 2.0 us).
constexpr std::size_t kParallelMinTiledElements = std::size_t(1) << 12;

// Output columns ox whose whole window [ox*stride - pad, ... + size) lies inside [0, in): the row pass
// runs these without clipping, in a loop the compiler vectorises.
struct InteriorRange {
    int begin, end;
};

InteriorRange interior_outputs(int in, int size, int stride, int pad, int out) {
    // In 64 bits: a model file may declare strides and windows near INT_MAX (the fuzz regressions do).
    const std::int64_t first = (std::int64_t(pad) + stride - 1) / stride;
    const int begin = int(std::min<std::int64_t>(out, first));
    const int end =
        in >= size ? int(std::clamp<std::int64_t>((std::int64_t(in) - size + pad) / stride + 1, begin, out)) : begin;
    return {begin, end};
}

// Both poolings work one output row at a time in two passes: a column pass over the window's input
// rows (contiguous, so it vectorises), then a row pass over each window's columns.
struct PoolRow {
    int y_begin, y_end;
};

PoolRow pool_row(const PoolGeometry& g, int oy) {
    const int y0 = oy * g.stride_h - g.pad_top;
    return {std::max(y0, 0), std::min(y0 + g.size_h, g.h)};
}

// The input columns [begin, end) inside the plane of output column ox's window.
std::pair<int, int> pool_columns(const PoolGeometry& g, int ox) {
    const int x0 = ox * g.stride_w - g.pad_left;
    return {std::max(x0, 0), std::min(x0 + g.size_w, g.w)};
}

// Per-thread scratch of one input row: average pooling's column sums (or shares), the max pooling row kernel's
// column maxima with their padding. On the stack for rows of up to kInlineWidth, so that a pass allocates
// nothing (every pooling forward and backward makes one per thread); wider rows take the heap.
class PoolScratch {
public:
    explicit PoolScratch(std::size_t width) {
        if (width <= kInlineWidth) {
            columns = inline_columns_;
        } else {
            heap_columns_.resize(width);
            columns = heap_columns_.data();
        }
    }
    PoolScratch(const PoolScratch&) = delete;
    PoolScratch& operator=(const PoolScratch&) = delete;

    float* columns = nullptr;  // width of them

private:
    static constexpr std::size_t kInlineWidth = 256;
    alignas(64) float inline_columns_[kInlineWidth];
    std::vector<float> heap_columns_;
};

// ---- max pooling, kLanes planes at a time ----
//
// Row by row, five_layer's planes (48, 24 and 12 wide) gave loops of 6 to 24 outputs, so vector tails and the
// clipped windows, one output at a time, took most of the time (its 12 -> 6 pool's training forward took 16x
// its backward). Here a block of kLanes planes is transposed to channel-last, (H*W, kLanes), and every output
// is a plain window scan in row-major order whose every step is one vector of kLanes planes: the rule itself
// (strict >: the first maximum wins; a NaN first stays, a later one never wins), with no tails and no
// special case for clipped windows. The outputs and arg-maxes are transposed back.

// Outputs at a time in registers: each is one dependency chain of compare and blend (7 cycles a step), so a
// group keeps the vector units busy.
constexpr int kOutputGroup = 4;

// kGroup outputs of one output row, the j-th's window the rows of `window` and the columns [x_begin, x_end)
// moved right by j strides (whole windows when kGroup > 1), each a plain scan in row-major order. input is
// (H*W, kLanes); best and best_index get (kGroup, kLanes).
template <bool kArgmax, int kGroup>
inline void scan_outputs(const PoolGeometry& g, const float* input, PoolRow window, int x_begin, int x_end,
                         float* best_out, int* best_index_out) {
    Lanes best[kGroup];
    IntLanes best_index[kGroup];
    const int first = window.y_begin * g.w + x_begin;
    for (int j = 0; j < kGroup; ++j) {
        best[j] = load(input + std::size_t(first + j * g.stride_w) * kLanes);
        if constexpr (kArgmax) best_index[j] = broadcast<IntLanes>(first + j * g.stride_w);
    }
    // From the window's first position again: a strict > step leaves an output's own first value alone.
    for (int y = window.y_begin; y < window.y_end; ++y)
        for (int x = x_begin; x < x_end; ++x) {
            for (int j = 0; j < kGroup; ++j) {
                const int index = y * g.w + x + j * g.stride_w;
                const Lanes value = load(input + std::size_t(index) * kLanes);
                if constexpr (kArgmax) {
                    const IntLanes better = value > best[j];
                    best[j] = better ? value : best[j];
                    best_index[j] = better ? broadcast<IntLanes>(index) : best_index[j];
                } else {
                    best[j] = value > best[j] ? value : best[j];
                }
            }
        }
    for (int j = 0; j < kGroup; ++j) {
        store(best_out + std::size_t(j) * kLanes, best[j]);
        if constexpr (kArgmax) store(best_index_out + std::size_t(j) * kLanes, best_index[j]);
    }
}

// Floats of one thread's buffers: the block's input, channel-last, then its outputs; as many ints for the
// arg-maxes as there are outputs.
std::size_t max_pool_block_floats(const PoolGeometry& g) {
    return std::size_t(kLanes) * (std::size_t(g.h) * g.w + std::size_t(g.oh) * g.ow);
}

std::size_t max_pool_block_ints(const PoolGeometry& g) {
    return std::size_t(kLanes) * g.oh * g.ow;
}

// planes: `count` <= kLanes consecutive (H,W) planes -> out (count, OH, OW) and, when argmax is not null, each
// output's winner as its index in its plane. buffers: max_pool_block_floats(g) of them, best_indices
// max_pool_block_ints(g) (argmax only). g by value: through a reference the compiler re-read its fields after
// every store to the buffers.
template <bool kArgmax>
void max_pool_block(const PoolGeometry g, const float* planes, int count, float* out, int* argmax, float* buffers,
                    int* best_indices) {
    const std::size_t plane = std::size_t(g.h) * g.w, outputs = std::size_t(g.oh) * g.ow;
    float* const input = buffers;                       // (H*W, kLanes)
    float* const best_values = input + plane * kLanes;  // (OH*OW, kLanes), as best_indices
    transpose(planes, plane, input, kLanes, count, int(plane));
    const InteriorRange interior = interior_outputs(g.w, g.size_w, g.stride_w, g.pad_left, g.ow);
    for (int oy = 0; oy < g.oh; ++oy) {
        const PoolRow window = pool_row(g, oy);
        const std::size_t row = std::size_t(oy) * g.ow;
        auto scan = [&]<int kGroup>(int ox) {
            const auto [x_begin, x_end] = pool_columns(g, ox);
            scan_outputs<kArgmax, kGroup>(g, input, window, x_begin, x_end, best_values + (row + ox) * kLanes,
                                          best_indices + (row + ox) * kLanes);
        };
        int ox = 0;
        for (; ox < interior.begin; ++ox) scan.template operator()<1>(ox);  // clipped on the left
        for (; ox + kOutputGroup <= interior.end; ox += kOutputGroup) scan.template operator()<kOutputGroup>(ox);
        for (; ox < g.ow; ++ox) scan.template operator()<1>(ox);  // the rest, and clipped on the right
    }
    transpose(best_values, kLanes, out, outputs, int(outputs), count);
    if constexpr (kArgmax) transpose(best_indices, kLanes, argmax, outputs, int(outputs), count);
}

// Inference needs no arg-max, so the row pass can read the column maxima from a buffer with -inf in the
// padding on both sides, and every output is the same unclipped loop over its window's columns, with the
// window's width and stride known at compile time for the common windows (kSize, kStride; 0: at run time).
// Without the clipped outputs' one-by-one path five_layer's three 3x3 pools went from 51 to 30 us at batch 1.
// columns is -inf except where a row's maxima go, [pad_left, pad_left + W), and reaches past the last window.
// Same results as the block kernel for any input without NaN.
template <int kSize, int kStride>
void max_pool_plane_eval(const PoolGeometry& g, const float* plane, float* out, float* columns) {
    const int size = kSize ? kSize : g.size_w, stride = kStride ? kStride : g.stride_w;
    float* __restrict column_max = columns + g.pad_left;
    for (int oy = 0; oy < g.oh; ++oy) {
        const PoolRow window = pool_row(g, oy);
        const float* first = plane + std::size_t(window.y_begin) * g.w;
        std::copy(first, first + g.w, column_max);
        for (int y = window.y_begin + 1; y < window.y_end; ++y) {
            const float* __restrict row = plane + std::size_t(y) * g.w;
            for (int x = 0; x < g.w; ++x) column_max[x] = row[x] > column_max[x] ? row[x] : column_max[x];
        }
        float* __restrict best = out + std::size_t(oy) * g.ow;
        for (int ox = 0; ox < g.ow; ++ox) {
            const float* window_columns = columns + ox * stride;
            float value = window_columns[0];
            for (int k = 1; k < size; ++k) value = window_columns[k] > value ? window_columns[k] : value;
            best[ox] = value;
        }
    }
}

using MaxPoolPlaneEval = void (*)(const PoolGeometry&, const float*, float*, float*);

MaxPoolPlaneEval select_max_pool_plane_eval(const PoolGeometry& g) {
    if (g.size_w == 3 && g.stride_w == 2) return max_pool_plane_eval<3, 2>;
    if (g.size_w == 2 && g.stride_w == 2) return max_pool_plane_eval<2, 2>;
    return max_pool_plane_eval<0, 0>;
}

// dout is one (OH,OW) gradient plane; din (H,W) is assigned.
void max_pool_backward_plane(const PoolGeometry& g, const float* dout, const int* argmax, float* din) {
    std::fill(din, din + g.h * g.w, 0.0f);
    for (int o = 0; o < g.oh * g.ow; ++o) din[argmax[o]] += dout[o];
}

// plane is one (H,W) input channel, out its (OH,OW) output: the mean of each window's valid elements,
// summed down the window's rows first, then across its columns. The outputs whose window the padding does
// not clip run as one loop over the row, with the window's width and stride known at compile time for 2/2
// (kSize, kStride; 0: at run time), which the compiler vectorises: gap's four 2x2 pools had taken 60 us of
// its batch-1 forward one output at a time. The same sums in the same order either way.
template <int kSize, int kStride>
void avg_pool_plane(const PoolGeometry& g, const float* plane, float* out, PoolScratch& scratch) {
    const int size = kSize ? kSize : g.size_w, stride = kStride ? kStride : g.stride_w;
    float* __restrict column_sum = scratch.columns;
    const InteriorRange interior = interior_outputs(g.w, size, stride, g.pad_left, g.ow);
    for (int oy = 0; oy < g.oh; ++oy) {
        const PoolRow window = pool_row(g, oy);
        const float* first = plane + std::size_t(window.y_begin) * g.w;
        std::copy(first, first + g.w, column_sum);
        for (int y = window.y_begin + 1; y < window.y_end; ++y) {
            const float* __restrict row = plane + std::size_t(y) * g.w;
            for (int x = 0; x < g.w; ++x) column_sum[x] += row[x];
        }
        const int rows = window.y_end - window.y_begin;
        float* __restrict out_row = out + std::size_t(oy) * g.ow;
        auto clipped = [&](int ox) {
            const auto [x_begin, x_end] = pool_columns(g, ox);
            float sum = 0.0f;
            for (int x = x_begin; x < x_end; ++x) sum += column_sum[x];
            out_row[ox] = sum / float(rows * (x_end - x_begin));
        };
        for (int ox = 0; ox < interior.begin; ++ox) clipped(ox);
        if (interior.begin < interior.end) {
            // An unclipped window lies inside the plane, so the pad, the window and these offsets are all within
            // the row (a model file may declare them near INT_MAX otherwise).
            const float count = float(rows * size);
            const float* window_columns = column_sum - g.pad_left;
            for (int ox = interior.begin; ox < interior.end; ++ox) {
                float sum = 0.0f;
                for (int k = 0; k < size; ++k) sum += window_columns[ox * stride + k];
                out_row[ox] = sum / count;
            }
        }
        for (int ox = interior.end; ox < g.ow; ++ox) clipped(ox);
    }
}

using AvgPoolPlane = void (*)(const PoolGeometry&, const float*, float*, PoolScratch&);

// 2x2 windows, stride 2, tiling the plane exactly: every output row reads two whole input rows, and the planes
// of a batch are one run of row pairs.
bool tiles_by_2x2(const PoolGeometry& g) {
    return g.size_h == 2 && g.size_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_top == 0 && g.pad_left == 0 &&
           g.h == 2 * g.oh && g.w == 2 * g.ow;
}

// in holds row pairs [begin, end) of 2*OW columns each, out their OW-wide output rows: avg_pool_plane's sums in
// its order, as one loop per row pair. Per plane and row, gap's pools on 6x6 and 3x3 maps had cost more in
// loop overhead than in additions (8 us for 128 planes of 6x6).
void avg_pool_2x2_rows(const float* in, int ow, std::size_t begin, std::size_t end, float* out) {
    const std::size_t w = 2 * std::size_t(ow);
    for (std::size_t r = begin; r < end; ++r) {
        const float* __restrict top = in + 2 * r * w;
        const float* __restrict bottom = top + w;
        float* __restrict out_row = out + r * std::size_t(ow);
        for (int ox = 0; ox < ow; ++ox)
            out_row[ox] = (0.0f + (top[2 * ox] + bottom[2 * ox]) + (top[2 * ox + 1] + bottom[2 * ox + 1])) / 4.0f;
    }
}

AvgPoolPlane select_avg_pool_plane(const PoolGeometry& g) {
    if (g.size_w == 2 && g.stride_w == 2) return avg_pool_plane<2, 2>;
    return avg_pool_plane<0, 0>;
}

// dout is one (OH,OW) gradient plane; din (H,W) is assigned: each output row's shares are spread across
// its windows' columns, then added to every row of the window.
void avg_pool_backward_plane(const PoolGeometry& g, const float* dout, float* din, PoolScratch& scratch) {
    float* column_share = scratch.columns;
    std::fill(din, din + g.h * g.w, 0.0f);
    for (int oy = 0; oy < g.oh; ++oy) {
        const PoolRow window = pool_row(g, oy);
        const int rows = window.y_end - window.y_begin;
        std::fill(column_share, column_share + g.w, 0.0f);
        for (int ox = 0; ox < g.ow; ++ox) {
            const auto [x_begin, x_end] = pool_columns(g, ox);
            const float share = dout[std::size_t(oy) * g.ow + ox] / float(rows * (x_end - x_begin));
            for (int x = x_begin; x < x_end; ++x) column_share[x] += share;
        }
        for (int y = window.y_begin; y < window.y_end; ++y) {
            float* row = din + std::size_t(y) * g.w;
            for (int x = 0; x < g.w; ++x) row[x] += column_share[x];
        }
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
    const float* src = in.data();
    float* dst = out.data();
    const bool parallel = in.size() >= kParallelMinElements;
    if (!ctx.training && geometry_.w >= 2 * kLanes) {
        // Rows that fill vectors: the row kernel, which streams the planes as they lie. The block kernel's
        // transposes made five_layer's 48-wide pool at batch 64 1.6x slower (0.86 -> 1.4 ms at 1 thread, the
        // input out of cache); at 24 and 12 wide it is 2.2x and 4.7x faster.
        const MaxPoolPlaneEval plane_kernel = select_max_pool_plane_eval(geometry_);
        // Window columns past the plane: the last window may reach beyond the right padding's end.
        const std::size_t columns = std::size_t(geometry_.pad_left) + std::size_t(geometry_.ow) * geometry_.stride_w +
                                    std::size_t(geometry_.size_w);
#pragma omp parallel num_threads(ctx.threads) if (parallel)
        {
            const std::size_t width = std::max(columns, std::size_t(geometry_.pad_left + geometry_.w));
            PoolScratch scratch(width);
            std::fill(scratch.columns, scratch.columns + width, -std::numeric_limits<float>::infinity());
#pragma omp for schedule(static)
            for (int p = 0; p < planes; ++p)
                plane_kernel(geometry_, src + std::size_t(p) * in_plane, dst + std::size_t(p) * out_plane,
                             scratch.columns);
        }
        return;
    }
    if (ctx.training) argmax_.resize(std::size_t(planes) * out_plane);
    const int blocks = (planes + kLanes - 1) / kLanes;
    const int team = parallel ? std::max(1, std::min(ctx.threads, blocks)) : 1;
    const std::size_t floats = max_pool_block_floats(geometry_), ints = max_pool_block_ints(geometry_);
    if (int(block_values_.size()) < team) block_values_.resize(team);
    if (int(block_indices_.size()) < team) block_indices_.resize(team);
    for (int t = 0; t < team; ++t) {
        if (block_values_[t].size() < floats) block_values_[t].resize(floats);
        if (ctx.training && block_indices_[t].size() < ints) block_indices_[t].resize(ints);
    }
#pragma omp parallel num_threads(team) if (team > 1)
    {
        float* buffers = block_values_[omp_get_thread_num()].data();
        int* indices = block_indices_[omp_get_thread_num()].data();
#pragma omp for schedule(static)
        for (int block = 0; block < blocks; ++block) {
            const int first = block * kLanes, count = std::min(kLanes, planes - first);
            if (ctx.training)
                max_pool_block<true>(geometry_, src + std::size_t(first) * in_plane, count,
                                     dst + std::size_t(first) * out_plane,
                                     argmax_.data() + std::size_t(first) * out_plane, buffers, indices);
            else
                max_pool_block<false>(geometry_, src + std::size_t(first) * in_plane, count,
                                      dst + std::size_t(first) * out_plane, nullptr, buffers, nullptr);
        }
    }
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
    if (tiles_by_2x2(geometry_)) {
        const std::size_t row_pairs = std::size_t(planes) * geometry_.oh;
        const int team = in.size() >= kParallelMinTiledElements ? ctx.threads : 1;
#pragma omp parallel num_threads(team) if (team > 1)
        {
            const int thread = omp_get_thread_num(), count = omp_get_num_threads();
            avg_pool_2x2_rows(src, geometry_.ow, row_pairs * thread / count, row_pairs * (thread + 1) / count, dst);
        }
        return;
    }
#pragma omp parallel num_threads(ctx.threads) if (in.size() >= kParallelMinElements)
    {
        PoolScratch scratch(std::size_t(geometry_.w));
        const AvgPoolPlane pool_plane = select_avg_pool_plane(geometry_);
#pragma omp for schedule(static)
        for (int p = 0; p < planes; ++p)
            pool_plane(geometry_, src + std::size_t(p) * in_plane, dst + std::size_t(p) * out_plane, scratch);
    }
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
#pragma omp parallel num_threads(ctx.threads) if (in.size() >= kParallelMinElements)
    {
        PoolScratch scratch(std::size_t(geometry_.w));
#pragma omp for schedule(static)
        for (int p = 0; p < planes; ++p)
            avg_pool_backward_plane(geometry_, upstream + std::size_t(p) * out_plane,
                                    target + std::size_t(p) * in_plane, scratch);
    }
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

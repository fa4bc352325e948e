#include "fer/conv_kernels.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "conv_small_map.hpp"
#include "eigen_maps.hpp"
#include "simd_lanes.hpp"

namespace fer {

using namespace eigen;  // the matrix maps
using namespace simd;   // Lanes, broadcast

// Below this many multiply-adds a parallel region costs more than it saves (it costs microseconds, and
// far more on a loaded machine); such convolutions, typical of batch-1 inference, run on one thread.
constexpr std::uint64_t kParallelMinMacs = std::uint64_t(1) << 18;

int convolution_threads(const ConvGeometry& g, int threads, int items) {
    const std::uint64_t macs = std::uint64_t(g.n) * g.output_size() * g.patch_size();
    if (macs < kParallelMinMacs) return 1;
    return std::max(1, std::min(threads, items));
}

namespace {

struct IndexRange {
    std::size_t begin, end;
    std::size_t size() const { return end - begin; }
};

// The part of [0, total) that worker `index` of `parts` owns. Chunks are rounded up to `align` so
// that GEMM column blocks start on SIMD-friendly boundaries; trailing workers may get nothing.
IndexRange split_range(std::size_t total, int parts, int index, std::size_t align) {
    std::size_t chunk = (total + std::size_t(parts) - 1) / std::size_t(parts);
    chunk = (chunk + align - 1) / align * align;
    std::size_t begin = std::min(total, chunk * std::size_t(index));
    return {begin, std::min(total, begin + chunk)};
}

// Output positions o along one axis whose input index o*stride - pad + k lies inside [0, in).
IndexRange valid_outputs(int in, int out, int stride, int pad, int k) {
    int first_offset = pad - k;  // o*stride >= first_offset
    int begin = first_offset <= 0 ? 0 : (first_offset + stride - 1) / stride;
    int last_offset = in - 1 + pad - k;  // o*stride <= last_offset
    int end = last_offset < 0 ? 0 : std::min(out, last_offset / stride + 1);
    begin = std::min(begin, out);
    return {std::size_t(begin), std::size_t(std::max(begin, end))};
}

// Row-major matrix view with its own row stride: a tile of columns of a larger matrix.
using ConstStridedMatrixMap = Eigen::Map<const RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// in is one sample (C,H,W); writes output rows [rows.begin, rows.end) of the sample's im2col matrix
// (C*KH*KW, OH*OW) into cols, a (C*KH*KW, rows*OW) block of a matrix whose rows are row_stride apart;
// zero where the window is in the padding.
void im2col_rows(const ConvGeometry& g, const float* in, IndexRange rows, float* cols, std::size_t row_stride) {
    for (int c = 0; c < g.c; ++c) {
        const float* plane = in + std::size_t(c) * g.h * g.w;
        for (int ki = 0; ki < g.kh; ++ki) {
            for (int kj = 0; kj < g.kw; ++kj) {
                float* row = cols + (std::size_t(c * g.kh + ki) * g.kw + kj) * row_stride;
                IndexRange xs = valid_outputs(g.w, g.ow, g.stride_w, g.pad_left, kj);
                for (std::size_t oy = rows.begin; oy < rows.end; ++oy) {
                    float* dst = row + (oy - rows.begin) * g.ow;
                    int iy = int(oy) * g.stride_h - g.pad_top + ki;
                    if (iy < 0 || iy >= g.h) {
                        std::fill(dst, dst + g.ow, 0.0f);
                        continue;
                    }
                    const float* src = plane + std::size_t(iy) * g.w - g.pad_left + kj;
                    std::fill(dst, dst + xs.begin, 0.0f);
                    if (g.stride_w == 1) {
                        std::copy(src + xs.begin, src + xs.end, dst + xs.begin);
                    } else {
                        for (std::size_t ox = xs.begin; ox < xs.end; ++ox) dst[ox] = src[ox * g.stride_w];
                    }
                    std::fill(dst + xs.end, dst + g.ow, 0.0f);
                }
            }
        }
    }
}

// cols is one sample's (C*KH*KW, OH*OW) block of a matrix whose rows are row_stride apart; ASSIGNS
// channel c of din (C,H,W) by summing the columns back onto the pixels they were read from (padded
// positions are dropped).
void col2im_channel(const ConvGeometry& g, const float* cols, int c, float* din, std::size_t row_stride) {
    float* plane = din + std::size_t(c) * g.h * g.w;
    std::fill(plane, plane + std::size_t(g.h) * g.w, 0.0f);
    for (int ki = 0; ki < g.kh; ++ki) {
        for (int kj = 0; kj < g.kw; ++kj) {
            const float* row = cols + (std::size_t(c * g.kh + ki) * g.kw + kj) * row_stride;
            IndexRange xs = valid_outputs(g.w, g.ow, g.stride_w, g.pad_left, kj);
            for (int oy = 0; oy < g.oh; ++oy) {
                int iy = oy * g.stride_h - g.pad_top + ki;
                if (iy < 0 || iy >= g.h) continue;
                const float* src = row + std::size_t(oy) * g.ow;
                float* dst = plane + std::size_t(iy) * g.w - g.pad_left + kj;
                for (std::size_t ox = xs.begin; ox < xs.end; ++ox) dst[ox * g.stride_w] += src[ox];
            }
        }
    }
}

// The work of one pass is cut into (sample, tile of output rows) items; item i is sample i / tiles,
// tile i % tiles. Each item writes its own outputs, so any static split across threads is race-free.
struct TilePlan {
    int rows_per_tile, tiles_per_sample;

    IndexRange rows(const ConvGeometry& g, int tile) const {
        const std::size_t begin = std::size_t(tile) * rows_per_tile;
        return {begin, std::min(std::size_t(g.oh), begin + rows_per_tile)};
    }
};

// A pointwise kernel reads its input in place, so its whole sample is one tile; otherwise a tile holds
// as many whole output rows as fit in tile_floats (at least one). min_tiles cuts a sample into at least
// that many tiles (as the rows allow), so that a batch smaller than the team still keeps it busy.
TilePlan plan_tiles(const ConvGeometry& g, std::size_t tile_floats, int min_tiles = 1) {
    const std::size_t row_floats = g.patch_size() * std::size_t(g.ow);
    int rows = g.is_pointwise() ? g.oh : int(std::clamp<std::size_t>(tile_floats / row_floats, 1, g.oh));
    rows = std::min(rows, std::max(1, (g.oh + min_tiles - 1) / min_tiles));
    return {rows, (g.oh + rows - 1) / rows};
}

// The im2col block of one tile as a (C*KH*KW, rows*OW) matrix: built in buffer, or, for a pointwise
// kernel (buffer null), the input sample itself.
ConstStridedMatrixMap tile_columns(const ConvGeometry& g, const float* sample_in, IndexRange rows, float* buffer) {
    const auto patch = Eigen::Index(g.patch_size()), count = Eigen::Index(rows.size() * g.ow);
    if (!buffer)
        return {sample_in + rows.begin * g.ow, patch, count, Eigen::OuterStride<>(Eigen::Index(g.positions()))};
    im2col_rows(g, sample_in, rows, buffer, std::size_t(count));
    return {buffer, patch, count, Eigen::OuterStride<>(count)};
}

// One sample's out[:, tile] = weight x columns(tile) + bias; in is (C,H,W), out is (OC,OH*OW).
void forward_tile(const ConvGeometry& g, const float* sample_in, const float* weight, const float* bias,
                  float* sample_out, IndexRange rows, float* buffer, const ChannelEpilogue* epilogue) {
    const ConstStridedMatrixMap cols = tile_columns(g, sample_in, rows, buffer);
    ConstMatrixMap weight_matrix(weight, g.oc, Eigen::Index(g.patch_size()));
    auto out_block = MatrixMap(sample_out, g.oc, Eigen::Index(g.positions()))
                         .middleCols(Eigen::Index(rows.begin * g.ow), cols.cols());
    if (bias)
        out_block = ConstVectorMap(bias, g.oc).replicate(1, cols.cols());
    else
        out_block.setZero();
    out_block.noalias() += weight_matrix * cols;
    if (epilogue)
        for (int o = 0; o < g.oc; ++o) {
            float* values = sample_out + std::size_t(o) * g.positions() + rows.begin * g.ow;
            epilogue->apply(o, values, values, rows.size() * g.ow);
        }
}

// One sample's dweight += dout[:, tile] x columns(tile)^T and dbias += row sums of dout[:, tile].
void backward_weights_tile(const ConvGeometry& g, const float* sample_in, const float* sample_dout, float* dweight,
                           float* dbias, IndexRange rows, float* buffer) {
    const ConstStridedMatrixMap cols = tile_columns(g, sample_in, rows, buffer);
    const auto dout_block = ConstMatrixMap(sample_dout, g.oc, Eigen::Index(g.positions()))
                                .middleCols(Eigen::Index(rows.begin * g.ow), cols.cols());
    MatrixMap(dweight, g.oc, Eigen::Index(g.patch_size())).noalias() += dout_block * cols.transpose();
    if (dbias) VectorMap(dbias, g.oc) += dout_block.rowwise().sum();
}

// dcols = weight^T x dout for one sample; dcols is (C*KH*KW, OH*OW).
void backward_input_gemm(const ConvGeometry& g, const float* dout, const float* weight, float* dcols,
                         IndexRange columns) {
    if (columns.size() == 0) return;
    const auto patch = Eigen::Index(g.patch_size()), positions = Eigen::Index(g.positions());
    const auto begin = Eigen::Index(columns.begin), count = Eigen::Index(columns.size());
    ConstMatrixMap weight_matrix(weight, g.oc, patch);
    ConstMatrixMap dout_matrix(dout, g.oc, positions);
    MatrixMap dcol_matrix(dcols, patch, positions);
    dcol_matrix.middleCols(begin, count).noalias() = weight_matrix.transpose() * dout_matrix.middleCols(begin, count);
}

// sums[r] += the sum of row r of rows (count, length), in a plain loop: Eigen's vectorised sum would
// start where its buffer's alignment lets it, which varies from run to run for a workspace buffer, and
// with it the rounding.
void add_row_sums(const float* rows, int count, std::size_t length, float* sums) {
    for (int r = 0; r < count; ++r) {
        const float* row = rows + std::size_t(r) * length;
        float sum = 0.0f;
        for (std::size_t p = 0; p < length; ++p) sum += row[p];
        sums[r] += sum;
    }
}

// ---- sample groups (small maps) ----
// A 6x6 or 3x3 map gives each sample's product only 36 or 9 columns, too few for the GEMM to run at
// speed (gap's 3x3 layers ran at 25-45 GFLOP/s per sample, 75-115 in groups). Such convolutions work on groups of
// samples whose im2col columns sit side by side in one (C*KH*KW, S*OH*OW) matrix; their outputs and output gradients
// pass through an (OC, S*OH*OW) buffer.
struct SampleGroups {
    int size, count;  // samples per group (1: no grouping) and number of groups

    IndexRange samples(const ConvGeometry& g, int group) const {
        const std::size_t begin = std::size_t(group) * size;
        return {begin, std::min(std::size_t(g.n), begin + size)};
    }
    std::size_t width(const ConvGeometry& g) const { return std::size_t(size) * g.positions(); }
};

// Maps up to 8x8 are grouped; from 12x12 up a sample's own product measured as fast as a group's, and
// its row copies beat the tap table.
constexpr std::size_t kGroupMaxPositions = 64;

// Groups of about group_columns columns, as many groups as a multiple of the threads so that a static
// split gives every thread the same work.
SampleGroups plan_groups(const ConvGeometry& g, int threads, std::size_t group_columns) {
    const std::size_t positions = g.positions();
    if (g.n < 2 || positions > kGroupMaxPositions || positions * 2 > group_columns) return {1, g.n};
    const int largest = int(group_columns / positions);
    int count = (g.n + largest - 1) / largest;
    count = (count + threads - 1) / threads * threads;
    const int size = (g.n + count - 1) / count;
    if (size < 2) return {1, g.n};
    return {size, (g.n + size - 1) / size};
}

// On maps this small, im2col_rows' per-row copies are a few floats each and their bookkeeping costs more
// than the GEMM. Instead one table, the same for every channel, gives for each tap (KH*KW) and output
// position (OH*OW) the offset in the input plane that the tap reads, or -1 in the padding.
void build_tap_offsets(const ConvGeometry& g, int* offsets) {
    for (int ki = 0; ki < g.kh; ++ki)
        for (int kj = 0; kj < g.kw; ++kj)
            for (int oy = 0; oy < g.oh; ++oy)
                for (int ox = 0; ox < g.ow; ++ox) {
                    const int iy = oy * g.stride_h - g.pad_top + ki, ix = ox * g.stride_w - g.pad_left + kj;
                    const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
                    *offsets++ = inside ? iy * g.w + ix : -1;
                }
}

// The group's im2col columns, sample after sample, into cols (C*KH*KW, width).
void group_columns(const ConvGeometry& g, const int* tap_offsets, const float* in, IndexRange samples,
                   std::size_t width, float* cols) {
    const std::size_t positions = g.positions(), taps = std::size_t(g.kh) * g.kw, plane = std::size_t(g.h) * g.w;
    for (std::size_t s = 0; s < samples.size(); ++s) {
        const float* sample = in + (samples.begin + s) * g.input_size();
        for (int c = 0; c < g.c; ++c) {
            const float* src = sample + std::size_t(c) * plane;
            for (std::size_t k = 0; k < taps; ++k) {
                float* dst = cols + (std::size_t(c) * taps + k) * width + s * positions;
                const int* offset = tap_offsets + k * positions;
                for (std::size_t p = 0; p < positions; ++p) dst[p] = offset[p] >= 0 ? src[offset[p]] : 0.0f;
            }
        }
    }
}

// gathered (OC, width) <- the group's rows of dout (N,OC,OH*OW), sample after sample.
void gather_group_outputs(const ConvGeometry& g, const float* dout, IndexRange samples, std::size_t width,
                          float* gathered) {
    const std::size_t positions = g.positions();
    for (std::size_t s = 0; s < samples.size(); ++s)
        for (int o = 0; o < g.oc; ++o) {
            const float* src = dout + (samples.begin + s) * g.output_size() + std::size_t(o) * positions;
            std::copy(src, src + positions, gathered + std::size_t(o) * width + s * positions);
        }
}

// out (N,OC,OH,OW) for the group's samples = weight x columns + bias, through result (OC, width).
void forward_group(const ConvGeometry& g, const int* tap_offsets, const float* in, const float* weight,
                   const float* bias, float* out, IndexRange samples, float* cols, float* result,
                   const ChannelEpilogue* epilogue) {
    const std::size_t positions = g.positions(), width = samples.size() * positions;
    group_columns(g, tap_offsets, in, samples, width, cols);
    MatrixMap result_matrix(result, g.oc, Eigen::Index(width));
    if (bias)
        result_matrix = ConstVectorMap(bias, g.oc).replicate(1, Eigen::Index(width));
    else
        result_matrix.setZero();
    result_matrix.noalias() += ConstMatrixMap(weight, g.oc, Eigen::Index(g.patch_size())) *
                               ConstMatrixMap(cols, Eigen::Index(g.patch_size()), Eigen::Index(width));
    for (std::size_t s = 0; s < samples.size(); ++s)
        for (int o = 0; o < g.oc; ++o) {
            const float* src = result + std::size_t(o) * width + s * positions;
            float* dst = out + (samples.begin + s) * g.output_size() + std::size_t(o) * positions;
            std::copy(src, src + positions, dst);
            if (epilogue) epilogue->apply(o, dst, dst, positions);
        }
}

// dweight += dout x columns^T and dbias += row sums of dout over the group's samples.
void backward_weights_group(const ConvGeometry& g, const int* tap_offsets, const float* in, const float* dout,
                            float* dweight, float* dbias, IndexRange samples, float* cols, float* gathered) {
    const std::size_t width = samples.size() * g.positions();
    group_columns(g, tap_offsets, in, samples, width, cols);
    gather_group_outputs(g, dout, samples, width, gathered);
    const ConstMatrixMap dout_matrix(gathered, g.oc, Eigen::Index(width));
    MatrixMap(dweight, g.oc, Eigen::Index(g.patch_size())).noalias() +=
        dout_matrix * ConstMatrixMap(cols, Eigen::Index(g.patch_size()), Eigen::Index(width)).transpose();
    if (dbias) add_row_sums(gathered, g.oc, width, dbias);
}

// din of the group's samples: dcols = weight^T x dout, then each column is summed back onto the pixel
// its tap read (ASSIGNS din).
void backward_input_group(const ConvGeometry& g, const int* tap_offsets, const float* dout, const float* weight,
                          float* din, IndexRange samples, float* dcols, float* gathered) {
    const std::size_t positions = g.positions(), width = samples.size() * positions;
    const std::size_t taps = std::size_t(g.kh) * g.kw, plane = std::size_t(g.h) * g.w;
    gather_group_outputs(g, dout, samples, width, gathered);
    MatrixMap(dcols, Eigen::Index(g.patch_size()), Eigen::Index(width)).noalias() =
        ConstMatrixMap(weight, g.oc, Eigen::Index(g.patch_size())).transpose() *
        ConstMatrixMap(gathered, g.oc, Eigen::Index(width));
    for (std::size_t s = 0; s < samples.size(); ++s) {
        float* sample = din + (samples.begin + s) * g.input_size();
        std::fill(sample, sample + g.input_size(), 0.0f);
        for (int c = 0; c < g.c; ++c) {
            float* dst = sample + std::size_t(c) * plane;
            for (std::size_t k = 0; k < taps; ++k) {
                const float* src = dcols + (std::size_t(c) * taps + k) * width + s * positions;
                const int* offset = tap_offsets + k * positions;
                for (std::size_t p = 0; p < positions; ++p)
                    if (offset[p] >= 0) dst[offset[p]] += src[p];
            }
        }
    }
}

// out rows [rows.begin, rows.end) of (OC, P) = weight (OC, K) x the columns given transposed, cols_t
// (P, K): dot products over K, for maps of at most kDotMaxPositions positions, where a GEMM spends more
// on packing its operands than on the products (gap's 256 -> 7 layer on 3x3: 16 us against 4 us). Blocks
// of 4 outputs x 3 positions keep 12 vector sums in registers, each weight and column vector loaded once
// per block; a partial block repeats its last row or position and drops the copy. Fixed summation order.
constexpr std::size_t kDotMaxPositions = 16;

void dot_product_rows(const float* weight, const float* cols_t, std::size_t k, std::size_t positions, IndexRange rows,
                      const float* bias, float* out) {
    constexpr int kRows = 4, kPositions = 3;
    const std::size_t vector_end = k / kLanes * kLanes;
    for (std::size_t o0 = rows.begin; o0 < rows.end; o0 += kRows)
        for (std::size_t p0 = 0; p0 < positions; p0 += kPositions) {
            const float* w[kRows];
            const float* c[kPositions];
            for (int r = 0; r < kRows; ++r) w[r] = weight + std::min(o0 + r, rows.end - 1) * k;
            for (int q = 0; q < kPositions; ++q) c[q] = cols_t + std::min(p0 + q, positions - 1) * k;
            // The loops unrolled, so that GCC keeps the sums in registers: it had kept acc on the stack, and
            // gap's 128->256 3x3 layer on 3x3 maps took 450 us at batch 1 on AVX2 instead of 130.
            Lanes acc[kRows][kPositions] = {};
            for (std::size_t i = 0; i < vector_end; i += kLanes) {
                Lanes x[kPositions];
#pragma GCC unroll 4
                for (int q = 0; q < kPositions; ++q) std::memcpy(&x[q], c[q] + i, sizeof(Lanes));
#pragma GCC unroll 4
                for (int r = 0; r < kRows; ++r) {
                    Lanes wv;
                    std::memcpy(&wv, w[r] + i, sizeof(Lanes));
#pragma GCC unroll 4
                    for (int q = 0; q < kPositions; ++q) acc[r][q] += wv * x[q];
                }
            }
            for (int r = 0; r < kRows && o0 + r < rows.end; ++r)
                for (int q = 0; q < kPositions && p0 + q < positions; ++q) {
                    float sum = horizontal_sum(acc[r][q]);
                    for (std::size_t i = vector_end; i < k; ++i) sum += w[r][i] * c[q][i];
                    out[(o0 + r) * positions + p0 + q] = sum + (bias ? bias[o0 + r] : 0.0f);
                }
        }
}

// A batch smaller than the team on a small map (batch-1 inference): per sample, the team gathers the
// im2col columns through the tap table, channels split between threads, then splits the product by
// output channels (blocks of 8 rows), so that every thread works on the one sample. Maps of up to
// kDotMaxPositions positions gather the columns transposed, for dot_product_rows.
void forward_small_batch(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                         int team, ConvWorkspace& workspace, const ChannelEpilogue* epilogue) {
    const std::size_t positions = g.positions(), taps = std::size_t(g.kh) * g.kw, plane = std::size_t(g.h) * g.w;
    const std::size_t patch = g.patch_size();
    const bool dots = positions <= kDotMaxPositions;
    workspace.prepare(1, patch * positions, 0);
    int* tap_offsets = workspace.tap_offsets(taps * positions);
    build_tap_offsets(g, tap_offsets);
    float* cols = workspace.columns(0);
    // Element (row r of the im2col matrix, position p) lives at cols[r * row_step + p * position_step].
    const std::size_t row_step = dots ? 1 : positions, position_step = dots ? patch : 1;
    for (int n = 0; n < g.n; ++n) {
        const float* sample = in + std::size_t(n) * g.input_size();
        float* sample_out = out + std::size_t(n) * g.output_size();
#pragma omp parallel num_threads(team) if (team > 1)
        {
#pragma omp for schedule(static)
            for (int c = 0; c < g.c; ++c)
                for (std::size_t k = 0; k < taps; ++k) {
                    float* dst = cols + (std::size_t(c) * taps + k) * row_step;
                    const int* offset = tap_offsets + k * positions;
                    const float* src = sample + std::size_t(c) * plane;
                    for (std::size_t p = 0; p < positions; ++p)
                        dst[p * position_step] = offset[p] >= 0 ? src[offset[p]] : 0.0f;
                }
            const IndexRange rows = split_range(std::size_t(g.oc), omp_get_num_threads(), omp_get_thread_num(), 8);
            if (rows.size() > 0) {
                if (dots) {
                    dot_product_rows(weight, cols, patch, positions, rows, bias, sample_out);
                } else {
                    const auto begin = Eigen::Index(rows.begin), count = Eigen::Index(rows.size());
                    auto out_block = MatrixMap(sample_out, g.oc, Eigen::Index(positions)).middleRows(begin, count);
                    if (bias)
                        out_block = ConstVectorMap(bias + begin, count).replicate(1, Eigen::Index(positions));
                    else
                        out_block.setZero();
                    out_block.noalias() += ConstMatrixMap(weight, g.oc, Eigen::Index(patch)).middleRows(begin, count) *
                                           ConstMatrixMap(cols, Eigen::Index(patch), Eigen::Index(positions));
                }
                if (epilogue)
                    for (std::size_t o = rows.begin; o < rows.end; ++o)
                        epilogue->apply(int(o), sample_out + o * positions, sample_out + o * positions, positions);
            }
        }
    }
}

// Runs kernel(tap_offsets, samples, columns, outputs) once per group, groups split statically over the
// threads; each thread's buffer holds the group's (C*KH*KW, width) columns, then its (OC, width) outputs.
template <typename GroupKernel>
void run_groups(const ConvGeometry& g, const SampleGroups& groups, int threads, ConvWorkspace& workspace,
                const GroupKernel& kernel) {
    const std::size_t width = groups.width(g), outputs_offset = g.patch_size() * width;
    const int team = convolution_threads(g, threads, groups.count);
    workspace.prepare(team, outputs_offset + std::size_t(g.oc) * width, 0);
    int* tap_offsets = workspace.tap_offsets(std::size_t(g.kh) * g.kw * g.positions());
    build_tap_offsets(g, tap_offsets);
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
    for (int group = 0; group < groups.count; ++group) {
        float* buffer = workspace.columns(omp_get_thread_num());
        kernel(tap_offsets, groups.samples(g, group), buffer, buffer + outputs_offset);
    }
}

// The flipped GEMM pays when OC <= C: it then has the larger inner dimension; with more output than input
// channels weight^T x dout followed by col2im measured faster (docs/performance.md).
bool use_direct(const ConvGeometry& g);

// With more output than input channels the flipped convolution still wins when it runs on the direct kernel.
bool input_gradient_as_convolution(const ConvGeometry& g) {
    return has_input_gradient_geometry(g) && (g.oc <= g.c || use_direct(input_gradient_geometry(g)));
}

// weight is (OC,C,KH,KW); flipped is (C,OC,KH,KW) with flipped(c,o,i,j) = weight(o,c,KH-1-i,KW-1-j).
void flip_weights(const ConvGeometry& g, const float* weight, float* flipped) {
    const std::size_t window = std::size_t(g.kh) * g.kw;
    for (int o = 0; o < g.oc; ++o)
        for (int c = 0; c < g.c; ++c) {
            const float* src = weight + (std::size_t(o) * g.c + c) * window;
            float* dst = flipped + (std::size_t(c) * g.oc + o) * window;
            for (std::size_t k = 0; k < window; ++k) dst[k] = src[window - 1 - k];
        }
}

// ---- direct convolution (stride 1) ----
// With few output channels the im2col GEMM does only OC multiply-adds per column element it builds and
// packs, so it is bound by memory traffic. The direct kernel instead keeps a block of direct_block(V)
// output channels x up to 3 vectors of output columns in registers and streams the zero-padded
// input rows past them: one broadcast weight feeds up to 3 FMAs.

// A register block is direct_block(V) output channels x V vectors of output columns (V = 1..kDirectVectors,
// as the row needs): V x B accumulators, the V input vectors and a broadcast weight. With 32 registers B = 8
// (8 x 3 + 3 + 1 = 28). With 16, 3 x 3 + 3 + 1 = 13 (4 x 3, all 16, measured slower); narrower rows take more
// channels, so that there are still at least 8 independent sums to cover the FMA latency (2 per cycle, 4
// cycles each): 6 x 2 + 2 + 1 = 15 and 12 x 1 + 1 + 1 = 14. 3 x 2 left five_layer's 32->64 5x5 layer on
// 12x12 at 97 GFLOP/s, half the peak, at batch 1.
constexpr int kDirectVectors = 3;
constexpr int direct_block(int vectors) {
    if (kVectorRegisters >= 32) return 8;
    return vectors >= 3 ? 3 : vectors == 2 ? 6 : 12;
}
constexpr int kDirectWeightsMaxChannels = 32;

// Where the direct kernel measured faster (docs/performance.md): stride 1, an output row at least one
// vector wide, and up to 16 output channels, or up to 64 when the patch is large enough that building
// and packing im2col columns dominates, or, with 16 registers, when there is one input channel (AVX2:
// five_layer's 1 -> 32 5x5 layer 3.0 -> 2.3 ms at batch 64, 55 -> 40 us at batch 1, once the kernel's
// stores were vector stores; not measured with AVX-512).
bool use_direct(const ConvGeometry& g) {
    if (g.stride_h != 1 || g.stride_w != 1 || g.is_pointwise() || g.ow < kLanes) return false;
    const bool one_channel = g.c == 1 && kVectorRegisters < 32;
    return g.oc <= 16 || (g.oc <= 64 && (g.patch_size() >= 256 || one_channel));
}

// Layout of the padded copy of one sample: (C, OH+KH-1, padded_w), where padded_w also covers the
// last vector's overhang, so every load is in bounds; padding is zero.
struct DirectLayout {
    int vectors, block, padded_h, padded_w;  // block: output channels per register block, direct_block(vectors)
    std::size_t sample_floats(int c) const { return std::size_t(c) * padded_h * padded_w; }
};

DirectLayout direct_layout(const ConvGeometry& g) {
    const int vectors = std::min(kDirectVectors, (g.ow + kLanes - 1) / kLanes);
    const int chunk = vectors * kLanes, chunks = (g.ow + chunk - 1) / chunk;
    return {vectors, direct_block(vectors), g.oh + g.kh - 1, chunks * chunk + g.kw - 1};
}

// in is one sample (C,H,W); padded is its (C, padded_h, padded_w) copy with the conv's leading pads.
void pad_sample(const ConvGeometry& g, const DirectLayout& layout, const float* in, float* padded) {
    std::fill(padded, padded + layout.sample_floats(g.c), 0.0f);
    for (int c = 0; c < g.c; ++c)
        for (int y = 0; y < g.h; ++y) {
            const int py = y + g.pad_top;
            if (py >= layout.padded_h) break;  // 'valid'-like geometries never read these rows
            const float* src = in + (std::size_t(c) * g.h + y) * g.w;
            float* dst = padded + (std::size_t(c) * layout.padded_h + py) * layout.padded_w + g.pad_left;
            std::copy(src, src + std::min(g.w, layout.padded_w - g.pad_left), dst);
        }
}

// One output row oy of output channels [block*B, block*B+B) for one sample (B = direct_block(kVectors)): out is
// (OC,OH,OW).
// kKernel is the kernel's width (and height, when square) fixed at compile time, or 0: with the tap loops
// unrolled a 3x3 layer ran 1.5x faster (docs/performance.md).
template <int kVectors, int kKernel>
void direct_row(const ConvGeometry& g, const DirectLayout& layout, const float* padded, const float* packed_block,
                const float* bias, int block, int oy, float* out, const ChannelEpilogue* epilogue) {
    constexpr int kBlock = direct_block(kVectors);
    const int o_begin = block * kBlock, o_count = std::min(kBlock, g.oc - o_begin);
    for (int x0 = 0; x0 < g.ow; x0 += kVectors * kLanes) {
        Lanes acc[kBlock][kVectors];
        for (int o = 0; o < kBlock; ++o)
            for (int v = 0; v < kVectors; ++v) acc[o][v] = broadcast(bias && o < o_count ? bias[o_begin + o] : 0.0f);
        const float* taps = packed_block;
        const int kh = kKernel && g.kh == kKernel ? kKernel : g.kh, kw = kKernel ? kKernel : g.kw;
        for (int c = 0; c < g.c; ++c)
#pragma GCC unroll 8
            for (int ki = 0; ki < kh; ++ki) {
                const float* row = padded + (std::size_t(c) * layout.padded_h + oy + ki) * layout.padded_w + x0;
#pragma GCC unroll 8
                for (int kj = 0; kj < kw; ++kj, taps += kBlock) {
                    Lanes x[kVectors];
#pragma GCC unroll 4
                    for (int v = 0; v < kVectors; ++v) std::memcpy(&x[v], row + kj + v * kLanes, sizeof(Lanes));
#pragma GCC unroll 12
                    for (int o = 0; o < kBlock; ++o) {
                        const Lanes w = broadcast(taps[o]);
#pragma GCC unroll 4
                        for (int v = 0; v < kVectors; ++v) acc[o][v] += w * x[v];
                    }
                }
            }
        for (int o = 0; o < o_count; ++o) {
            float* dst = out + (std::size_t(o_begin + o) * g.oh + oy) * g.ow + x0;
            for (int v = 0; v < kVectors; ++v) {
                const int valid = std::min(kLanes, g.ow - x0 - v * kLanes);
                if (valid <= 0) break;
                // A copy of constant size is one vector store; with a run-time size GCC emitted rep movs,
                // whose start-up cost was half the time of the 1 -> 32 5x5 layer at batch 1.
                if (valid == kLanes) {
                    std::memcpy(dst + v * kLanes, &acc[o][v], sizeof(Lanes));
                } else {
                    alignas(sizeof(Lanes)) float lanes[kLanes];
                    std::memcpy(lanes, &acc[o][v], sizeof(Lanes));
                    for (int i = 0; i < valid; ++i) dst[v * kLanes + i] = lanes[i];
                }
            }
        }
    }
    if (epilogue)
        for (int o = 0; o < o_count; ++o) {
            float* values = out + (std::size_t(o_begin + o) * g.oh + oy) * g.ow;
            epilogue->apply(o_begin + o, values, values, std::size_t(g.ow));
        }
}

using DirectRow = void (*)(const ConvGeometry&, const DirectLayout&, const float*, const float*, const float*, int, int,
                           float*, const ChannelEpilogue*);

template <int kVectors>
DirectRow direct_row_for_kernel(int kw) {
    switch (kw) {
        case 3:
            return direct_row<kVectors, 3>;
        case 4:
            return direct_row<kVectors, 4>;
        case 5:
            return direct_row<kVectors, 5>;
        case 7:
            return direct_row<kVectors, 7>;
        default:
            return direct_row<kVectors, 0>;
    }
}

DirectRow select_direct_row(const ConvGeometry& g, const DirectLayout& layout) {
    if (layout.vectors == 1) return direct_row_for_kernel<1>(g.kw);
    if (layout.vectors == 2) return direct_row_for_kernel<2>(g.kw);
    return direct_row_for_kernel<3>(g.kw);
}

void direct_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                    int threads, ConvWorkspace& workspace, const ChannelEpilogue* epilogue,
                    std::uint64_t weights_version) {
    const DirectLayout layout = direct_layout(g);
    const int blocks = (g.oc + layout.block - 1) / layout.block;
    float* padded = workspace.padded_input(std::size_t(g.n) * layout.sample_floats(g.c));
    float* packed = workspace.packed_weights(std::size_t(blocks) * g.patch_size() * layout.block);
    // Packing is a tenth of a batch-1 convolution (five_layer's 32->64 5x5 on 12x12: 19 of 170 us).
    if (!workspace.holds_packed_weights(weight, weights_version, WeightPacking::direct)) {
        pack_output_channel_blocks(g, layout.block, weight, packed);
        workspace.set_packed_weights_source(weight, weights_version, WeightPacking::direct);
    }
    // Items are (sample, block, output row): one writer per output element, any static split is race-free.
    const int items = g.n * blocks * g.oh;
    const int team = convolution_threads(g, threads, items);
    const DirectRow row_kernel = select_direct_row(g, layout);
#pragma omp parallel num_threads(team) if (team > 1)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < g.n; ++n)
            pad_sample(g, layout, in + std::size_t(n) * g.input_size(),
                       padded + std::size_t(n) * layout.sample_floats(g.c));
#pragma omp for schedule(static)
        for (int item = 0; item < items; ++item) {
            const int n = item / (blocks * g.oh), block = item / g.oh % blocks, oy = item % g.oh;
            const float* sample = padded + std::size_t(n) * layout.sample_floats(g.c);
            const float* packed_block = packed + std::size_t(block) * g.patch_size() * layout.block;
            float* sample_out = out + std::size_t(n) * g.output_size();
            row_kernel(g, layout, sample, packed_block, bias, block, oy, sample_out, epilogue);
        }
    }
}

// ---- direct weight gradient (stride 1, wide maps) ----
// im2col makes KH*KW copies of every input value, and with few output channels each copy feeds only OC
// multiply-adds, so the weight-gradient GEMM is bound by building and packing them (gap's 16->16 7x7
// layer ran at 49 GFLOP/s against 150 for its forward). The direct kernel keeps a block of output
// channels x the KW taps of one input channel and kernel row in registers, as vectors of partial
// sums over output columns, and streams the sample's rows past them.

// Output channels per register block, B. A pass over the sample holds B channels x T taps of
// accumulators, their B output-gradient vectors and one input vector: with 32 registers B = 3 and a
// 7-wide row in one pass (3 x 7 + 3 + 1 = 25). With 16, one channel's 7 taps fit, but then every FMA
// waits on its own unaligned input load (8 loads for 7 FMAs); B = 2 and two passes of 4 and 3 taps
// (2 x 4 + 2 + 1 = 11 registers) load 6 and 5 vectors for 8 and 6 FMAs. A 5-wide row takes one pass.
constexpr int kWeightsBlock = kVectorRegisters >= 32 ? 3 : 2;

// Taps per pass: the row split into as few passes as fit in the registers, as evenly as possible.
constexpr int weights_taps_per_pass(int kw) {
    const int most = (kVectorRegisters - 1 - kWeightsBlock) / kWeightsBlock;
    const int passes = (kw + most - 1) / most;
    return (kw + passes - 1) / passes;
}

// Where it measured faster (docs/performance.md): 7-wide kernels, stride 1, rows of at least a vector,
// up to 32 output channels. With 3-5 wide kernels the GEMM was as fast or faster: fewer taps share
// each output-gradient load.
bool use_direct_weights(const ConvGeometry& g) {
    const bool wide_enough = g.kw == 7 || (kVectorRegisters < 32 && g.kw == 5);
    return g.stride_h == 1 && g.stride_w == 1 && g.ow >= kLanes && wide_enough && g.oc <= kDirectWeightsMaxChannels;
}

// A sample's buffers: its zero-padded input (the direct forward's layout) and its output gradient as
// (OC rounded up to the block, OH, whole vectors) with zeros past OW and in the extra channels.
struct DirectWeightsLayout {
    DirectLayout input;
    int row_vectors, channels;

    std::size_t row_floats() const { return std::size_t(row_vectors) * kLanes; }
    std::size_t floats(const ConvGeometry& g) const {
        return input.sample_floats(g.c) + std::size_t(channels) * g.oh * row_floats();
    }
};

DirectWeightsLayout direct_weights_layout(const ConvGeometry& g) {
    const int block = kWeightsBlock;
    return {direct_layout(g), (g.ow + kLanes - 1) / kLanes, (g.oc + block - 1) / block * block};
}

// dweight(o, c, i, kFirstTap..kFirstTap+kTaps) += the sample's sum over rows and columns, for o in
// [o_begin, o_begin + block).
template <int KW, int kFirstTap, int kTaps>
void direct_weights_taps(const ConvGeometry& g, const DirectWeightsLayout& layout, const float* padded,
                         const float* dout_rows, int c, int i, int o_begin, float* dweight) {
    constexpr int kBlock = kWeightsBlock;
    const std::size_t row_floats = layout.row_floats(), channel_floats = std::size_t(g.oh) * row_floats;
    Lanes acc[kBlock][kTaps];
    for (int b = 0; b < kBlock; ++b)
        for (int j = 0; j < kTaps; ++j) acc[b][j] = Lanes{};
    for (int y = 0; y < g.oh; ++y) {
        const float* in_row =
            padded + (std::size_t(c) * layout.input.padded_h + y + i) * std::size_t(layout.input.padded_w);
        const float* d_row = dout_rows + std::size_t(o_begin) * channel_floats + std::size_t(y) * row_floats;
        for (int v = 0; v < layout.row_vectors; ++v) {
            Lanes d[kBlock];
#pragma GCC unroll 4
            for (int b = 0; b < kBlock; ++b) {
                std::memcpy(&d[b], d_row + b * channel_floats + v * kLanes, sizeof(Lanes));
                // In a register too in a split row: GCC would fold this load into each of the pass's
                // FMAs. In a whole row, measured the other way round (5-wide, 16 registers: 16 -> 19 ms).
                if constexpr (kTaps < KW) asm("" : "+v"(d[b]));
            }
#pragma GCC unroll 8
            for (int j = 0; j < kTaps; ++j) {
                Lanes x;
                std::memcpy(&x, in_row + v * kLanes + kFirstTap + j, sizeof(Lanes));
                // Loaded once into a register: GCC would otherwise fold the load into each FMA, and
                // these loads straddle cache lines, which costs two load slots each.
                asm("" : "+v"(x));
#pragma GCC unroll 4
                for (int b = 0; b < kBlock; ++b) acc[b][j] += d[b] * x;
            }
        }
    }
    for (int b = 0; b < kBlock && o_begin + b < g.oc; ++b)
        for (int j = 0; j < kTaps; ++j)
            dweight[((std::size_t(o_begin + b) * g.c + c) * g.kh + i) * KW + kFirstTap + j] +=
                horizontal_sum(acc[b][j]);
}

// One sample's dweight and dbias (ACCUMULATED); in is (C,H,W), dout (OC,OH,OW), buffer holds the layout.
template <int KW>
void direct_weights_sample(const ConvGeometry& g, const DirectWeightsLayout& layout, const float* in, const float* dout,
                           float* dweight, float* dbias, float* buffer) {
    float* padded = buffer;
    float* dout_rows = buffer + layout.input.sample_floats(g.c);
    pad_sample(g, layout.input, in, padded);
    const std::size_t row_floats = layout.row_floats();
    std::fill(dout_rows, dout_rows + std::size_t(layout.channels) * g.oh * row_floats, 0.0f);
    for (int o = 0; o < g.oc; ++o)
        for (int y = 0; y < g.oh; ++y) {
            const float* src = dout + (std::size_t(o) * g.oh + y) * g.ow;
            std::copy(src, src + g.ow, dout_rows + (std::size_t(o) * g.oh + y) * row_floats);
        }
    constexpr int kPassTaps = weights_taps_per_pass(KW);
    static_assert(2 * kPassTaps >= KW, "a kernel row takes at most two passes");
    if constexpr (kPassTaps == KW) {
        for (int c = 0; c < g.c; ++c)
            for (int i = 0; i < g.kh; ++i)
                for (int o = 0; o < g.oc; o += kWeightsBlock)
                    direct_weights_taps<KW, 0, KW>(g, layout, padded, dout_rows, c, i, o, dweight);
    } else {
        // Two passes per kernel row read the block's output-gradient planes twice as often, so they
        // are kept in L1 and the input planes streamed past them instead (gap's 16->16 7x7 layer at
        // 48x48, 1 thread: 88 -> 73 ms; in the other order, or for one-pass rows, no faster).
        for (int o = 0; o < g.oc; o += kWeightsBlock)
            for (int c = 0; c < g.c; ++c)
                for (int i = 0; i < g.kh; ++i) {
                    direct_weights_taps<KW, 0, kPassTaps>(g, layout, padded, dout_rows, c, i, o, dweight);
                    direct_weights_taps<KW, kPassTaps, KW - kPassTaps>(g, layout, padded, dout_rows, c, i, o, dweight);
                }
    }
    if (dbias) add_row_sums(dout, g.oc, g.positions(), dbias);
}

void direct_weights(const ConvGeometry& g, const DirectWeightsLayout& layout, const float* in, const float* dout,
                    float* dweight, float* dbias, float* buffer) {
    if (g.kw == 5)
        direct_weights_sample<5>(g, layout, in, dout, dweight, dbias, buffer);
    else
        direct_weights_sample<7>(g, layout, in, dout, dweight, dbias, buffer);  // use_direct_weights: KW is 5 or 7
}

}  // namespace

bool has_input_gradient_geometry(const ConvGeometry& g) {
    return g.stride_h == 1 && g.stride_w == 1 && g.pad_top <= g.kh - 1 && g.pad_left <= g.kw - 1;
}

ConvGeometry input_gradient_geometry(const ConvGeometry& g) {
    return {g.n, g.oc, g.oh, g.ow, g.c, g.kh, g.kw, 1, 1, g.kh - 1 - g.pad_top, g.kw - 1 - g.pad_left, g.h, g.w};
}

void ConvWorkspace::prepare(int threads, std::size_t column_floats, std::size_t partial_floats) {
    if (columns_.size() < std::size_t(threads)) columns_.resize(std::size_t(threads));
    if (partials_.size() < std::size_t(threads)) partials_.resize(std::size_t(threads));
    for (int t = 0; t < threads; ++t) {
        if (columns_[t].size() < column_floats) columns_[t].resize(column_floats);
        if (partials_[t].size() < partial_floats) partials_[t].resize(partial_floats);
    }
}

float* ConvWorkspace::flipped_weights(std::size_t floats) {
    if (flipped_weights_.size() < floats) flipped_weights_.resize(floats);
    return flipped_weights_.data();
}

int* ConvWorkspace::tap_offsets(std::size_t count) {
    if (tap_offsets_.size() < count) tap_offsets_.resize(count);
    return tap_offsets_.data();
}

float* ConvWorkspace::padded_input(std::size_t floats) {
    if (padded_input_.size() < floats) padded_input_.resize(floats);
    return padded_input_.data();
}

float* ConvWorkspace::packed_weights(std::size_t floats) {
    if (packed_weights_.size() < floats) packed_weights_.resize(floats);
    return packed_weights_.data();
}

void pack_output_channel_blocks(const ConvGeometry& g, int block, const float* weight, float* packed) {
    const std::size_t taps = g.patch_size(), blocks = std::size_t(g.oc + block - 1) / block;
    std::fill(packed, packed + blocks * taps * block, 0.0f);
    for (int o = 0; o < g.oc; ++o)
        for (std::size_t t = 0; t < taps; ++t)
            packed[((o / block) * taps + t) * block + o % block] = weight[o * taps + t];
}

// ---- reference kernels ----

void conv2d_forward_reference(const ConvGeometry& g, const float* in, const float* weight, const float* bias,
                              float* out) {
    for (int n = 0; n < g.n; ++n)
        for (int o = 0; o < g.oc; ++o)
            for (int oy = 0; oy < g.oh; ++oy)
                for (int ox = 0; ox < g.ow; ++ox) {
                    double sum = bias ? bias[o] : 0.0;
                    for (int c = 0; c < g.c; ++c)
                        for (int ki = 0; ki < g.kh; ++ki)
                            for (int kj = 0; kj < g.kw; ++kj) {
                                int iy = oy * g.stride_h - g.pad_top + ki, ix = ox * g.stride_w - g.pad_left + kj;
                                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                                sum += double(in[((std::size_t(n) * g.c + c) * g.h + iy) * g.w + ix]) *
                                       weight[((std::size_t(o) * g.c + c) * g.kh + ki) * g.kw + kj];
                            }
                    out[((std::size_t(n) * g.oc + o) * g.oh + oy) * g.ow + ox] = float(sum);
                }
}

void conv2d_backward_input_reference(const ConvGeometry& g, const float* dout, const float* weight, float* din) {
    std::vector<double> sums(std::size_t(g.n) * g.input_size(), 0.0);
    for (int n = 0; n < g.n; ++n)
        for (int o = 0; o < g.oc; ++o)
            for (int oy = 0; oy < g.oh; ++oy)
                for (int ox = 0; ox < g.ow; ++ox) {
                    double upstream = dout[((std::size_t(n) * g.oc + o) * g.oh + oy) * g.ow + ox];
                    for (int c = 0; c < g.c; ++c)
                        for (int ki = 0; ki < g.kh; ++ki)
                            for (int kj = 0; kj < g.kw; ++kj) {
                                int iy = oy * g.stride_h - g.pad_top + ki, ix = ox * g.stride_w - g.pad_left + kj;
                                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                                sums[((std::size_t(n) * g.c + c) * g.h + iy) * g.w + ix] +=
                                    upstream * weight[((std::size_t(o) * g.c + c) * g.kh + ki) * g.kw + kj];
                            }
                }
    std::transform(sums.begin(), sums.end(), din, [](double v) { return float(v); });
}

void conv2d_backward_weights_reference(const ConvGeometry& g, const float* in, const float* dout, float* dweight,
                                       float* dbias) {
    for (int o = 0; o < g.oc; ++o) {
        for (int c = 0; c < g.c; ++c)
            for (int ki = 0; ki < g.kh; ++ki)
                for (int kj = 0; kj < g.kw; ++kj) {
                    double sum = 0.0;
                    for (int n = 0; n < g.n; ++n)
                        for (int oy = 0; oy < g.oh; ++oy)
                            for (int ox = 0; ox < g.ow; ++ox) {
                                int iy = oy * g.stride_h - g.pad_top + ki, ix = ox * g.stride_w - g.pad_left + kj;
                                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                                sum += double(in[((std::size_t(n) * g.c + c) * g.h + iy) * g.w + ix]) *
                                       dout[((std::size_t(n) * g.oc + o) * g.oh + oy) * g.ow + ox];
                            }
                    dweight[((std::size_t(o) * g.c + c) * g.kh + ki) * g.kw + kj] += float(sum);
                }
        if (dbias) {
            double sum = 0.0;
            for (int n = 0; n < g.n; ++n)
                for (std::size_t p = 0; p < g.positions(); ++p)
                    sum += dout[(std::size_t(n) * g.oc + o) * g.positions() + p];
            dbias[o] += float(sum);
        }
    }
}

// ---- fast kernels ----
// Every pass loops over (sample, row tile) items with a static schedule, so a batch spreads whole
// samples over threads and a single image still spreads its tiles over all cores.

void conv2d_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                    int threads, ConvWorkspace& workspace, const ChannelEpilogue* epilogue,
                    std::uint64_t weights_version) {
    if (use_direct(g)) {
        direct_forward(g, in, weight, bias, out, threads, workspace, epilogue, weights_version);
        return;
    }
    if (use_small_map(g)) {
        small_map_forward(g, in, weight, bias, out, threads, workspace, epilogue, weights_version);
        return;
    }
    if (const SampleGroups groups = plan_groups(g, convolution_threads(g, threads, g.n), workspace.group_columns());
        groups.size > 1) {
        run_groups(g, groups, threads, workspace,
                   [&](const int* tap_offsets, IndexRange samples, float* cols, float* result) {
                       forward_group(g, tap_offsets, in, weight, bias, out, samples, cols, result, epilogue);
                   });
        return;
    }
    const bool pointwise = g.is_pointwise();
    // Fewer samples than threads: each sample is cut up so that the whole team works on it.
    const int spread = convolution_threads(g, threads, threads) > g.n ? (threads + g.n - 1) / g.n : 1;
    if (g.positions() <= kGroupMaxPositions && !pointwise && (g.n == 1 || spread > 1)) {
        forward_small_batch(g, in, weight, bias, out, convolution_threads(g, threads, threads), workspace, epilogue);
        return;
    }
    const TilePlan plan = plan_tiles(g, workspace.tile_floats(), spread);
    const int items = g.n * plan.tiles_per_sample;
    const int team = convolution_threads(g, threads, items);
    workspace.prepare(team, pointwise ? 0 : g.patch_size() * std::size_t(plan.rows_per_tile) * g.ow, 0);
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
    for (int item = 0; item < items; ++item) {
        const int n = item / plan.tiles_per_sample;
        forward_tile(g, in + std::size_t(n) * g.input_size(), weight, bias, out + std::size_t(n) * g.output_size(),
                     plan.rows(g, item % plan.tiles_per_sample),
                     pointwise ? nullptr : workspace.columns(omp_get_thread_num()), epilogue);
    }
}

void conv2d_backward_input(const ConvGeometry& g, const float* dout, const float* weight, float* din, int threads,
                           ConvWorkspace& workspace) {
    if (input_gradient_as_convolution(g)) {
        float* flipped = workspace.flipped_weights(g.weight_size());
        flip_weights(g, weight, flipped);
        conv2d_forward(input_gradient_geometry(g), dout, flipped, nullptr, din, threads, workspace);
        return;
    }
    // dcols = weight^T x dout, then col2im scatters the columns back onto din.
    if (const SampleGroups groups = plan_groups(g, convolution_threads(g, threads, g.n), workspace.group_columns());
        groups.size > 1) {
        run_groups(g, groups, threads, workspace,
                   [&](const int* tap_offsets, IndexRange samples, float* dcols, float* gathered) {
                       backward_input_group(g, tap_offsets, dout, weight, din, samples, dcols, gathered);
                   });
        return;
    }
    const std::size_t column_floats = g.patch_size() * g.positions();
    const IndexRange all_columns{0, g.positions()};
    if (g.n >= threads) {
        workspace.prepare(threads, column_floats, 0);
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int n = 0; n < g.n; ++n) {
            float* dcols = workspace.columns(omp_get_thread_num());
            backward_input_gemm(g, dout + std::size_t(n) * g.output_size(), weight, dcols, all_columns);
            for (int c = 0; c < g.c; ++c)
                col2im_channel(g, dcols, c, din + std::size_t(n) * g.input_size(), g.positions());
        }
        return;
    }
    workspace.prepare(1, column_floats, 0);
    for (int n = 0; n < g.n; ++n) {
        const float* sample_dout = dout + std::size_t(n) * g.output_size();
        float* sample_din = din + std::size_t(n) * g.input_size();
        float* dcols = workspace.columns(0);
#pragma omp parallel num_threads(threads)
        {
            IndexRange columns = split_range(g.positions(), omp_get_num_threads(), omp_get_thread_num(), 16);
            backward_input_gemm(g, sample_dout, weight, dcols, columns);
#pragma omp barrier
#pragma omp for schedule(static)
            for (int c = 0; c < g.c; ++c) col2im_channel(g, dcols, c, sample_din, g.positions());
        }
    }
}

void conv2d_backward_weights(const ConvGeometry& g, const float* in, const float* dout, float* dweight, float* dbias,
                             int threads, ConvWorkspace& workspace) {
    const SampleGroups groups = plan_groups(g, convolution_threads(g, threads, g.n), workspace.group_columns());
    const bool direct = use_direct_weights(g), grouped = !direct && groups.size > 1, pointwise = g.is_pointwise();
    const TilePlan plan = plan_tiles(g, workspace.tile_floats());
    const int items = direct ? g.n : grouped ? groups.count : g.n * plan.tiles_per_sample;
    const int team = convolution_threads(g, threads, items);
    const DirectWeightsLayout direct_layout = direct_weights_layout(g);
    const std::size_t width = groups.width(g), gathered_offset = g.patch_size() * width;
    const std::size_t column_floats = direct      ? direct_layout.floats(g)
                                      : grouped   ? gathered_offset + std::size_t(g.oc) * width
                                      : pointwise ? 0
                                                  : g.patch_size() * std::size_t(plan.rows_per_tile) * g.ow;
    int* tap_offsets = nullptr;
    if (grouped) {
        tap_offsets = workspace.tap_offsets(std::size_t(g.kh) * g.kw * g.positions());
        build_tap_offsets(g, tap_offsets);
    }
    auto run_item = [&](int item, float* weight_target, float* bias_target, float* buffer) {
        if (direct) {
            direct_weights(g, direct_layout, in + std::size_t(item) * g.input_size(),
                           dout + std::size_t(item) * g.output_size(), weight_target, bias_target, buffer);
            return;
        }
        if (grouped) {
            backward_weights_group(g, tap_offsets, in, dout, weight_target, bias_target, groups.samples(g, item),
                                   buffer, buffer + gathered_offset);
            return;
        }
        const int n = item / plan.tiles_per_sample;
        backward_weights_tile(g, in + std::size_t(n) * g.input_size(), dout + std::size_t(n) * g.output_size(),
                              weight_target, bias_target, plan.rows(g, item % plan.tiles_per_sample),
                              pointwise ? nullptr : buffer);
    };
    if (team == 1) {
        workspace.prepare(1, column_floats, 0);
        for (int item = 0; item < items; ++item) run_item(item, dweight, dbias, workspace.columns(0));
        return;
    }
    // Each thread sums its own items into a private partial (weight then bias); the partials are then
    // added in thread order, element by element, so the result does not depend on timing.
    const std::size_t weight_floats = g.weight_size(), partial_floats = weight_floats + std::size_t(g.oc);
    workspace.prepare(team, column_floats, partial_floats);
#pragma omp parallel num_threads(team)
    {
        const int thread = omp_get_thread_num(), members = omp_get_num_threads();
        float* partial = workspace.partial(thread);
        std::fill(partial, partial + partial_floats, 0.0f);
#pragma omp for schedule(static)
        for (int item = 0; item < items; ++item)
            run_item(item, partial, dbias ? partial + weight_floats : nullptr, workspace.columns(thread));
        const std::size_t reduced_floats = dbias ? partial_floats : weight_floats;
#pragma omp for schedule(static)
        for (std::size_t i = 0; i < reduced_floats; ++i) {
            float sum = 0.0f;
            for (int t = 0; t < members; ++t) sum += workspace.partial(t)[i];
            if (i < weight_floats)
                dweight[i] += sum;
            else
                dbias[i - weight_floats] += sum;
        }
    }
}

}  // namespace fer

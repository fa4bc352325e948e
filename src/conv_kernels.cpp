#include "fer/conv_kernels.hpp"

#include <omp.h>

#include <algorithm>
#include <utility>

#include "eigen_maps.hpp"

namespace fer {

using namespace eigen;  // the matrix maps

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

// in is one sample (C,H,W); writes channel c's rows of cols (C*KH*KW, OH*OW), zero where padded.
void im2col_channel(const ConvGeometry& g, const float* in, int c, float* cols) {
    const std::size_t positions = g.positions();
    const float* plane = in + std::size_t(c) * g.h * g.w;
    for (int ki = 0; ki < g.kh; ++ki) {
        for (int kj = 0; kj < g.kw; ++kj) {
            float* row = cols + (std::size_t(c * g.kh + ki) * g.kw + kj) * positions;
            IndexRange xs = valid_outputs(g.w, g.ow, g.stride_w, g.pad_left, kj);
            for (int oy = 0; oy < g.oh; ++oy) {
                float* dst = row + std::size_t(oy) * g.ow;
                int iy = oy * g.stride_h - g.pad_top + ki;
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

// cols is (C*KH*KW, OH*OW) for one sample; ASSIGNS channel c of din (C,H,W) by summing the columns
// back onto the pixels they were read from (padded positions are dropped).
void col2im_channel(const ConvGeometry& g, const float* cols, int c, float* din) {
    const std::size_t positions = g.positions();
    float* plane = din + std::size_t(c) * g.h * g.w;
    std::fill(plane, plane + std::size_t(g.h) * g.w, 0.0f);
    for (int ki = 0; ki < g.kh; ++ki) {
        for (int kj = 0; kj < g.kw; ++kj) {
            const float* row = cols + (std::size_t(c * g.kh + ki) * g.kw + kj) * positions;
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

// out[:, columns] = weight x cols[:, columns] + bias for one sample; out is (OC, OH*OW).
void forward_gemm(const ConvGeometry& g, const float* cols, const float* weight, const float* bias, float* out,
                  IndexRange columns) {
    if (columns.size() == 0) return;
    const auto patch = Eigen::Index(g.patch_size()), positions = Eigen::Index(g.positions());
    ConstMatrixMap weight_matrix(weight, g.oc, patch);
    ConstMatrixMap col_matrix(cols, patch, positions);
    MatrixMap out_matrix(out, g.oc, positions);
    auto out_block = out_matrix.middleCols(Eigen::Index(columns.begin), Eigen::Index(columns.size()));
    if (bias)
        out_block = ConstVectorMap(bias, g.oc).replicate(1, Eigen::Index(columns.size()));
    else
        out_block.setZero();
    out_block.noalias() +=
        weight_matrix * col_matrix.middleCols(Eigen::Index(columns.begin), Eigen::Index(columns.size()));
}

// dcols[:, columns] = weight^T x dout[:, columns] for one sample; dcols is (C*KH*KW, OH*OW).
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

// dweight[rows] += dout[rows] x cols^T and dbias[rows] += row sums of dout, for one sample.
void backward_weights_gemm(const ConvGeometry& g, const float* cols, const float* dout, float* dweight, float* dbias,
                           IndexRange rows) {
    if (rows.size() == 0) return;
    const auto patch = Eigen::Index(g.patch_size()), positions = Eigen::Index(g.positions());
    const auto begin = Eigen::Index(rows.begin), count = Eigen::Index(rows.size());
    ConstMatrixMap col_matrix(cols, patch, positions);
    ConstMatrixMap dout_matrix(dout, g.oc, positions);
    MatrixMap dweight_matrix(dweight, g.oc, patch);
    dweight_matrix.middleRows(begin, count).noalias() += dout_matrix.middleRows(begin, count) * col_matrix.transpose();
    if (dbias) VectorMap(dbias, g.oc).segment(begin, count) += dout_matrix.middleRows(begin, count).rowwise().sum();
}

}  // namespace

void ConvWorkspace::prepare(int threads, std::size_t column_floats, std::size_t partial_floats) {
    if (columns_.size() < std::size_t(threads)) columns_.resize(std::size_t(threads));
    if (partials_.size() < std::size_t(threads)) partials_.resize(std::size_t(threads));
    for (int t = 0; t < threads; ++t) {
        if (columns_[t].size() < column_floats) columns_[t].resize(column_floats);
        if (partials_[t].size() < partial_floats) partials_[t].resize(partial_floats);
    }
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
// With at least as many samples as threads each thread takes whole samples (no synchronisation inside
// a sample). With fewer (batch-1 inference), samples run one after another and every thread takes a
// slice of the sample's work, so a single image still uses all cores.

void conv2d_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                    int threads, ConvWorkspace& workspace) {
    const bool pointwise = g.is_pointwise();
    const std::size_t column_floats = pointwise ? 0 : g.patch_size() * g.positions();
    const IndexRange all_columns{0, g.positions()};
    if (g.n >= threads) {
        workspace.prepare(threads, column_floats, 0);
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int n = 0; n < g.n; ++n) {
            const float* sample_in = in + std::size_t(n) * g.input_size();
            const float* cols = sample_in;
            if (!pointwise) {
                float* buffer = workspace.columns(omp_get_thread_num());
                for (int c = 0; c < g.c; ++c) im2col_channel(g, sample_in, c, buffer);
                cols = buffer;
            }
            forward_gemm(g, cols, weight, bias, out + std::size_t(n) * g.output_size(), all_columns);
        }
        return;
    }
    workspace.prepare(1, column_floats, 0);
    for (int n = 0; n < g.n; ++n) {
        const float* sample_in = in + std::size_t(n) * g.input_size();
        const float* cols = pointwise ? sample_in : workspace.columns(0);
#pragma omp parallel num_threads(threads)
        {
            if (!pointwise) {
#pragma omp for schedule(static)
                for (int c = 0; c < g.c; ++c) im2col_channel(g, sample_in, c, workspace.columns(0));
            }
            IndexRange columns = split_range(g.positions(), omp_get_num_threads(), omp_get_thread_num(), 16);
            forward_gemm(g, cols, weight, bias, out + std::size_t(n) * g.output_size(), columns);
        }
    }
}

void conv2d_backward_input(const ConvGeometry& g, const float* dout, const float* weight, float* din, int threads,
                           ConvWorkspace& workspace) {
    const bool pointwise = g.is_pointwise();
    const std::size_t column_floats = pointwise ? 0 : g.patch_size() * g.positions();
    const IndexRange all_columns{0, g.positions()};
    if (g.n >= threads) {
        workspace.prepare(threads, column_floats, 0);
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int n = 0; n < g.n; ++n) {
            const float* sample_dout = dout + std::size_t(n) * g.output_size();
            float* sample_din = din + std::size_t(n) * g.input_size();
            if (pointwise) {
                backward_input_gemm(g, sample_dout, weight, sample_din, all_columns);
                continue;
            }
            float* dcols = workspace.columns(omp_get_thread_num());
            backward_input_gemm(g, sample_dout, weight, dcols, all_columns);
            for (int c = 0; c < g.c; ++c) col2im_channel(g, dcols, c, sample_din);
        }
        return;
    }
    workspace.prepare(1, column_floats, 0);
    for (int n = 0; n < g.n; ++n) {
        const float* sample_dout = dout + std::size_t(n) * g.output_size();
        float* sample_din = din + std::size_t(n) * g.input_size();
        float* dcols = pointwise ? sample_din : workspace.columns(0);
#pragma omp parallel num_threads(threads)
        {
            IndexRange columns = split_range(g.positions(), omp_get_num_threads(), omp_get_thread_num(), 16);
            backward_input_gemm(g, sample_dout, weight, dcols, columns);
            if (!pointwise) {
#pragma omp barrier
#pragma omp for schedule(static)
                for (int c = 0; c < g.c; ++c) col2im_channel(g, dcols, c, sample_din);
            }
        }
    }
}

void conv2d_backward_weights(const ConvGeometry& g, const float* in, const float* dout, float* dweight, float* dbias,
                             int threads, ConvWorkspace& workspace) {
    const bool pointwise = g.is_pointwise();
    const std::size_t column_floats = pointwise ? 0 : g.patch_size() * g.positions();
    const std::size_t weight_floats = g.weight_size();
    if (g.n >= threads) {
        // Each thread sums its own samples into a private partial (weight then bias); the partials are
        // then added in thread order, element by element, so the result does not depend on timing.
        const std::size_t partial_floats = weight_floats + std::size_t(g.oc);
        workspace.prepare(threads, column_floats, partial_floats);
#pragma omp parallel num_threads(threads)
        {
            const int thread = omp_get_thread_num(), team = omp_get_num_threads();
            float* partial = workspace.partial(thread);
            std::fill(partial, partial + partial_floats, 0.0f);
            const IndexRange all_rows{0, std::size_t(g.oc)};
#pragma omp for schedule(static)
            for (int n = 0; n < g.n; ++n) {
                const float* sample_in = in + std::size_t(n) * g.input_size();
                const float* cols = sample_in;
                if (!pointwise) {
                    float* buffer = workspace.columns(thread);
                    for (int c = 0; c < g.c; ++c) im2col_channel(g, sample_in, c, buffer);
                    cols = buffer;
                }
                backward_weights_gemm(g, cols, dout + std::size_t(n) * g.output_size(), partial,
                                      dbias ? partial + weight_floats : nullptr, all_rows);
            }
            const std::size_t reduced_floats = dbias ? partial_floats : weight_floats;
#pragma omp for schedule(static)
            for (std::size_t i = 0; i < reduced_floats; ++i) {
                float sum = 0.0f;
                for (int t = 0; t < team; ++t) sum += workspace.partial(t)[i];
                if (i < weight_floats)
                    dweight[i] += sum;
                else
                    dbias[i - weight_floats] += sum;
            }
        }
        return;
    }
    workspace.prepare(1, column_floats, 0);
    for (int n = 0; n < g.n; ++n) {
        const float* sample_in = in + std::size_t(n) * g.input_size();
        const float* cols = pointwise ? sample_in : workspace.columns(0);
#pragma omp parallel num_threads(threads)
        {
            if (!pointwise) {
#pragma omp for schedule(static)
                for (int c = 0; c < g.c; ++c) im2col_channel(g, sample_in, c, workspace.columns(0));
            }
            // Output channels are split across threads: each weight row has exactly one writer.
            IndexRange rows = split_range(std::size_t(g.oc), omp_get_num_threads(), omp_get_thread_num(), 1);
            backward_weights_gemm(g, cols, dout + std::size_t(n) * g.output_size(), dweight, dbias, rows);
        }
    }
}

}  // namespace fer

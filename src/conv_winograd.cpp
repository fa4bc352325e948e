#include "fer/conv_winograd.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>

#include "simd_lanes.hpp"
#include "transpose.hpp"

namespace fer {

using namespace simd;

namespace {

// ---- the transforms, at compile time ----
// F(m, r) is the transpose of the polynomial product of a kernel (degree r-1) and an output tile (degree
// m-1): both are evaluated at n-1 points and at infinity (the leading coefficient), multiplied, and the
// product's n coefficients recovered by Lagrange interpolation. Small points first: they keep the
// transforms' entries, and so the rounding, small.
// F(4, 7), the only tile with more than 8 points, also takes 5/4 and -5/4: of the pairs tried after the first
// seven points, the most accurate (largest error of gap's 7x7 layer 3.9e-5 of its largest output; 3/4:
// 6.2e-5, 3/2: 1.2e-4, 1/4: 5.3e-4, 3: 4.2e-4, 4: 6.1e-4).
constexpr std::array<double, 9> kPoints = {0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.25, -1.25};

template <int Rows, int Cols>
using DoubleMatrix = std::array<std::array<double, Cols>, Rows>;
template <int Rows, int Cols>
using FloatMatrix = std::array<std::array<float, Cols>, Rows>;

// p^k, with 0^0 = 1.
constexpr double power(double p, int k) {
    double value = 1.0;
    for (int i = 0; i < k; ++i) value *= p;
    return value;
}

template <int M, int R>
struct Transforms {
    static constexpr int N = M + R - 1;
    DoubleMatrix<M, N> at{};
    DoubleMatrix<N, R> g{};
    DoubleMatrix<N, N> bt{};
};

// Multiplies the polynomial poly (coefficients, lowest first, of the given degree) by (x - p).
template <int N>
constexpr void multiply_by_root(std::array<double, N>& poly, int degree, double p) {
    for (int k = degree + 1; k > 0; --k) poly[k] = poly[k - 1] - p * poly[k];
    poly[0] = -p * poly[0];
}

template <int M, int R>
constexpr Transforms<M, R> make_transforms() {
    Transforms<M, R> t;
    constexpr int N = M + R - 1, F = N - 1;  // F finite points, then infinity
    static_assert(F <= int(kPoints.size()), "tile too large for the point set");
    for (int p = 0; p < F; ++p) {
        for (int i = 0; i < M; ++i) t.at[i][p] = power(kPoints[p], i);
        for (int k = 0; k < R; ++k) t.g[p][k] = power(kPoints[p], k);
        // Row p of bt: the Lagrange basis polynomial of point p over the finite points.
        std::array<double, N> basis{};
        basis[0] = 1.0;
        double denominator = 1.0;
        int degree = 0;
        for (int j = 0; j < F; ++j) {
            if (j == p) continue;
            multiply_by_root<N>(basis, degree++, kPoints[j]);
            denominator *= kPoints[p] - kPoints[j];
        }
        for (int k = 0; k < N; ++k) t.bt[p][k] = basis[k] / denominator;
    }
    t.at[M - 1][F] = 1.0;
    t.g[F][R - 1] = 1.0;
    std::array<double, N> all_roots{};  // the product of (x - p) over the finite points
    all_roots[0] = 1.0;
    for (int j = 0; j < F; ++j) multiply_by_root<N>(all_roots, j, kPoints[j]);
    t.bt[F] = all_roots;
    // Each row of bt scaled to a largest entry of 1, the kernel's row scaled by the inverse: the products are
    // the same, and the transformed input keeps the input's magnitude.
    for (int p = 0; p < N; ++p) {
        double largest = 0.0;
        for (double c : t.bt[p]) largest = std::max(largest, c < 0 ? -c : c);
        for (double& c : t.bt[p]) c /= largest;
        for (double& c : t.g[p]) c *= largest;
    }
    return t;
}

template <std::size_t Rows, std::size_t Cols>
constexpr std::array<std::array<float, Cols>, Rows> to_float(const std::array<std::array<double, Cols>, Rows>& m) {
    std::array<std::array<float, Cols>, Rows> f{};
    for (std::size_t i = 0; i < Rows; ++i)
        for (std::size_t j = 0; j < Cols; ++j) f[i][j] = float(m[i][j]);
    return f;
}

// Pairs of points p and -p make mirror images in the transforms, which halve their work:
// - in B^T, the rows of p and -p agree in their even coefficients and are opposite in their odd ones, so
//   with E and O the sums over the even and the odd coefficients, the two outputs are E + O and E - O;
// - in A^T, the columns of p and -p agree in even rows and are opposite in odd ones, so the two inputs
//   enter every even row as their sum and every odd row as their difference.
template <std::size_t Rows, std::size_t K>
struct MirroredRows {
    std::array<int, Rows> mirror_of{};   // the earlier row this row mirrors, or -1
    std::array<bool, Rows> leads{};      // a later row mirrors this one
    FloatMatrix<Rows, K> even{}, odd{};  // each row's even and odd coefficients (the other ones zero)
};

template <std::size_t Rows, std::size_t K>
constexpr MirroredRows<Rows, K> mirror_rows(const FloatMatrix<Rows, K>& t) {
    MirroredRows<Rows, K> m;
    for (std::size_t i = 0; i < Rows; ++i) {
        m.mirror_of[i] = -1;
        for (std::size_t k = 0; k < K; ++k) (k % 2 ? m.odd : m.even)[i][k] = t[i][k];
    }
    for (std::size_t i = 0; i < Rows; ++i)
        for (std::size_t j = 0; j < i && m.mirror_of[i] < 0; ++j) {
            if (m.leads[j] || m.mirror_of[j] >= 0) continue;
            bool mirrored = true, odd_part = false;
            for (std::size_t k = 0; k < K; ++k) {
                const float expected = k % 2 ? -t[j][k] : t[j][k];
                const float difference = t[i][k] - expected;
                mirrored = mirrored && (difference < 0 ? -difference : difference) <= 1e-6f;
                odd_part = odd_part || (k % 2 && t[j][k] != 0.0f);
            }
            if (mirrored && odd_part) m.mirror_of[i] = int(j), m.leads[j] = true;
        }
    return m;
}

template <std::size_t Rows, std::size_t K>
struct MirroredColumns {
    std::array<int, K> partner{};   // for the first column of a pair, its mirror; otherwise -1
    FloatMatrix<Rows, K> folded{};  // the matrix with each pair's second column zeroed
};

template <std::size_t Rows, std::size_t K>
constexpr MirroredColumns<Rows, K> mirror_columns(const FloatMatrix<Rows, K>& t) {
    MirroredColumns<Rows, K> m;
    m.folded = t;
    std::array<bool, K> taken{};
    for (std::size_t p = 0; p < K; ++p) m.partner[p] = -1;
    for (std::size_t q = 0; q < K; ++q)
        for (std::size_t p = 0; p < q && !taken[q]; ++p) {
            if (taken[p]) continue;
            bool mirrored = true, odd_part = false;
            for (std::size_t i = 0; i < Rows; ++i) {
                mirrored = mirrored && t[i][q] == (i % 2 ? -t[i][p] : t[i][p]);
                odd_part = odd_part || (i % 2 && t[i][p] != 0.0f);
            }
            if (!mirrored || !odd_part) continue;
            m.partner[p] = int(q);
            taken[p] = taken[q] = true;
            for (std::size_t i = 0; i < Rows; ++i) m.folded[i][q] = 0.0f;
        }
    return m;
}

template <int M, int R>
struct Winograd {
    static constexpr int N = M + R - 1;
    static constexpr Transforms<M, R> exact = make_transforms<M, R>();
    static constexpr FloatMatrix<M, N> at = to_float(exact.at);
    static constexpr FloatMatrix<N, R> g = to_float(exact.g);
    static constexpr FloatMatrix<N, N> bt = to_float(exact.bt);
    static constexpr MirroredRows<N, N> bt_mirrors = mirror_rows(bt);
    static constexpr MirroredColumns<M, N> at_mirrors = mirror_columns(at);
};

// The pairs (1, -1), (2, -2) and (1/2, -1/2) are found: points 1 and 2 are rows 1 and 3 (columns too).
static_assert(Winograd<4, 5>::bt_mirrors.mirror_of[2] == 1 && Winograd<4, 5>::bt_mirrors.mirror_of[4] == 3 &&
              Winograd<4, 5>::bt_mirrors.mirror_of[6] == 5 && Winograd<4, 5>::bt_mirrors.mirror_of[7] == -1);
static_assert(Winograd<4, 5>::at_mirrors.partner[1] == 2 && Winograd<4, 5>::at_mirrors.partner[3] == 4 &&
              Winograd<4, 5>::at_mirrors.partner[5] == 6 && Winograd<4, 5>::at_mirrors.partner[0] == -1);
// Without -2 (F(3, 3): points 0, 1, -1, 2) the set is not symmetric, and the rows of 1 and -1 are no mirrors.
static_assert(Winograd<4, 3>::bt_mirrors.mirror_of[2] == 1 && Winograd<3, 3>::bt_mirrors.mirror_of[2] == -1);

// sum_k coefs[k] * x[k]. coefs is a row of a constexpr matrix and the loop is unrolled, so the zero and
// unit coefficients fold away at compile time (the transforms are a third zeros), and so does the choice
// of the first term, which starts the sum.
template <std::size_t K>
inline Lanes combine(const std::array<float, K>& coefs, const Lanes* x) {
    Lanes sum = broadcast(0.0f);
    bool started = false;
#pragma GCC unroll 10
    for (std::size_t k = 0; k < K; ++k) {
        const float c = coefs[k];
        if (c == 0.0f) continue;
        const Lanes term = c == 1.0f ? x[k] : c == -1.0f ? -x[k] : broadcast(c) * x[k];
        if (!started) {
            sum = term;
            started = true;
        } else if (c == 1.0f) {
            sum += x[k];
        } else if (c == -1.0f) {
            sum -= x[k];
        } else {
            sum += broadcast(c) * x[k];
        }
    }
    return sum;
}

// out = t x for the input transform's B^T, mirrored rows from their partners' even and odd sums.
template <std::size_t Rows, std::size_t K>
inline void multiply_mirrored_rows(const FloatMatrix<Rows, K>& t, const MirroredRows<Rows, K>& m, const Lanes* x,
                                   Lanes* out) {
    Lanes even[Rows], odd[Rows];
#pragma GCC unroll 10
    for (std::size_t i = 0; i < Rows; ++i) {
        if (m.mirror_of[i] >= 0) {
            out[i] = even[m.mirror_of[i]] - odd[m.mirror_of[i]];
        } else if (m.leads[i]) {
            even[i] = combine<K>(m.even[i], x);
            odd[i] = combine<K>(m.odd[i], x);
            out[i] = even[i] + odd[i];
        } else {
            out[i] = combine<K>(t[i], x);
        }
    }
}

// out = t x for the output transform's A^T, each pair of mirrored columns entering as a sum (even rows) or
// a difference (odd rows).
template <std::size_t Rows, std::size_t K>
inline void multiply_mirrored_columns(const MirroredColumns<Rows, K>& m, const Lanes* x, Lanes* out) {
    Lanes sums[K], differences[K];
#pragma GCC unroll 10
    for (std::size_t p = 0; p < K; ++p) {
        const int q = m.partner[p];
        sums[p] = q >= 0 ? x[p] + x[q] : x[p];
        differences[p] = q >= 0 ? x[p] - x[q] : x[p];
    }
#pragma GCC unroll 10
    for (std::size_t i = 0; i < Rows; ++i) out[i] = combine<K>(m.folded[i], i % 2 ? differences : sums);
}

// The products of one position: out (rows, OCp) = a (rows, C) x b (C, OCp), for kRows rows and kVectors
// vectors of output channels held in registers.
#if defined(__AVX512F__)
constexpr int kProductRows = 8;
#else
constexpr int kProductRows = 6;  // 6 x 2 accumulators + 2 weight vectors + 1 broadcast of 16 registers
#endif
constexpr int kProductVectors = 2;

// ---- the plan of one call ----

struct Plan {
    int m, r, n;
    int tiles_y, tiles_x, tiles_per_sample;
    int channels_padded, outputs_padded;  // C and OC rounded up to the vector width
    int padded_h, padded_w;               // the channel-last input copy: (padded_h, padded_w, channels_padded)
    int staged_h, staged_w;               // the channel-last output: (tiles_y * m, tiles_x * m, outputs_padded)
    int samples_per_block, blocks;
    int group_tiles;  // tiles transformed, multiplied and transformed back at a time (within a block)

    // The tiles of the group from `start` of a run of `tiles`: group_tiles, or all that are left where fewer
    // than half a group more would remain. A short last group reads all the weights again for few tiles, in
    // register blocks of few rows: gap's 32 -> 32 5x5 layer at batch 1, 18 tiles per thread, ran a group of 16
    // and one of 2.
    int group_count(int start, int tiles) const {
        const int left = tiles - start;
        return left < group_tiles + group_tiles / 2 ? left : group_tiles;
    }
    int largest_group() const { return group_tiles + (group_tiles - 1) / 2; }
    int positions() const { return n * n; }
    int output_vectors() const { return outputs_padded / kLanes; }
    std::size_t padded_floats() const { return std::size_t(padded_h) * padded_w * channels_padded; }
    std::size_t staged_floats() const { return std::size_t(staged_h) * staged_w * outputs_padded; }
    std::size_t transformed_floats() const { return std::size_t(positions()) * largest_group() * channels_padded; }
    std::size_t products_floats() const { return std::size_t(positions()) * largest_group() * outputs_padded; }
};

int round_up(int value, int multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

// A block of samples is transformed, multiplied and transformed back at once: enough tiles that the products
// have rows for the register blocks, few enough that the block's tiles stay in L2. Every block reads all the
// transformed weights, n^2 C OCp floats, against n^2 (C + OCp) floats of its own per tile: where the weights
// are larger than kBlockMaxFloats of tiles, blocks grow to C OCp / (C + OCp) tiles (up to kBlockLargeFloats),
// so that the weights cost no more traffic than the tiles. gap's 128 -> 256 layer on 3x3 maps, batch 64,
// blocks of 13 samples: its products ran at a third of the peak, bound by reading the 3.3 MB of weights.
constexpr int kBlockMinTiles = 32;
// Within a block the tiles go through the steps a group at a time, so that the transformed tiles and their
// products stay in L2 between the steps: in a whole forward every layer's buffers are cold otherwise (gap's
// 7x7 layer at batch 1 took 150 us in the network against 89 alone, writing 0.9 MB of them per thread). The
// groups are at least C OCp / (C + OCp) tiles, as the blocks, so the weights are not read again for few.
constexpr int kGroupMinTiles = 16;
constexpr std::size_t kBlockMaxFloats = std::size_t(1) << 17;
constexpr std::size_t kBlockLargeFloats = std::size_t(1) << 19;

// The blocks are a multiple of the team where the batch allows, so that the threads get equal shares.
Plan make_plan(const ConvGeometry& g, int m, int threads) {
    Plan p{};
    p.m = m;
    p.r = g.kh;
    p.n = m + g.kh - 1;
    p.tiles_y = (g.oh + m - 1) / m;
    p.tiles_x = (g.ow + m - 1) / m;
    p.tiles_per_sample = p.tiles_y * p.tiles_x;
    p.channels_padded = round_up(g.c, kLanes);
    p.outputs_padded = round_up(g.oc, kLanes);
    p.padded_h = p.tiles_y * m + p.r - 1;
    p.padded_w = p.tiles_x * m + p.r - 1;
    p.staged_h = p.tiles_y * m;
    p.staged_w = p.tiles_x * m;
    const std::size_t sample_floats =
        std::size_t(p.positions()) * (p.channels_padded + p.outputs_padded) * p.tiles_per_sample;
    const int reuse_tiles =
        int(std::size_t(p.channels_padded) * p.outputs_padded / std::size_t(p.channels_padded + p.outputs_padded));
    const int wanted = (std::max(kBlockMinTiles, reuse_tiles) + p.tiles_per_sample - 1) / p.tiles_per_sample;
    const int fit =
        std::max(int(kBlockMaxFloats / sample_floats), std::min(wanted, int(kBlockLargeFloats / sample_floats)));
    const int largest = std::clamp(std::min(wanted, fit), 1, std::max(1, g.n));
    const int team = std::clamp(threads, 1, std::max(1, g.n));
    const int rounds = (g.n + team * largest - 1) / (team * largest);
    p.samples_per_block = std::max(1, (g.n + team * rounds - 1) / (team * rounds));
    p.blocks = (g.n + p.samples_per_block - 1) / p.samples_per_block;
    p.group_tiles = std::min(p.samples_per_block * p.tiles_per_sample,
                             round_up(std::max(kGroupMinTiles, reuse_tiles), kProductRows));
    return p;
}

// ---- the steps, on one block of samples ----

// One tile's vector of channels: patch is its n x n corner in the padded copy; writes B^T d B to
// transformed[pos * position_stride] for the n^2 positions. (The unrolling covers the largest tile, n = 10:
// a partly unrolled loop leaves the coefficients to run time, which made F(4, 7) four times slower.)
template <int M, int R>
void transform_input_tile(const Plan& p, const float* patch, float* transformed, std::size_t position_stride) {
    using W = Winograd<M, R>;
    constexpr int N = W::N;
    const std::size_t row_stride = std::size_t(p.padded_w) * p.channels_padded, column_stride = p.channels_padded;
    Lanes rows_done[N][N];  // B^T d: [i][x]
#pragma GCC unroll 10
    for (int x = 0; x < N; ++x) {
        Lanes column[N], done[N];
#pragma GCC unroll 10
        for (int k = 0; k < N; ++k) column[k] = load(patch + k * row_stride + x * column_stride);
        multiply_mirrored_rows(W::bt, W::bt_mirrors, column, done);
#pragma GCC unroll 10
        for (int i = 0; i < N; ++i) rows_done[i][x] = done[i];
    }
#pragma GCC unroll 10
    for (int i = 0; i < N; ++i) {
        Lanes done[N];
        multiply_mirrored_rows(W::bt, W::bt_mirrors, rows_done[i], done);
#pragma GCC unroll 10
        for (int j = 0; j < N; ++j) store(transformed + std::size_t(i * N + j) * position_stride, done[j]);
    }
}

// A^T P A on vectors, plus bias: products holds the n^2 positions' vectors, position_stride apart; the m x m
// results go to `to`, element (i, j) at to + i * row_stride + j * column_stride. The forward's output tile
// (one vector of output channels, into the channel-last output) and, with Winograd<r, m>, the weight
// gradient's last step (one vector of input channels of the summed products, into r x r taps).
template <int M, int R>
void transform_back(const float* products, std::size_t position_stride, const Lanes& bias, float* to,
                    std::size_t row_stride, std::size_t column_stride) {
    using W = Winograd<M, R>;
    constexpr int N = W::N;
    Lanes rows_done[M][N];  // A^T P: [i][x]
#pragma GCC unroll 10
    for (int x = 0; x < N; ++x) {
        Lanes column[N], done[M];
#pragma GCC unroll 10
        for (int k = 0; k < N; ++k) column[k] = load(products + std::size_t(k * N + x) * position_stride);
        multiply_mirrored_columns(W::at_mirrors, column, done);
#pragma GCC unroll 10
        for (int i = 0; i < M; ++i) rows_done[i][x] = done[i];
    }
    // Loops of constant length, so that the coefficients fold.
#pragma GCC unroll 10
    for (int i = 0; i < M; ++i) {
        Lanes done[M];
        multiply_mirrored_columns(W::at_mirrors, rows_done[i], done);
#pragma GCC unroll 10
        for (int j = 0; j < M; ++j) store(to + i * row_stride + j * column_stride, done[j] + bias);
    }
}

// One tile's vector of output channels: products[pos * position_stride] are its n^2 products; writes
// A^T . A plus bias, m x m vectors, to staged (the tile's corner in the channel-last output).
template <int M, int R>
void transform_output_tile(const Plan& p, const float* products, std::size_t position_stride, const Lanes& bias,
                           float* staged) {
    transform_back<M, R>(products, position_stride, bias, staged, std::size_t(p.staged_w) * p.outputs_padded,
                         p.outputs_padded);
}

// G k G^T on vectors: k is R x R vectors (element (a, b) at taps + a * row_stride + b * column_stride), the
// n^2 results go position_stride apart. For a layer's weights (R x R, one input channel and a vector of output
// channels, gathered) this is the kernel transform; with the roles of m and r swapped (Winograd<r, m>) it is
// the transform of an m x m tile of dout for the weight gradient. Training runs it on every step, so it runs
// on vectors with the coefficients folded.
template <int M, int R>
void transform_kernel(const float* taps, std::size_t row_stride, std::size_t column_stride, float* u,
                      std::size_t position_stride) {
    using W = Winograd<M, R>;
    constexpr int N = W::N;
    Lanes half[R][N];  // (G k)^T: [b][i], so that each row of G meets a contiguous column of taps
#pragma GCC unroll 10
    for (int b = 0; b < R; ++b) {
        Lanes column[R];
#pragma GCC unroll 10
        for (int a = 0; a < R; ++a) column[a] = load(taps + a * row_stride + b * column_stride);
#pragma GCC unroll 10
        for (int i = 0; i < N; ++i) half[b][i] = combine<R>(W::g[i], column);
    }
#pragma GCC unroll 10
    for (int i = 0; i < N; ++i) {
        Lanes row[R];
#pragma GCC unroll 10
        for (int b = 0; b < R; ++b) row[b] = half[b][i];
#pragma GCC unroll 10
        for (int j = 0; j < N; ++j) store(u + std::size_t(i * N + j) * position_stride, combine<R>(W::g[j], row));
    }
}

// A^T S A for the weight gradient, with Winograd<r, m>'s A^T (r x n): sums holds the n^2 positions' sums
// (vectors of input channels, position_stride apart), gradient gets the r x r taps' vectors one after another.
template <int M, int R>
void transform_gradient(const float* sums, std::size_t position_stride, float* gradient) {
    transform_back<M, R>(sums, position_stride, broadcast(0.0f), gradient, std::size_t(M) * kLanes, kLanes);
}

// out (kRows, kVectors vectors) = a (kRows, depth) x b (depth, kVectors vectors), or += with kAccumulate; a's
// element (row, k) is at a[row * a_row + k * a_depth], b's row k at b + k * b_stride.
template <int kRows, int kVectors, bool kAccumulate>
void multiply_block(const float* a, std::size_t a_row, std::size_t a_depth, const float* b, std::size_t b_stride,
                    int depth, float* out, std::size_t out_stride) {
    Lanes acc[kRows][kVectors];
#pragma GCC unroll 10
    for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < kVectors; ++v)
            acc[r][v] = kAccumulate ? load(out + r * out_stride + v * kLanes) : broadcast(0.0f);
    for (int k = 0; k < depth; ++k) {
        Lanes weights[kVectors];
#pragma GCC unroll 4
        for (int v = 0; v < kVectors; ++v) weights[v] = load(b + std::size_t(k) * b_stride + v * kLanes);
#pragma GCC unroll 10
        for (int r = 0; r < kRows; ++r) {
            const Lanes input = broadcast(a[r * a_row + k * a_depth]);
#pragma GCC unroll 4
            for (int v = 0; v < kVectors; ++v) acc[r][v] += input * weights[v];
        }
    }
#pragma GCC unroll 10
    for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < kVectors; ++v) store(out + r * out_stride + v * kLanes, acc[r][v]);
}

using MultiplyBlock = void (*)(const float*, std::size_t, std::size_t, const float*, std::size_t, int, float*,
                               std::size_t);

template <int kVectors, bool kAccumulate, int... kRows>
constexpr std::array<MultiplyBlock, sizeof...(kRows)> multiply_blocks(std::integer_sequence<int, kRows...>) {
    return {multiply_block<kRows + 1, kVectors, kAccumulate>...};
}

// out (rows, vector range) = or += a (rows, depth) x b (depth, vectors), in register blocks of kProductRows rows
// and kProductVectors vectors (one vector at an odd end); a's element (row, k) at a[row * a_row + k * a_depth].
template <bool kAccumulate>
void multiply(int rows, int depth, const float* a, std::size_t a_row, std::size_t a_depth, const float* b,
              std::size_t b_stride, float* out, std::size_t out_stride, std::pair<int, int> vectors) {
    static constexpr auto two_vectors =
        multiply_blocks<kProductVectors, kAccumulate>(std::make_integer_sequence<int, kProductRows>{});
    static constexpr auto one_vector = multiply_blocks<1, kAccumulate>(std::make_integer_sequence<int, kProductRows>{});
    for (int row = 0; row < rows; row += kProductRows) {
        const int block = std::min(kProductRows, rows - row);
        const float* a_block = a + std::size_t(row) * a_row;
        float* out_block = out + std::size_t(row) * out_stride;
        int v = vectors.first;
        for (; v + kProductVectors <= vectors.second; v += kProductVectors)
            two_vectors[block - 1](a_block, a_row, a_depth, b + v * kLanes, b_stride, depth, out_block + v * kLanes,
                                   out_stride);
        for (; v < vectors.second; ++v)
            one_vector[block - 1](a_block, a_row, a_depth, b + v * kLanes, b_stride, depth, out_block + v * kLanes,
                                  out_stride);
    }
}

// products[pos] (tiles, OCp) = transformed[pos] (tiles, Cp) x u[pos] (C, OCp) for one position, output-channel
// vectors [vectors.first, vectors.second).
void multiply_position(const ConvGeometry& g, const Plan& p, int tiles, const float* transformed, const float* u,
                       float* products, std::pair<int, int> vectors) {
    multiply<false>(tiles, g.c, transformed, p.channels_padded, 1, u, p.outputs_padded, products, p.outputs_padded,
                    vectors);
}

struct TileKernels {
    void (*input)(const Plan&, const float*, float*, std::size_t);
    void (*output)(const Plan&, const float*, std::size_t, const Lanes&, float*);
    void (*kernel)(const float*, std::size_t, std::size_t, float*, std::size_t);
    // The weight gradient's, from F(r, m): the transform of a dout tile and the final A^T S A.
    void (*dout)(const float*, std::size_t, std::size_t, float*, std::size_t);
    void (*gradient)(const float*, std::size_t, float*);
};

template <int M, int R>
WinogradTransform exact_transform() {
    constexpr Transforms<M, R> t = Winograd<M, R>::exact;
    constexpr int N = M + R - 1;
    WinogradTransform w{M, R, N, {}, {}, {}};
    for (const auto& row : t.at) w.at.insert(w.at.end(), row.begin(), row.end());
    for (const auto& row : t.g) w.g.insert(w.g.end(), row.begin(), row.end());
    for (const auto& row : t.bt) w.bt.insert(w.bt.end(), row.begin(), row.end());
    return w;
}

// One tile size built: F(m, r), its kernels and its transforms.
struct TileSize {
    int m, r;
    TileKernels kernels;
    WinogradTransform (*transform)();
};

// The weight gradient runs F(r, m) on the forward's input tiles, which takes the same input transform: both
// interpolate at the same n points.
template <int M, int R>
constexpr TileSize tile_size() {
    static_assert(Winograd<M, R>::bt == Winograd<R, M>::bt);
    return {M,
            R,
            {transform_input_tile<M, R>, transform_output_tile<M, R>, transform_kernel<M, R>, transform_kernel<R, M>,
             transform_gradient<R, M>},
            exact_transform<M, R>};
}

// F(6, 3) measured slower than F(4, 3) at batch 1 on 12x12 maps and than F(3, 3) on 6x6 ones (its
// transformed weights are 1.8x larger, and a batch-1 product reads them for only a few tiles), so it is
// not built. For 7x7 kernels F(2, 7) took 2.7x the direct kernel's time on gap's 16 -> 16 layer (with 16
// channels its transforms cost as much as the products); F(4, 7) takes 0.55x, at 6e-5 of the largest output
// against 7e-6 for the others (its ten points include 5/4 and -5/4; 4 and -4 gave 6e-4).
constexpr std::array<TileSize, 7> kTileSizes = {tile_size<4, 3>(), tile_size<3, 3>(), tile_size<5, 4>(),
                                                tile_size<3, 4>(), tile_size<4, 5>(), tile_size<2, 5>(),
                                                tile_size<4, 7>()};

const TileSize& find_tile_size(int m, int r) {
    for (const TileSize& size : kTileSizes)
        if (size.m == m && size.r == r) return size;
    throw std::invalid_argument("winograd: no F(" + std::to_string(m) + ", " + std::to_string(r) + ") kernel");
}

// Everything one call needs.
struct Job {
    const ConvGeometry& g;
    const Plan& p;
    TileKernels kernels;
    const float* in;
    const float* u;
    const float* bias;
    float* out;
    const ChannelEpilogue* epilogue;
};

// One thread's buffers for a block.
struct BlockBuffers {
    float *padded, *transformed, *products, *staged;
    float* sums;  // the weight gradient's: (positions, OC, Cp), this thread's share of the batch
};

// A range of tile rows of each sample: a batch of one can be split between threads by rows of tiles.
struct TileRows {
    int begin, end;
    int count() const { return end - begin; }
};

// Tile `tile` of a block (its samples' tiles in the rows of the range): its sample and its place in the map.
struct TilePlace {
    int sample, ty, tx;
};

TilePlace tile_place(const Plan& p, TileRows rows, int tile) {
    const int per_sample = rows.count() * p.tiles_x, rest = tile % per_sample;
    return {tile / per_sample, rows.begin + rest / p.tiles_x, rest % p.tiles_x};
}

// The tile's top-left corner in a channel-last buffer of the block's samples, each sample_floats long with
// rows `width` positions of `channels` floats: the padded input or the staged output (or dout).
template <class Float>
Float* tile_corner(Float* buffer, std::size_t sample_floats, int width, int channels, const Plan& p, TilePlace at) {
    return buffer + std::size_t(at.sample) * sample_floats +
           (std::size_t(at.ty * p.m) * width + at.tx * p.m) * channels;
}

// The input of samples [first, first + samples) under the tile rows, channel-last with the leading pads (zero
// elsewhere and past C), into buffers.padded.
void pad_inputs(const ConvGeometry& g, const Plan& p, const float* in, int first, int samples, TileRows rows,
                const BlockBuffers& buffers) {
    const int row_begin = rows.begin * p.m, row_end = std::min(p.padded_h, rows.end * p.m + p.r - 1);
    const std::size_t row_floats = std::size_t(p.padded_w) * p.channels_padded;
    for (int s = 0; s < samples; ++s) {
        const float* sample_in = in + std::size_t(first + s) * g.input_size();
        float* padded = buffers.padded + std::size_t(s) * p.padded_floats();
        std::fill(padded + row_begin * row_floats, padded + row_end * row_floats, 0.0f);
        const int columns = std::min(g.w, p.padded_w - g.pad_left);
        for (int y = std::max(0, row_begin - g.pad_top); y < g.h; ++y) {
            const int py = y + g.pad_top;
            if (py >= row_end) break;  // 'valid'-like geometries never read the last rows
            transpose(sample_in + std::size_t(y) * g.w, std::size_t(g.h) * g.w,
                      padded + (std::size_t(py) * p.padded_w + g.pad_left) * p.channels_padded, p.channels_padded, g.c,
                      columns);
        }
    }
}

// B^T d B of the block's tiles [first_tile, first_tile + count) into buffers.transformed: (positions, count,
// Cp).
void transform_input_tiles(const Plan& p, const TileKernels& kernels, TileRows rows, int first_tile, int count,
                           const BlockBuffers& buffers) {
    const std::size_t input_stride = std::size_t(count) * p.channels_padded;
    for (int tile = 0; tile < count; ++tile) {
        const float* corner = tile_corner(buffers.padded, p.padded_floats(), p.padded_w, p.channels_padded, p,
                                          tile_place(p, rows, first_tile + tile));
        for (int c = 0; c < p.channels_padded; c += kLanes)
            kernels.input(p, corner + c, buffers.transformed + std::size_t(tile) * p.channels_padded + c, input_stride);
    }
}

// The steps of one block of samples [first, first + samples), for output-channel vectors [vectors.first,
// vectors.second) and the tile rows in range, in the thread's own buffers: a thread can run a whole block
// alone, or the team can split a block's output channels (each thread transforming the whole input) or, for a
// block of one sample, its rows of tiles; no barrier between the steps either way.
void run_block(const Job& job, int first, int samples, std::pair<int, int> vectors, TileRows rows,
               const BlockBuffers& buffers) {
    const ConvGeometry& g = job.g;
    const Plan& p = job.p;
    const int tiles = samples * rows.count() * p.tiles_x;
    if (tiles == 0) return;
    pad_inputs(g, p, job.in, first, samples, rows, buffers);
    auto bias_vector = [&](int v) {
        alignas(sizeof(Lanes)) float lanes[kLanes] = {};
        if (job.bias)
            for (int lane = 0; lane < kLanes && v * kLanes + lane < g.oc; ++lane)
                lanes[lane] = job.bias[v * kLanes + lane];
        return load(lanes);
    };
    for (int group = 0, count = 0; group < tiles; group += count) {
        count = p.group_count(group, tiles);
        transform_input_tiles(p, job.kernels, rows, group, count, buffers);
        const std::size_t input_stride = std::size_t(count) * p.channels_padded;
        const std::size_t output_stride = std::size_t(count) * p.outputs_padded;
        for (int position = 0; position < p.positions(); ++position)
            multiply_position(g, p, count, buffers.transformed + position * input_stride,
                              job.u + std::size_t(position) * g.c * p.outputs_padded,
                              buffers.products + position * output_stride, vectors);
        for (int v = vectors.first; v < vectors.second; ++v) {
            const Lanes bias = bias_vector(v);
            for (int tile = 0; tile < count; ++tile) {
                float* corner = tile_corner(buffers.staged, p.staged_floats(), p.staged_w, p.outputs_padded, p,
                                            tile_place(p, rows, group + tile)) +
                                v * kLanes;
                job.kernels.output(p, buffers.products + std::size_t(tile) * p.outputs_padded + v * kLanes,
                                   output_stride, bias, corner);
            }
        }
    }
    // Back to (OC, OH, OW), one output row of the thread's channels at a time, and the epilogue on it.
    const int oc_begin = vectors.first * kLanes, oc_end = std::min(g.oc, vectors.second * kLanes);
    if (oc_begin >= oc_end) return;
    for (int s = 0; s < samples; ++s) {
        float* sample_out = job.out + std::size_t(first + s) * g.output_size();
        const float* staged = buffers.staged + std::size_t(s) * p.staged_floats();
        for (int oy = rows.begin * p.m; oy < std::min(g.oh, rows.end * p.m); ++oy) {
            float* row = sample_out + std::size_t(oc_begin) * g.positions() + std::size_t(oy) * g.ow;
            transpose(staged + std::size_t(oy) * p.staged_w * p.outputs_padded + oc_begin, p.outputs_padded, row,
                      g.positions(), g.ow, oc_end - oc_begin);
            if (job.epilogue)
                for (int o = oc_begin; o < oc_end; ++o)
                    job.epilogue->apply(o, row + std::size_t(o - oc_begin) * g.positions(),
                                        row + std::size_t(o - oc_begin) * g.positions(), std::size_t(g.ow));
        }
    }
}

// Grows each of the team's threads' buffers in workspace for a block of p (they only grow, so a warm pass
// allocates nothing); the weight gradient's per-thread sums too when sums_floats is non-zero. Every thread
// has its own buffers, also where threads split a block's output channels: shared products would put two
// threads' stores in the same cache lines (2-thread batch-1 products took 1.3x the 1-thread time for half the
// work).
void grow_thread_buffers(const Plan& p, int team, WinogradWorkspace& workspace, std::size_t sums_floats = 0) {
    for (auto* buffer :
         {&workspace.padded, &workspace.transformed, &workspace.products, &workspace.staged, &workspace.sums})
        if (int(buffer->size()) < team) buffer->resize(team);
    auto grow = [](std::vector<float>& v, std::size_t floats) {
        if (v.size() < floats) v.resize(floats);
    };
    for (int t = 0; t < team; ++t) {
        grow(workspace.padded[t], std::size_t(p.samples_per_block) * p.padded_floats());
        grow(workspace.transformed[t], p.transformed_floats());
        grow(workspace.products[t], p.products_floats());
        grow(workspace.staged[t], std::size_t(p.samples_per_block) * p.staged_floats());
        grow(workspace.sums[t], sums_floats);
    }
}

// Thread `thread`'s buffers, grown by grow_thread_buffers.
BlockBuffers thread_buffers(WinogradWorkspace& workspace, int thread) {
    return {workspace.padded[thread].data(), workspace.transformed[thread].data(), workspace.products[thread].data(),
            workspace.staged[thread].data(), workspace.sums[thread].data()};
}

// The weight gradient's products of one block of samples [first, first + samples), added to sums (positions,
// OC, Cp): the input tiles as the forward transforms them, dout channel-last (zero past OH, OW and OC) with
// each m x m tile transformed by Winograd<r, m>'s G, then per position sums (OC, Cp) += U^T (OC, tiles) x
// V (tiles, Cp), a group of tiles at a time (the sums still run over the tiles in order).
void gradient_block(const ConvGeometry& g, const Plan& p, const TileKernels& kernels, const float* in,
                    const float* dout, int first, int samples, const BlockBuffers& buffers) {
    const TileRows rows{0, p.tiles_y};
    const int tiles = samples * p.tiles_per_sample;
    pad_inputs(g, p, in, first, samples, rows, buffers);
    for (int s = 0; s < samples; ++s) {
        const float* sample_dout = dout + std::size_t(first + s) * g.output_size();
        float* staged = buffers.staged + std::size_t(s) * p.staged_floats();
        std::fill(staged, staged + p.staged_floats(), 0.0f);
        for (int oy = 0; oy < g.oh; ++oy)
            transpose(sample_dout + std::size_t(oy) * g.ow, g.positions(),
                      staged + std::size_t(oy) * p.staged_w * p.outputs_padded, p.outputs_padded, g.oc, g.ow);
    }
    const std::size_t row_stride = std::size_t(p.staged_w) * p.outputs_padded;
    const std::size_t sums_stride = std::size_t(g.oc) * p.channels_padded;
    for (int group = 0, count = 0; group < tiles; group += count) {
        count = p.group_count(group, tiles);
        transform_input_tiles(p, kernels, rows, group, count, buffers);
        const std::size_t dout_stride = std::size_t(count) * p.outputs_padded;
        for (int tile = 0; tile < count; ++tile) {
            const float* corner = tile_corner(buffers.staged, p.staged_floats(), p.staged_w, p.outputs_padded, p,
                                              tile_place(p, rows, group + tile));
            for (int o = 0; o < p.outputs_padded; o += kLanes)
                kernels.dout(corner + o, row_stride, p.outputs_padded,
                             buffers.products + std::size_t(tile) * p.outputs_padded + o, dout_stride);
        }
        const std::size_t input_stride = std::size_t(count) * p.channels_padded;
        for (int position = 0; position < p.positions(); ++position)
            multiply<true>(g.oc, count, buffers.products + position * dout_stride, 1, p.outputs_padded,
                           buffers.transformed + position * input_stride, p.channels_padded,
                           buffers.sums + position * sums_stride, p.channels_padded, {0, p.channels_padded / kLanes});
    }
}

// Below this many transformed floats a parallel region costs more than the transform (the small layers of a
// batch-1 forward transform once anyway).
constexpr std::size_t kParallelPackFloats = std::size_t(1) << 16;
constexpr int kMaxTaps = 7 * 7;  // the largest kernel built

// Packs weight, (OC,C,R,R) for g, as the kernel of g itself or, flipped, of its input gradient's convolution
// (whose input channels are g's output channels): per input channel and vector of output channels, the taps
// gathered lane by lane into registers' order, then transformed.
void pack_weights(WinogradWeights& weights, const ConvGeometry& g, int tile, const float* weight, bool flipped,
                  int threads) {
    const TileSize& size = find_tile_size(tile, g.kh);
    const int channels = flipped ? g.oc : g.c, outputs = flipped ? g.c : g.oc;
    const int n = tile + g.kh - 1, taps = g.kh * g.kw, ocp = round_up(outputs, kLanes), vectors = ocp / kLanes;
    weights.m = tile;
    weights.channels = channels;
    weights.outputs = outputs;
    weights.u.resize(std::size_t(n) * n * channels * ocp);
    float* u = weights.u.data();
    const bool parallel = threads > 1 && weights.u.size() >= kParallelPackFloats;
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
    for (int c = 0; c < channels; ++c)
        for (int v = 0; v < vectors; ++v) {
            alignas(sizeof(Lanes)) float gathered[kMaxTaps * kLanes];  // (tap, lane)
            for (int lane = 0; lane < kLanes; ++lane) {
                const int o = v * kLanes + lane;
                if (o >= outputs) {
                    for (int t = 0; t < taps; ++t) gathered[t * kLanes + lane] = 0.0f;
                } else if (flipped) {  // weight(c, o) with the taps reversed
                    const float* from = weight + (std::size_t(c) * g.c + o) * taps;
                    for (int t = 0; t < taps; ++t) gathered[(taps - 1 - t) * kLanes + lane] = from[t];
                } else {
                    const float* from = weight + (std::size_t(o) * g.c + c) * taps;
                    for (int t = 0; t < taps; ++t) gathered[t * kLanes + lane] = from[t];
                }
            }
            size.kernels.kernel(gathered, std::size_t(g.kw) * kLanes, kLanes, u + std::size_t(c) * ocp + v * kLanes,
                                std::size_t(channels) * ocp);
        }
}

}  // namespace

std::vector<int> winograd_tiles_for(int r) {
    std::vector<int> tiles;
    for (const TileSize& size : kTileSizes)
        if (size.r == r) tiles.push_back(size.m);
    return tiles;
}

std::vector<std::pair<int, int>> winograd_tile_sizes() {
    std::vector<std::pair<int, int>> sizes;
    for (const TileSize& size : kTileSizes) sizes.emplace_back(size.m, size.r);
    return sizes;
}

WinogradTransform winograd_transform(int m, int r) {
    return find_tile_size(m, r).transform();
}

constexpr long kMinTiles = 4;

int winograd_tile(const ConvGeometry& g) {
    if (g.stride_h != 1 || g.stride_w != 1 || g.kh != g.kw || g.kh < 3 || g.kh > 7) return 0;
    if (g.c < 16 || g.oc < 16) return 0;
    // The tile with the fewest multiplications over the map (whole tiles, so a map that the tile does not
    // divide pays for the overhang).
    int best = 0;
    long best_cost = 0;
    for (const TileSize& size :
         kTileSizes) {  // not winograd_tiles_for: every convolution call asks, allocating nothing
        if (size.r != g.kh) continue;
        const int m = size.m;
        const long n = m + g.kh - 1, tiles = long((g.oh + m - 1) / m) * ((g.ow + m - 1) / m);
        const long cost = tiles * n * n;
        if (best == 0 || cost < best_cost) best = m, best_cost = cost;
    }
    if (best == 0) return 0;  // no tile built for this kernel size (6x6)
    // A call of a few tiles reads n^2 / r^2 times the direct kernel's weights (transformed) for little work:
    // gap's 128 -> 256 layer on 3x3 maps, one tile at batch 1, took 204 us against the direct kernel's 107 (in
    // a whole forward, its 3.3 MB of transformed weights out of cache); its 128 -> 128 layer on 6x6, four
    // tiles, 64 us against the small-map kernel's 52 (590 KB of plain weights against 1.6 MB).
    const long tiles = long((g.oh + best - 1) / best) * ((g.ow + best - 1) / best) * g.n;
    // One sample of a few tiles: the small-map kernel, on the plain weights (use_small_map).
    if (use_small_map(g) && tiles <= kMinTiles) return 0;
    return tiles >= kMinTiles ? best : 0;
}

void WinogradWeights::pack(const ConvGeometry& g, int tile, const float* weight, int threads) {
    pack_weights(*this, g, tile, weight, false, threads);
}

void WinogradWeights::pack_input_gradient(const ConvGeometry& g, int tile, const float* weight, int threads) {
    pack_weights(*this, g, tile, weight, true, threads);
}

void conv2d_forward_winograd(const ConvGeometry& g, const float* in, const WinogradWeights& weights, const float* bias,
                             float* out, int threads, WinogradWorkspace& workspace, const ChannelEpilogue* epilogue) {
    const int m = weights.m;
    const bool built = m != 0 && g.kh == g.kw && weights.channels == g.c && weights.outputs == g.oc &&
                       weights.u.size() == std::size_t(m + g.kh - 1) * (m + g.kh - 1) * g.c * round_up(g.oc, kLanes);
    if (!built || g.stride_h != 1 || g.stride_w != 1)
        throw std::logic_error("conv2d_forward_winograd: the weights were not packed for this convolution");
    const Plan p = make_plan(g, m, convolution_threads(g, threads, g.n));
    const Job job{g, p, find_tile_size(m, g.kh).kernels, in, weights.u.data(), bias, out, epilogue};
    // As many blocks as threads: each thread takes whole blocks. Fewer (a batch of one): the team splits the
    // output channels in pairs of vectors where each thread gets at least one pair, each transforming the whole
    // input, which costs less than a barrier per step; or else (a map with few output channels) the rows of
    // tiles, which splits the transforms too. The results are the same bits whichever way.
    const int wanted = convolution_threads(g, threads, threads);
    const int pairs = (p.output_vectors() + 1) / 2;
    enum class Split { blocks, outputs, rows } split = Split::blocks;
    int team = 1;
    if (p.blocks >= wanted) {
        team = wanted;
    } else if (pairs >= wanted || p.samples_per_block > 1 || p.tiles_y < 2) {
        split = Split::outputs;
        team = std::min(wanted, pairs);
    } else {
        split = Split::rows;
        team = std::min(wanted, p.tiles_y);
    }
    if (team <= 1) split = Split::blocks, team = 1;
    grow_thread_buffers(p, team, workspace);
    const int all_vectors = p.output_vectors();
#pragma omp parallel num_threads(team) if (team > 1)
    {
        const int thread = omp_get_thread_num();
        const BlockBuffers buffers = thread_buffers(workspace, thread);
        const TileRows all_rows{0, p.tiles_y};
        if (split == Split::blocks) {
#pragma omp for schedule(static)
            for (int block = 0; block < p.blocks; ++block) {
                const int first = block * p.samples_per_block;
                run_block(job, first, std::min(p.samples_per_block, g.n - first), {0, all_vectors}, all_rows, buffers);
            }
        } else {
            std::pair<int, int> vectors{0, all_vectors};
            TileRows rows = all_rows;
            if (split == Split::outputs) {
                const int share = (pairs + team - 1) / team;
                vectors = {std::min(all_vectors, 2 * share * thread), std::min(all_vectors, 2 * share * (thread + 1))};
            } else {
                rows = {p.tiles_y * thread / team, p.tiles_y * (thread + 1) / team};
            }
            for (int block = 0; block < p.blocks; ++block) {
                const int first = block * p.samples_per_block;
                run_block(job, first, std::min(p.samples_per_block, g.n - first), vectors, rows, buffers);
            }
        }
    }
}

void conv2d_backward_weights_winograd(const ConvGeometry& g, int tile, const float* in, const float* dout,
                                      float* dweight, float* dbias, int threads, WinogradWorkspace& workspace) {
    if (g.stride_h != 1 || g.stride_w != 1 || g.kh != g.kw)
        throw std::logic_error("conv2d_backward_weights_winograd: not a stride-1 square kernel");
    const TileSize& size = find_tile_size(tile, g.kh);
    const int wanted = std::max(1, std::min(convolution_threads(g, threads, g.n), g.n));
    const Plan p = make_plan(g, tile, wanted);
    const int team = std::min(wanted, p.blocks);
    const std::size_t sums_floats = std::size_t(p.positions()) * g.oc * p.channels_padded;
    grow_thread_buffers(p, team, workspace, sums_floats);
    const int taps = g.kh * g.kw, vectors = p.channels_padded / kLanes;
#pragma omp parallel num_threads(team) if (team > 1)
    {
        const int thread = omp_get_thread_num();
        const BlockBuffers buffers = thread_buffers(workspace, thread);
        float* const sums = buffers.sums;
        std::fill(sums, sums + sums_floats, 0.0f);
        // Whole blocks per thread in a fixed split (the blocks are a multiple of the team where the batch allows).
#pragma omp for schedule(static)
        for (int block = 0; block < p.blocks; ++block) {
            const int first = block * p.samples_per_block;
            gradient_block(g, p, size.kernels, in, dout, first, std::min(p.samples_per_block, g.n - first), buffers);
        }
        // The threads' sums in thread order (the implicit barrier above has them all).
        float* const total = workspace.sums[0].data();
#pragma omp for schedule(static)
        for (std::size_t i = 0; i < sums_floats; i += kLanes) {
            for (int t = 1; t < team; ++t) store(total + i, load(total + i) + load(workspace.sums[t].data() + i));
        }
        // A^T S A per (output channel, vector of input channels), added to the weight gradient.
#pragma omp for schedule(static)
        for (int o = 0; o < g.oc; ++o) {
            alignas(sizeof(Lanes)) float gradient[kMaxTaps * kLanes];  // (tap, lane)
            for (int v = 0; v < vectors; ++v) {
                size.kernels.gradient(total + (std::size_t(o) * p.channels_padded + v * kLanes),
                                      std::size_t(g.oc) * p.channels_padded, gradient);
                for (int lane = 0; lane < kLanes && v * kLanes + lane < g.c; ++lane) {
                    float* to = dweight + (std::size_t(o) * g.c + v * kLanes + lane) * taps;
                    for (int t = 0; t < taps; ++t) to[t] += gradient[t * kLanes + lane];
                }
            }
            if (dbias) {
                double sum = 0.0;
                for (int n = 0; n < g.n; ++n) {
                    const float* plane = dout + std::size_t(n) * g.output_size() + std::size_t(o) * g.positions();
                    for (std::size_t i = 0; i < g.positions(); ++i) sum += double(plane[i]);
                }
                dbias[o] += float(sum);
            }
        }
    }
}

}  // namespace fer

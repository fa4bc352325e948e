// The speed-oriented kernels against plain references: convolution row tiles, the direct convolution and
// the flipped-kernel input gradient, the two-pass max (ties included) and average pooling, and ReLU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "conv_case.hpp"
#include "fer/activations.hpp"
#include "fer/conv_kernels.hpp"
#include "fer/padding.hpp"
#include "fer/pooling.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::ConvCase;
using fer::testing::make_geometry;
using fer::testing::relative_difference;

namespace {

std::string describe(const ConvCase& k, int threads, std::size_t tile_floats) {
    char text[200];
    std::snprintf(text, sizeof text, "n%d c%d %dx%d oc%d k%dx%d s%dx%d %s threads %d tile %zu", k.n, k.c, k.h, k.w,
                  k.oc, k.kh, k.kw, k.stride_h, k.stride_w, to_string(k.padding).c_str(), threads, tile_floats);
    return text;
}

std::vector<float> random_values(std::size_t size, std::uint64_t seed) {
    const Tensor t = fer::testing::random_tensor({1, 1, 1, int(size)}, seed);
    return {t.data(), t.data() + size};
}

template <typename Values>
std::vector<float> as_floats(const Values& values) {
    std::vector<float> floats(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) floats[i] = float(values[i]);
    return floats;
}

struct ConvResults {
    std::vector<float> out, din, dweight, dbias;
};

ConvResults run_fast(const ConvGeometry& g, const std::vector<float>& in, const std::vector<float>& weight,
                     const std::vector<float>& bias, const std::vector<float>& dout, int threads,
                     ConvWorkspace& workspace) {
    ConvResults r{std::vector<float>(g.n * g.output_size(), NAN), std::vector<float>(g.n * g.input_size(), NAN),
                  std::vector<float>(g.weight_size(), 0.25f), std::vector<float>(g.oc, -0.5f)};
    conv2d_forward(g, in.data(), weight.data(), bias.data(), r.out.data(), threads, workspace);
    conv2d_backward_input(g, dout.data(), weight.data(), r.din.data(), threads, workspace);
    conv2d_backward_weights(g, in.data(), dout.data(), r.dweight.data(), r.dbias.data(), threads, workspace);
    return r;
}

// Cases on both input-gradient paths (OC <= C: flipped convolution; OC > C or strided: col2im), on the
// direct kernel (stride 1, OW >= one vector: 16, 8 or 4 floats as the target has; OC <= 16) and off it, several large
// enough (n * MACs >= 2^18) that two threads really split the work.
const std::vector<ConvCase> tiled_cases = {
    // n  c   h   w  oc kh kw sh sw padding
    {1, 3, 9, 7, 3, 3, 3, 1, 1, Padding::same},
    {2, 4, 8, 8, 2, 4, 4, 1, 1, Padding::same},
    {3, 2, 9, 8, 5, 5, 5, 1, 1, Padding::same},
    {2, 3, 10, 9, 2, 3, 5, 1, 1, Padding::valid},
    {2, 3, 9, 9, 4, 3, 3, 2, 2, Padding::same},
    {2, 4, 7, 7, 4, 1, 1, 1, 1, Padding::valid},
    {4, 8, 12, 12, 8, 3, 3, 1, 1, Padding::same},
    {1, 16, 16, 16, 16, 7, 7, 1, 1, Padding::same},
    {3, 8, 12, 12, 16, 5, 5, 1, 1, Padding::same},
    {4, 16, 12, 12, 8, 4, 4, 1, 1, Padding::same},
    {2, 8, 14, 14, 8, 3, 3, 2, 2, Padding::same},
    {1, 1, 48, 48, 16, 7, 7, 1, 1, Padding::same},
    // direct kernel: one, two and three vectors per row with a partial last one, partial channel blocks
    {2, 3, 20, 20, 5, 3, 3, 1, 1, Padding::same},
    {1, 2, 12, 40, 11, 4, 4, 1, 1, Padding::same},
    {2, 2, 9, 21, 3, 3, 5, 1, 1, Padding::valid},
    {1, 4, 6, 64, 9, 2, 7, 1, 1, Padding::same},
    // direct kernel: more than 32 output channels (a partial last block) with a large patch, and a kernel
    // width without a compile-time version
    {1, 32, 17, 20, 44, 3, 3, 1, 1, Padding::same},
    {2, 3, 10, 18, 5, 6, 6, 1, 1, Padding::same},
    // maps of at most 8x8, whose batches run in sample groups: both input-gradient paths, strided,
    // pointwise, and 8x8 itself
    {7, 8, 6, 6, 12, 3, 3, 1, 1, Padding::same},
    {9, 16, 3, 3, 8, 3, 3, 1, 1, Padding::same},
    {5, 4, 7, 7, 6, 3, 3, 2, 2, Padding::same},
    {6, 6, 4, 4, 5, 1, 1, 1, 1, Padding::valid},
    {5, 3, 8, 8, 4, 5, 5, 1, 1, Padding::same},
    {40, 32, 3, 3, 7, 3, 3, 1, 1, Padding::same},
    // the direct weight gradient (7-wide kernels, and 5-wide ones on targets with 16 vector registers;
    // stride 1, OW >= one vector): a partial last vector and channel block, 'valid' padding, a kernel
    // taller or shorter than wide
    {3, 2, 20, 21, 5, 7, 7, 1, 1, Padding::same},
    {2, 3, 22, 26, 4, 7, 7, 1, 1, Padding::valid},
    {2, 2, 18, 18, 7, 3, 7, 1, 1, Padding::same},
    {2, 3, 9, 33, 32, 9, 7, 1, 1, Padding::same},
    {3, 2, 20, 21, 5, 5, 5, 1, 1, Padding::same},
    {2, 3, 12, 26, 32, 5, 5, 1, 1, Padding::valid},
    {2, 2, 18, 18, 7, 3, 5, 1, 1, Padding::same},
    // one sample, large enough for two threads (batch-1 inference): a small map whose product the team
    // splits by output channels (a partial block of 8, strided), and a larger one cut into row tiles
    {1, 64, 6, 6, 36, 3, 3, 1, 1, Padding::same},
    {1, 96, 7, 7, 30, 3, 3, 2, 2, Padding::same},
    {1, 16, 20, 20, 72, 3, 3, 1, 1, Padding::same},
    // one sample on at most 16 positions (the dot-product kernel): a patch with a partial last vector, on
    // one thread and split over two, and gap's 256 -> 7 layer itself
    {1, 5, 3, 3, 7, 3, 3, 1, 1, Padding::same},
    {1, 67, 4, 4, 29, 3, 3, 1, 1, Padding::same},
    {1, 256, 3, 3, 7, 3, 3, 1, 1, Padding::same},
    // direct kernel: one input channel with more than 16 output channels; one-vector rows (8 wide) with
    // more output channels than a register block holds on targets with 16 registers (12)
    {1, 1, 20, 21, 34, 5, 5, 1, 1, Padding::same},
    {2, 3, 8, 8, 14, 3, 3, 1, 1, Padding::same},
};

}  // namespace

TEST_CASE("conv2d fast kernels match the reference across row tiles, paths and thread counts") {
    for (const ConvCase& k : tiled_cases) {
        const ConvGeometry g = make_geometry(k);
        const std::vector<float> in = random_values(g.n * g.input_size(), 21),
                                 weight = random_values(g.weight_size(), 22);
        const std::vector<float> bias = random_values(g.oc, 23), dout = random_values(g.n * g.output_size(), 24);
        ConvResults ref{std::vector<float>(g.n * g.output_size()), std::vector<float>(g.n * g.input_size()),
                        std::vector<float>(g.weight_size(), 0.25f), std::vector<float>(g.oc, -0.5f)};
        conv2d_forward_reference(g, in.data(), weight.data(), bias.data(), ref.out.data());
        conv2d_backward_input_reference(g, dout.data(), weight.data(), ref.din.data());
        conv2d_backward_weights_reference(g, in.data(), dout.data(), ref.dweight.data(), ref.dbias.data());
        // One output row per tile, a few rows, and the default (usually the whole sample); on small maps
        // no sample groups, groups of two (the last one short when N is odd) and the default.
        const std::size_t default_group = ConvWorkspace().group_columns();
        for (std::size_t tile_floats : {std::size_t(1), g.patch_size() * g.ow * 3, ConvWorkspace().tile_floats()})
            for (std::size_t group_columns : {std::size_t(1), 2 * g.positions(), default_group})
                for (int threads : {1, 2}) {
                    INFO(describe(k, threads, tile_floats) << ", group columns " << group_columns);
                    ConvWorkspace workspace;
                    workspace.set_tile_floats(tile_floats);
                    workspace.set_group_columns(group_columns);
                    const ConvResults fast = run_fast(g, in, weight, bias, dout, threads, workspace);
                    CHECK(relative_difference(fast.out, ref.out) <= 1e-4);
                    CHECK(relative_difference(fast.din, ref.din) <= 1e-4);
                    CHECK(relative_difference(fast.dweight, ref.dweight) <= 1e-4);
                    CHECK(relative_difference(fast.dbias, ref.dbias) <= 1e-4);
                }
    }
}

TEST_CASE("conv2d fast kernels are bit-identical from run to run for a fixed thread count") {
    for (const ConvCase& k : {tiled_cases[6], tiled_cases[7], tiled_cases[11], tiled_cases[16], tiled_cases[18],
                              tiled_cases[23], tiled_cases[24], tiled_cases[28], tiled_cases[30], tiled_cases[32]}) {
        const ConvGeometry g = make_geometry(k);
        const std::vector<float> in = random_values(g.n * g.input_size(), 31),
                                 weight = random_values(g.weight_size(), 32);
        const std::vector<float> bias = random_values(g.oc, 33), dout = random_values(g.n * g.output_size(), 34);
        for (int threads : {1, 2}) {
            INFO(describe(k, threads, 64));
            ConvWorkspace first_workspace, second_workspace;
            first_workspace.set_tile_floats(64);
            second_workspace.set_tile_floats(64);
            const ConvResults first = run_fast(g, in, weight, bias, dout, threads, first_workspace);
            const ConvResults second = run_fast(g, in, weight, bias, dout, threads, second_workspace);
            CHECK(first.out == second.out);
            CHECK(first.din == second.din);
            CHECK(first.dweight == second.dweight);
            CHECK(first.dbias == second.dbias);
        }
    }
}

TEST_CASE("the small-map kernel matches the reference on one sample, with bias and epilogue") {
    // Output rows of 1 to 12 (every block shape, partial blocks of rows and columns), kernels with a
    // compile-time version (3x3) and without (5x5, 1x1, 3x5), 'valid' and 'same', output channels past a
    // block (two vectors) and of at most one vector, and gap's 6x6 and 3x3 layers, large enough that two and
    // three threads split them.
    const std::vector<fer::testing::ForwardCase> cases = {
        // n  c   h   w  oc kh kw sh sw padding        bias  epilogue
        {{1, 20, 12, 12, 70, 3, 3, 1, 1, Padding::same}, true, true},
        {{1, 9, 7, 11, 33, 5, 5, 1, 1, Padding::valid}, false, true},
        {{1, 6, 5, 5, 40, 1, 1, 1, 1, Padding::valid}, true, false},
        {{1, 8, 10, 9, 17, 3, 5, 1, 1, Padding::same}, true, true},
        {{1, 3, 4, 1, 5, 3, 3, 1, 1, Padding::same}, false, false},
        {{1, 5, 9, 2, 3, 3, 3, 1, 1, Padding::same}, true, true},
        {{1, 64, 6, 6, 128, 3, 3, 1, 1, Padding::same}, true, true},
        {{1, 128, 3, 3, 256, 3, 3, 1, 1, Padding::same}, true, false},
        {{1, 256, 3, 3, 7, 3, 3, 1, 1, Padding::same}, true, false},
        // One block for the whole layer, its input channels split between threads (unevenly for three).
        {{1, 100, 3, 3, 16, 3, 3, 1, 1, Padding::same}, true, true},
        {{1, 70, 4, 5, 9, 3, 5, 1, 1, Padding::valid}, false, true},
    };
    for (const auto& k : cases) {
        CAPTURE(fer::testing::describe(k.shape));
        const fer::testing::ForwardOperands operands(k);
        const ConvGeometry& g = operands.geometry;
        REQUIRE(use_small_map(g));
        const std::vector<float>&in = operands.values.in, &weight = operands.values.weight;
        std::vector<float> expected(g.output_size());
        conv2d_forward_reference(g, in.data(), weight.data(), operands.bias(), expected.data());
        if (const ChannelEpilogue* epilogue = operands.epilogue())
            for (int o = 0; o < g.oc; ++o)
                epilogue->apply(o, expected.data() + o * g.positions(), expected.data() + o * g.positions(),
                                g.positions());
        fer::testing::check_fast_kernel(expected, 1e-5, {1, 2, 3}, [&](int threads, std::vector<float>& out) {
            ConvWorkspace workspace;
            // The first call packs the weights, the second reuses them (same version).
            for (int call = 0; call < 2; ++call)
                conv2d_forward(g, in.data(), weight.data(), operands.bias(), out.data(), threads, workspace,
                               operands.epilogue(), 7);
        });
    }
    // Not taken: batches, strides, rows wider than 12.
    CHECK_FALSE(use_small_map(make_geometry({2, 64, 6, 6, 128, 3, 3, 1, 1, Padding::same})));
    CHECK_FALSE(use_small_map(make_geometry({1, 64, 12, 12, 128, 3, 3, 2, 2, Padding::same})));
    CHECK_FALSE(use_small_map(make_geometry({1, 64, 13, 13, 128, 3, 3, 1, 1, Padding::same})));
}

TEST_CASE("the small-map kernel packs the weights again when they change") {
    const ConvGeometry g = make_geometry({1, 16, 6, 6, 40, 3, 3, 1, 1, Padding::same});
    const std::vector<float> in = random_values(g.input_size(), 41);
    std::vector<float> weight = random_values(g.weight_size(), 42);
    std::vector<float> out(g.output_size()), expected(g.output_size());
    ConvWorkspace workspace;
    conv2d_forward(g, in.data(), weight.data(), nullptr, out.data(), 2, workspace, nullptr, 1);
    for (float& w : weight) w = -w;
    // A new version: packed again. Version 0 (no promise): packed on every call.
    for (std::uint64_t version : {std::uint64_t(2), std::uint64_t(0), std::uint64_t(0)}) {
        CAPTURE(version);
        for (float& w : weight) w *= 0.5f;
        conv2d_forward_reference(g, in.data(), weight.data(), nullptr, expected.data());
        conv2d_forward(g, in.data(), weight.data(), nullptr, out.data(), 2, workspace, nullptr, version);
        CHECK(relative_difference(out, expected) < 1e-5);
    }
}

namespace {

// The definition: scan each window row-major over its valid elements; strict >, so the first maximum
// wins. Returns the outputs and, per output, the winning input index within the plane.
void max_pool_reference(const Shape& in_shape, const Pool2DSpec& spec, const Tensor& in, std::vector<float>& out,
                        std::vector<int>& winner) {
    const AxisGeometry rows = axis_geometry(in_shape.h, spec.size_h, spec.stride_h, spec.padding);
    const AxisGeometry cols = axis_geometry(in_shape.w, spec.size_w, spec.stride_w, spec.padding);
    out.clear();
    winner.clear();
    for (int plane = 0; plane < in_shape.n * in_shape.c; ++plane) {
        const float* x = in.data() + std::size_t(plane) * in_shape.h * in_shape.w;
        for (int oy = 0; oy < rows.out; ++oy)
            for (int ox = 0; ox < cols.out; ++ox) {
                int best = -1;
                for (int i = 0; i < spec.size_h; ++i)
                    for (int j = 0; j < spec.size_w; ++j) {
                        const int y = oy * spec.stride_h - rows.pad_before + i;
                        const int xx = ox * spec.stride_w - cols.pad_before + j;
                        if (y < 0 || y >= in_shape.h || xx < 0 || xx >= in_shape.w) continue;
                        if (best < 0 || x[y * in_shape.w + xx] > x[best]) best = y * in_shape.w + xx;
                    }
                out.push_back(x[best]);
                winner.push_back(best);
            }
    }
}

struct PoolCase {
    Shape in;
    Pool2DSpec spec;
};

// Windows clipped by the padding on either side, strides of 1, 2 (the compile-time paths) and 3, maps
// narrower than a vector and wider than two, windows larger than the map, rows wider than the stack scratch.
const std::vector<PoolCase> pool_cases = {
    {{2, 3, 48, 48}, {3, 3, 2, 2, Padding::same}},
    {{2, 2, 12, 12}, {3, 3, 2, 2, Padding::same}},
    {{1, 2, 7, 9}, {3, 3, 2, 2, Padding::same}},
    {{2, 2, 8, 8}, {2, 2, 2, 2, Padding::valid}},
    {{1, 3, 9, 7}, {3, 3, 1, 1, Padding::same}},
    {{2, 1, 11, 37}, {4, 3, 2, 1, Padding::same}},
    {{1, 2, 5, 40}, {2, 5, 1, 3, Padding::valid}},
    {{1, 1, 3, 3}, {5, 5, 2, 2, Padding::same}},
    {{2, 2, 48, 48}, {2, 2, 2, 2, Padding::same}},
    {{1, 2, 13, 35}, {3, 3, 2, 2, Padding::same}},
    // 2x2 windows that tile the map (one run of row pairs; large enough for two threads) and that do not
    {{2, 8, 48, 48}, {2, 2, 2, 2, Padding::valid}},
    {{1, 2, 7, 9}, {2, 2, 2, 2, Padding::valid}},
    {{1, 13, 18, 20}, {2, 2, 2, 2, Padding::valid}},  // split at batch 1, the row pairs uneven across threads
    // Rows wider than the row scratch kept on the stack (256): it comes from the heap.
    {{1, 2, 3, 300}, {3, 3, 2, 2, Padding::same}},
    {{1, 2, 4, 257}, {2, 2, 2, 2, Padding::valid}},
};

std::string describe(const PoolCase& pc, int threads) {
    return pc.in.str() + " window " + std::to_string(pc.spec.size_h) + "x" + std::to_string(pc.spec.size_w) +
           " stride " + std::to_string(pc.spec.stride_h) + "x" + std::to_string(pc.spec.stride_w) + " " +
           to_string(pc.spec.padding) + " threads " + std::to_string(threads);
}

// An input of pc's shape and the plain scan's outputs and winners on it. Values from {-1, 0, 1, 2}: many
// windows hold several equal maxima (as after a ReLU); with_nan makes about one value in five NaN.
struct MaxPoolScan {
    Tensor in;
    std::vector<float> expected;
    std::vector<int> winner;
};

MaxPoolScan max_pool_scan(const PoolCase& pc, std::uint64_t seed, bool with_nan) {
    MaxPoolScan scan{Tensor(pc.in), {}, {}};
    Rng rng(seed);
    for (float& v : scan.in.span()) v = with_nan && rng.below(5) == 0 ? std::nanf("") : float(int(rng.below(4)) - 1);
    max_pool_reference(pc.in, pc.spec, scan.in, scan.expected, scan.winner);
    return scan;
}

// Backward after pool's training forward of in (giving out), with output k's gradient k + 1: din shows exactly
// which element each output picked, which must be the reference's winner.
void check_max_pool_winners(MaxPool2D& pool, const PoolCase& pc, const Tensor& in, const Tensor& out,
                            const std::vector<int>& winner, int threads) {
    const Shape& out_shape = out.shape();
    Tensor dout(out_shape), din;
    for (std::size_t k = 0; k < dout.size(); ++k) dout[k] = float(k + 1);
    pool.backward(in, out, dout, &din, Context{true, threads, 0});
    std::vector<float> expected_din(in.size(), 0.0f);
    const std::size_t plane_in = std::size_t(pc.in.h) * pc.in.w, plane_out = out_shape.sample_size() / pc.in.c;
    for (std::size_t k = 0; k < winner.size(); ++k)
        expected_din[(k / plane_out) * plane_in + std::size_t(winner[k])] += float(k + 1);
    CHECK(std::vector<float>(din.data(), din.data() + din.size()) == expected_din);
}

}  // namespace

TEST_CASE("max pooling matches a plain window scan, ties included") {
    for (const PoolCase& pc : pool_cases)
        for (int threads : {1, 2}) {
            INFO(describe(pc, threads));
            const auto [in, expected, winner] = max_pool_scan(pc, 7, false);

            MaxPool2D pool(pc.spec);
            pool.setup(pc.in.with_batch(1));
            Tensor eval_out, train_out;
            pool.forward(in, eval_out, Context{false, threads, 0});
            pool.forward(in, train_out, Context{true, threads, 0});
            REQUIRE(eval_out.size() == expected.size());
            CHECK(std::vector<float>(eval_out.data(), eval_out.data() + eval_out.size()) == expected);
            CHECK(std::vector<float>(train_out.data(), train_out.data() + train_out.size()) == expected);

            check_max_pool_winners(pool, pc, in, train_out, winner, threads);
        }
}

TEST_CASE("max pooling's training forward follows the plain window scan with NaN too") {
    // The scan's rule with NaN: a window whose first valid value is NaN gives NaN (nothing compares greater),
    // a later NaN never wins. The arg-max must always be a position in the window (backward indexes with it).
    for (const PoolCase& pc : pool_cases)
        for (int threads : {1, 2}) {
            INFO(describe(pc, threads));
            const auto [in, expected, winner] = max_pool_scan(pc, 9, true);

            MaxPool2D pool(pc.spec);
            pool.setup(pc.in.with_batch(1));
            Tensor out;
            pool.forward(in, out, Context{true, threads, 0});
            REQUIRE(out.size() == expected.size());
            int mismatches = 0;
            for (std::size_t k = 0; k < expected.size(); ++k)
                if (!(out[k] == expected[k] || (std::isnan(out[k]) && std::isnan(expected[k])))) ++mismatches;
            CHECK(mismatches == 0);

            check_max_pool_winners(pool, pc, in, out, winner, threads);
        }
}

namespace {

// The definition: each output is the mean of its window's valid elements (in double), and backward
// gives each of them an equal share of the output's gradient.
void avg_pool_reference(const Shape& in_shape, const Pool2DSpec& spec, const Tensor& in, const Tensor& dout,
                        std::vector<double>& out, std::vector<double>& din) {
    const AxisGeometry rows = axis_geometry(in_shape.h, spec.size_h, spec.stride_h, spec.padding);
    const AxisGeometry cols = axis_geometry(in_shape.w, spec.size_w, spec.stride_w, spec.padding);
    out.clear();
    din.assign(in.size(), 0.0);
    const std::size_t plane = std::size_t(in_shape.h) * in_shape.w;
    for (int p = 0; p < in_shape.n * in_shape.c; ++p)
        for (int oy = 0; oy < rows.out; ++oy)
            for (int ox = 0; ox < cols.out; ++ox) {
                std::vector<std::size_t> window;
                for (int i = 0; i < spec.size_h; ++i)
                    for (int j = 0; j < spec.size_w; ++j) {
                        const int y = oy * spec.stride_h - rows.pad_before + i;
                        const int x = ox * spec.stride_w - cols.pad_before + j;
                        if (y >= 0 && y < in_shape.h && x >= 0 && x < in_shape.w)
                            window.push_back(p * plane + std::size_t(y) * in_shape.w + x);
                    }
                double sum = 0.0;
                for (std::size_t k : window) sum += in[k];
                const double share = dout[out.size()] / double(window.size());
                out.push_back(sum / double(window.size()));
                for (std::size_t k : window) din[k] += share;
            }
}

}  // namespace

TEST_CASE("average pooling matches a plain window mean, forward and backward") {
    for (const PoolCase& pc : pool_cases)
        for (int threads : {1, 2}) {
            INFO(describe(pc, threads));
            AvgPool2D pool(pc.spec);
            const Shape out_shape = pool.setup(pc.in.with_batch(1));
            const Tensor in = fer::testing::random_tensor(pc.in, 11);
            const Tensor dout = fer::testing::random_tensor(out_shape.with_batch(pc.in.n), 12);
            std::vector<double> expected_out, expected_din;
            avg_pool_reference(pc.in, pc.spec, in, dout, expected_out, expected_din);
            Tensor out, din;
            pool.forward(in, out, Context{true, threads, 0});
            REQUIRE(out.size() == expected_out.size());
            CHECK(relative_difference(as_floats(out), as_floats(expected_out)) < 1e-6);
            pool.backward(in, out, dout, &din, Context{true, threads, 0});
            REQUIRE(din.size() == expected_din.size());
            CHECK(relative_difference(as_floats(din), as_floats(expected_din)) < 1e-6);
        }
}

TEST_CASE("relu forward zeroes negatives and passes NaN through") {
    ReLU relu;
    relu.setup({1, 1, 1, 6});
    Tensor in({1, 1, 1, 6}), out;
    const float values[6] = {-2.0f, -0.0f, 0.0f, 3.5f, std::numeric_limits<float>::quiet_NaN(), -1e-30f};
    std::copy(values, values + 6, in.data());
    relu.forward(in, out, Context{false, 1, 0});
    CHECK(out[0] == 0.0f);
    CHECK(out[2] == 0.0f);
    CHECK(out[3] == 3.5f);
    CHECK(std::isnan(out[4]));
    CHECK(out[5] == 0.0f);
    CHECK_FALSE(std::signbit(out[0]));
}

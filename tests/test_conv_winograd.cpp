// The Winograd convolution: its 1-D transforms against the correlation they stand for, the kernel
// against the plain reference for every tile size built (tails of maps, channels and output channels, both
// paddings, biases and epilogues, one block or many, the team sharing a block or taking whole blocks), the
// input gradient as the flipped convolution, the weight gradient on the same tiles, its
// bits from run to run and across thread counts, the layers it is chosen for, and whole networks with it
// against the direct kernels.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "conv_case.hpp"
#include "fer/conv_winograd.hpp"
#include "fer/model_zoo.hpp"
#include "fer/network.hpp"
#include "fer/rng.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::ConvCase;
using fer::testing::ForwardCase;
using fer::testing::ForwardOperands;
using fer::testing::make_geometry;
using fer::testing::relative_difference;

namespace {

// The gradients' cases: the paper's models' layer shapes at small batches (one sample and several blocks),
// tails of maps and channels, 'valid' layers.
const std::vector<ConvCase> gradient_cases = {
    // n  c   h   w  oc kh kw sh sw padding
    {3, 32, 24, 24, 32, 4, 4, 1, 1, Padding::same},  {2, 32, 12, 12, 64, 5, 5, 1, 1, Padding::same},
    {1, 64, 12, 12, 16, 3, 3, 1, 1, Padding::same},  {3, 128, 6, 6, 128, 3, 3, 1, 1, Padding::same},
    {7, 128, 3, 3, 256, 3, 3, 1, 1, Padding::same},  {2, 17, 10, 7, 20, 4, 4, 1, 1, Padding::valid},
    {5, 16, 16, 16, 24, 3, 3, 1, 1, Padding::valid}, {2, 16, 48, 48, 16, 7, 7, 1, 1, Padding::same},
    {2, 16, 12, 10, 17, 7, 7, 1, 1, Padding::valid}, {40, 19, 7, 9, 33, 5, 5, 1, 1, Padding::same},
    {1, 32, 24, 24, 32, 4, 4, 1, 1, Padding::same},
};

}  // namespace

TEST_CASE("winograd transforms compute the 1-D correlation") {
    Rng rng(4);
    for (auto [m, r] : winograd_tile_sizes()) {
        CAPTURE(m);
        CAPTURE(r);
        const WinogradTransform t = winograd_transform(m, r);
        REQUIRE(t.n == m + r - 1);
        REQUIRE(t.at.size() == std::size_t(m * t.n));
        REQUIRE(t.g.size() == std::size_t(t.n * r));
        REQUIRE(t.bt.size() == std::size_t(t.n * t.n));
        for (int trial = 0; trial < 5; ++trial) {
            std::vector<double> d(t.n), k(r);
            for (double& v : d) v = rng.uniform(-1.0f, 1.0f);
            for (double& v : k) v = rng.uniform(-1.0f, 1.0f);
            std::vector<double> products(t.n);
            for (int p = 0; p < t.n; ++p) {
                double gk = 0, btd = 0;
                for (int j = 0; j < r; ++j) gk += t.g[p * r + j] * k[j];
                for (int j = 0; j < t.n; ++j) btd += t.bt[p * t.n + j] * d[j];
                products[p] = gk * btd;
            }
            for (int i = 0; i < m; ++i) {
                double y = 0, expected = 0;
                for (int p = 0; p < t.n; ++p) y += t.at[i * t.n + p] * products[p];
                for (int j = 0; j < r; ++j) expected += d[i + j] * k[j];
                CHECK(std::abs(y - expected) < 1e-12);
            }
        }
    }
    CHECK_THROWS_AS(winograd_transform(6, 3), std::invalid_argument);
}

TEST_CASE("winograd convolution matches the reference for every tile size") {
    // Maps the tiles divide and maps they do not, 'same' (even kernels: asymmetric pads) and 'valid', channels
    // and output channels past a whole vector, one sample and batches of several blocks.
    const std::vector<ForwardCase> cases = {
        // n  c   h   w  oc kh kw sh sw padding        bias  epilogue
        {{1, 32, 24, 24, 32, 4, 4, 1, 1, Padding::same}, true, true},
        {{1, 32, 12, 12, 64, 5, 5, 1, 1, Padding::same}, true, true},
        {{1, 16, 24, 24, 32, 5, 5, 1, 1, Padding::same}, false, true},
        {{1, 64, 12, 12, 64, 3, 3, 1, 1, Padding::same}, true, false},
        {{2, 128, 6, 6, 128, 3, 3, 1, 1, Padding::same}, true, true},
        {{1, 128, 3, 3, 256, 3, 3, 1, 1, Padding::same}, true, false},
        {{3, 3, 13, 11, 5, 3, 3, 1, 1, Padding::same}, true, true},
        {{2, 17, 10, 7, 20, 4, 4, 1, 1, Padding::valid}, false, false},
        {{40, 9, 7, 9, 33, 5, 5, 1, 1, Padding::same}, true, true},
        {{5, 16, 16, 16, 24, 3, 3, 1, 1, Padding::valid}, true, false},
        {{1, 16, 48, 48, 16, 7, 7, 1, 1, Padding::same}, true, true},
        {{3, 5, 11, 13, 9, 7, 7, 1, 1, Padding::same}, false, true},
        {{2, 16, 12, 10, 17, 7, 7, 1, 1, Padding::valid}, true, false},
    };
    for (const ForwardCase& k : cases) {
        const ForwardOperands operands(k);
        const ConvGeometry& g = operands.geometry;
        const std::vector<float>&in = operands.values.in, &weight = operands.values.weight;
        const float* bias = operands.bias();
        const ChannelEpilogue* epilogue = operands.epilogue();

        std::vector<float> expected(g.n * g.output_size());
        conv2d_forward_reference(g, in.data(), weight.data(), bias, expected.data());
        if (epilogue)
            for (int n = 0; n < g.n; ++n)
                for (int o = 0; o < g.oc; ++o) {
                    float* plane = expected.data() + std::size_t(n) * g.output_size() + std::size_t(o) * g.positions();
                    epilogue->apply(o, plane, plane, g.positions());
                }
        for (int tile : winograd_tiles_for(g.kh)) {
            CAPTURE(fer::testing::describe(k.shape));
            CAPTURE(tile);
            WinogradWeights packed;
            packed.pack(g, tile, weight.data());
            // Measured up to 6.6e-6 of the largest output with n <= 8 (128 channels, F(4, 3)), 6e-5 with F(4, 7)
            // (n = 10); a wrong transform coefficient is off by O(1).
            const double tolerance = tile + g.kh - 1 <= 8 ? 5e-5 : 3e-4;
            fer::testing::check_fast_kernel(expected, tolerance, {1, 2, 3}, [&](int threads, std::vector<float>& out) {
                WinogradWorkspace workspace;
                conv2d_forward_winograd(g, in.data(), packed, bias, out.data(), threads, workspace, epilogue);
                const std::vector<float> first = out;
                conv2d_forward_winograd(g, in.data(), packed, bias, out.data(), threads, workspace, epilogue);
                CHECK(out == first);  // a reused workspace
            });
        }
    }
}

TEST_CASE("winograd input gradient (the flipped convolution of dout) matches the reference for every tile size") {
    // The flipped convolution swaps the channel counts and pads kh - 1 - pad ('valid' layers become full
    // convolutions, even 'same' kernels swap their pads).
    for (const ConvCase& k : gradient_cases) {
        CAPTURE(fer::testing::describe(k));
        const ConvGeometry g = make_geometry(k);
        const ConvGeometry flipped = input_gradient_geometry(g);
        REQUIRE(flipped.c == g.oc);
        REQUIRE(flipped.oc == g.c);
        REQUIRE(flipped.oh == g.h);
        REQUIRE(flipped.ow == g.w);
        const std::vector<float> dout = fer::testing::random_values(g.n * g.output_size(), 6);
        const std::vector<float> weight = fer::testing::random_values(g.weight_size(), 7);
        std::vector<float> expected(g.n * g.input_size());
        conv2d_backward_input_reference(g, dout.data(), weight.data(), expected.data());
        for (int tile : winograd_tiles_for(g.kh)) {
            CAPTURE(tile);
            WinogradWeights packed;
            packed.pack_input_gradient(g, tile, weight.data(), 2);
            const double tolerance = tile + g.kh - 1 <= 8 ? 5e-5 : 3e-4;  // as the forward's
            fer::testing::check_fast_kernel(expected, tolerance, {1, 2}, [&](int threads, std::vector<float>& din) {
                WinogradWorkspace workspace;
                conv2d_forward_winograd(flipped, dout.data(), packed, nullptr, din.data(), threads, workspace);
            });
            // Packed on one thread or several: the same transformed weights.
            WinogradWeights single;
            single.pack_input_gradient(g, tile, weight.data(), 1);
            CHECK(single.u == packed.u);
            // The forward's packing of the same weights is another kernel (unless both are symmetric).
            if (g.c == g.oc) {
                WinogradWeights forward;
                forward.pack(g, tile, weight.data());
                CHECK(forward.u != packed.u);
            }
        }
    }
}

TEST_CASE("winograd weight gradient matches the reference for every tile size") {
    for (const ConvCase& k : gradient_cases) {
        CAPTURE(fer::testing::describe(k));
        const ConvGeometry g = make_geometry(k);
        const std::vector<float> in = fer::testing::random_values(g.n * g.input_size(), 8);
        const std::vector<float> dout = fer::testing::random_values(g.n * g.output_size(), 9);
        // Accumulated onto what the gradients held.
        const std::vector<float> start_weight = fer::testing::random_values(g.weight_size(), 10);
        const std::vector<float> start_bias = fer::testing::random_values(g.oc, 11);
        std::vector<float> expected_weight = start_weight, expected_bias = start_bias;
        conv2d_backward_weights_reference(g, in.data(), dout.data(), expected_weight.data(), expected_bias.data());
        for (int tile : winograd_tiles_for(g.kh)) {
            CAPTURE(tile);
            // Measured up to 1e-5 of the largest gradient with n <= 8 and 1.3e-4 with F(7, 4) (n = 10, the 48x48
            // case); a wrong coefficient is off by O(1).
            const double tolerance = tile + g.kh - 1 <= 8 ? 5e-5 : 3e-4;
            for (int threads : {1, 2, 3}) {
                CAPTURE(threads);
                WinogradWorkspace workspace;
                std::vector<float> weight = start_weight, bias = start_bias;
                conv2d_backward_weights_winograd(g, tile, in.data(), dout.data(), weight.data(), bias.data(), threads,
                                                 workspace);
                CHECK(relative_difference(weight, expected_weight) < tolerance);
                CHECK(relative_difference(bias, expected_bias) < 1e-5);
                // Again with the same workspace: the same bits (the per-thread sums start over).
                std::vector<float> again = start_weight;
                conv2d_backward_weights_winograd(g, tile, in.data(), dout.data(), again.data(), nullptr, threads,
                                                 workspace);
                CHECK(again == weight);
            }
        }
    }
    const ConvGeometry strided = make_geometry({1, 16, 8, 8, 16, 3, 3, 2, 2, Padding::same});
    std::vector<float> in(strided.input_size()), dout(strided.output_size()), dweight(strided.weight_size());
    WinogradWorkspace workspace;
    CHECK_THROWS_AS(
        conv2d_backward_weights_winograd(strided, 4, in.data(), dout.data(), dweight.data(), nullptr, 1, workspace),
        std::logic_error);
    const ConvGeometry g = make_geometry({1, 16, 8, 8, 16, 3, 3, 1, 1, Padding::same});
    CHECK_THROWS_AS(
        conv2d_backward_weights_winograd(g, 5, in.data(), dout.data(), dweight.data(), nullptr, 1, workspace),
        std::invalid_argument);
}

TEST_CASE("winograd convolution is chosen for the layers it measured faster on, and refuses others") {
    // The paper's models' layers it takes, with the tile it takes them with.
    CHECK(winograd_tile(make_geometry({1, 32, 24, 24, 32, 4, 4, 1, 1, Padding::same})) == 5);
    CHECK(winograd_tile(make_geometry({1, 32, 12, 12, 64, 5, 5, 1, 1, Padding::same})) == 4);
    CHECK(winograd_tile(make_geometry({1, 64, 12, 12, 64, 3, 3, 1, 1, Padding::same})) == 4);
    CHECK(winograd_tile(make_geometry({2, 128, 6, 6, 128, 3, 3, 1, 1, Padding::same})) == 3);
    CHECK(winograd_tile(make_geometry({1, 128, 6, 6, 128, 3, 3, 1, 1, Padding::same})) == 0);  // four tiles
    CHECK(winograd_tile(make_geometry({4, 128, 3, 3, 256, 3, 3, 1, 1, Padding::same})) == 3);
    CHECK(winograd_tile(make_geometry({1, 128, 3, 3, 256, 3, 3, 1, 1, Padding::same})) == 0);  // one tile
    // And the ones it leaves to the direct kernels.
    CHECK(winograd_tile(make_geometry({1, 16, 48, 48, 16, 7, 7, 1, 1, Padding::same})) == 4);
    CHECK(winograd_tile(make_geometry({1, 16, 48, 48, 16, 6, 6, 1, 1, Padding::same})) == 0);  // 6x6: none built
    CHECK(winograd_tile(make_geometry({1, 1, 48, 48, 32, 5, 5, 1, 1, Padding::same})) == 0);   // one channel
    CHECK(winograd_tile(make_geometry({1, 256, 3, 3, 7, 3, 3, 1, 1, Padding::same})) == 0);    // 7 outputs
    CHECK(winograd_tile(make_geometry({1, 32, 24, 24, 32, 3, 3, 2, 2, Padding::same})) == 0);  // stride 2
    CHECK(winograd_tile(make_geometry({1, 32, 24, 24, 32, 3, 5, 1, 1, Padding::same})) == 0);  // not square
    CHECK(winograd_tile(make_geometry({1, 32, 24, 24, 32, 1, 1, 1, 1, Padding::same})) == 0);  // pointwise

    const ConvGeometry g = make_geometry({1, 16, 8, 8, 16, 3, 3, 1, 1, Padding::same});
    const std::vector<float> in(g.input_size(), 1.0f), weight(g.weight_size(), 1.0f);
    std::vector<float> out(g.output_size());
    WinogradWorkspace workspace;
    WinogradWeights unpacked;
    CHECK_THROWS_AS(conv2d_forward_winograd(g, in.data(), unpacked, nullptr, out.data(), 1, workspace),
                    std::logic_error);
    WinogradWeights other;
    const ConvGeometry wider = make_geometry({1, 16, 8, 8, 32, 3, 3, 1, 1, Padding::same});
    other.pack(wider, 4, std::vector<float>(wider.weight_size(), 1.0f).data());
    CHECK_THROWS_AS(conv2d_forward_winograd(g, in.data(), other, nullptr, out.data(), 1, workspace), std::logic_error);
    WinogradWeights wrong_tile;
    CHECK_THROWS_AS(wrong_tile.pack(g, 5, weight.data()), std::invalid_argument);  // F(5, 3) is not built
}

TEST_CASE("winograd inference of every zoo model is close to the direct kernels and sees changed parameters") {
    for (const std::string& name : model_names())
        for (int batch : {1, 4}) {
            CAPTURE(name);
            CAPTURE(batch);
            Network net = build_model(name, 7);
            const Tensor images = fer::testing::random_tensor({batch, 1, 48, 48}, 8);
            const Context direct_ctx = Context::eval(RunOptions{2, Precision::fp32, false});
            const Context winograd_ctx = Context::eval(RunOptions{2, Precision::fp32, true});
            // Logits: an untrained network's probabilities are close to uniform, so they would hide differences.
            const Tensor direct = net.forward_logits(images, direct_ctx);
            const Tensor winograd = net.forward_logits(images, winograd_ctx);
            const std::vector<float> direct_values(direct.data(), direct.data() + direct.size());
            const std::vector<float> winograd_values(winograd.data(), winograd.data() + winograd.size());
            const double difference = relative_difference(winograd_values, direct_values);
            CHECK(difference > 0);     // it did run another kernel
            CHECK(difference < 1e-5);  // measured up to 9e-7
            const Tensor again = net.forward_logits(images, winograd_ctx);
            CHECK(std::equal(again.data(), again.data() + again.size(), winograd.data()));

            // New parameters through params(): the next forward must use them, like a network built with them.
            for (float& p : net.params()) p *= 0.5f;
            const Tensor changed = net.forward_logits(images, winograd_ctx);
            Network fresh = build_model(name, 7);
            std::copy(net.params().begin(), net.params().end(), fresh.params().begin());
            std::copy(net.state().begin(), net.state().end(), fresh.state().begin());
            const Tensor expected = fresh.forward_logits(images, winograd_ctx);
            CHECK(std::equal(changed.data(), changed.data() + changed.size(), expected.data()));
            CHECK_FALSE(std::equal(changed.data(), changed.data() + changed.size(), winograd.data()));
        }
}

TEST_CASE("a network's convolutions share one Winograd scratch without reading what another layer left in it") {
    // Context::winograd_scratch given by the caller, its buffers left full of NaN and larger than any layer
    // needs: a layer that read a value it had not written would turn the result into NaN or change its bits.
    WinogradWorkspace dirty;
    for (auto* buffers : {&dirty.padded, &dirty.transformed, &dirty.products, &dirty.staged, &dirty.sums})
        buffers->assign(4, std::vector<float>(1 << 20, std::nanf("")));
    for (const std::string& name : {std::string("gap"), std::string("five_layer")}) {
        CAPTURE(name);
        Network own = build_model(name, 7);
        Network shared = build_model(name, 7);
        const RunOptions options{2, Precision::fp32, true};
        for (int batch : {4, 2, 3}) {  // larger, then smaller: the buffers keep their old sizes and contents
            CAPTURE(batch);
            const Tensor images = fer::testing::random_tensor({batch, 1, 48, 48}, 9 + batch);
            const Context eval = Context::eval(options);
            Context eval_dirty = eval;
            eval_dirty.winograd_scratch = &dirty;
            const Tensor expected = own.forward_logits(images, eval);
            const Tensor got = shared.forward_logits(images, eval_dirty);
            CHECK(std::equal(got.data(), got.data() + got.size(), expected.data()));

            const Context train = Context::train(options, 5);
            Context train_dirty = train;
            train_dirty.winograd_scratch = &dirty;
            const Tensor dlogits = fer::testing::random_tensor({batch, 7, 1, 1}, 20 + batch);
            own.zero_grads();
            shared.zero_grads();
            own.forward_logits(images, train);
            own.backward(images, dlogits, train);
            shared.forward_logits(images, train_dirty);
            shared.backward(images, dlogits, train_dirty);
            CHECK(std::equal(shared.grads().begin(), shared.grads().end(), own.grads().begin()));
        }
    }
}

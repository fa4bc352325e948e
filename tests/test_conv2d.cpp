#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv_case.hpp"
#include "fer/conv2d.hpp"
#include "fer/conv_kernels.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::ConvCase;
using fer::testing::make_geometry;
using fer::testing::relative_difference;

namespace {

std::string describe(const ConvCase& k, int threads) {
    return fer::testing::describe(k) + " threads " + std::to_string(threads);
}

std::vector<float> random_vector(std::size_t size, std::uint64_t seed) {
    Tensor t = fer::testing::random_tensor({1, 1, 1, int(size)}, seed);
    return {t.data(), t.data() + size};
}

const std::vector<ConvCase> kernel_cases = {
    // n  c  h  w oc kh kw sh sw padding
    {1, 1, 8, 8, 4, 3, 3, 1, 1, Padding::same},    {3, 1, 9, 7, 2, 5, 5, 1, 1, Padding::same},
    {3, 3, 8, 8, 5, 4, 4, 1, 1, Padding::same},    {1, 2, 9, 9, 3, 4, 4, 2, 2, Padding::same},
    {3, 4, 7, 7, 6, 1, 1, 1, 1, Padding::same},    {1, 3, 6, 5, 4, 1, 1, 1, 1, Padding::valid},
    {3, 2, 7, 8, 3, 1, 1, 2, 2, Padding::valid},   {3, 3, 11, 10, 4, 7, 7, 1, 1, Padding::same},
    {1, 2, 12, 12, 3, 7, 7, 2, 2, Padding::valid}, {3, 2, 9, 8, 3, 4, 3, 1, 2, Padding::same},
    {3, 3, 10, 9, 2, 3, 5, 2, 1, Padding::valid},  {1, 1, 5, 5, 2, 5, 5, 1, 1, Padding::valid},
    {3, 2, 3, 2, 3, 7, 7, 1, 1, Padding::same},    {3, 5, 8, 8, 8, 3, 3, 2, 2, Padding::same},
    {3, 3, 10, 10, 4, 5, 5, 2, 2, Padding::same},  {2, 4, 6, 6, 5, 3, 3, 1, 1, Padding::valid},
};

}  // namespace

TEST_CASE("conv2d reference forward matches a hand-computed case") {
    // 1 channel 3x3 input, one 2x2 kernel, stride 1, 'same': TensorFlow pads one column right and one row below.
    const ConvGeometry g{1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 3, 3};
    const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float weight[4] = {1, 10, 100, 1000};  // w(0,0)=1 w(0,1)=10 w(1,0)=100 w(1,1)=1000
    const float bias[1] = {0.5f};
    float out[9];
    conv2d_forward_reference(g, in, weight, bias, out);
    const float expected[9] = {
        1 + 20 + 400 + 5000 + 0.5f,
        2 + 30 + 500 + 6000 + 0.5f,
        3 + 600 + 0.5f,  // last column: right pad
        4 + 50 + 700 + 8000 + 0.5f,
        5 + 60 + 800 + 9000 + 0.5f,
        6 + 900 + 0.5f,
        7 + 80 + 0.5f,
        8 + 90 + 0.5f,
        9 + 0.5f,  // last row: bottom pad
    };
    for (int i = 0; i < 9; ++i) CHECK(out[i] == doctest::Approx(expected[i]));

    // Backward of the same case: dout all ones, so dL/din(y,x) sums the weights that touched (y,x).
    const float dout[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    float din[9];
    conv2d_backward_input_reference(g, dout, weight, din);
    const float expected_din[9] = {1, 11, 11, 101, 1111, 1111, 101, 1111, 1111};
    for (int i = 0; i < 9; ++i) CHECK(din[i] == doctest::Approx(expected_din[i]));

    float dweight[4] = {1, 1, 1, 1};  // accumulated onto
    float dbias[1] = {2};
    conv2d_backward_weights_reference(g, in, dout, dweight, dbias);
    // w(0,0) sees every pixel; w(0,1) misses column 0; w(1,0) misses row 0; w(1,1) misses both.
    const float expected_dweight[4] = {1 + 45, 1 + 45 - 12, 1 + 45 - 6, 1 + 45 - 12 - 6 + 1};
    for (int i = 0; i < 4; ++i) CHECK(dweight[i] == doctest::Approx(expected_dweight[i]));
    CHECK(dbias[0] == doctest::Approx(2 + 9));
}

TEST_CASE("conv2d fast kernels match the reference") {
    ConvWorkspace workspace;  // shared across geometries, so growth and reuse are exercised
    for (const ConvCase& k : kernel_cases)
        for (int threads : {1, 2})
            for (bool with_bias : {true, false}) {
                const ConvGeometry g = make_geometry(k);
                INFO(describe(k, threads), (with_bias ? " bias" : " no bias"));
                const std::size_t in_size = g.n * g.input_size(), out_size = g.n * g.output_size();
                std::vector<float> in = random_vector(in_size, 11), weight = random_vector(g.weight_size(), 12);
                std::vector<float> bias = random_vector(g.oc, 13), dout = random_vector(out_size, 14);
                const float* bias_ptr = with_bias ? bias.data() : nullptr;

                std::vector<float> out_fast(out_size, NAN), out_ref(out_size, NAN);
                conv2d_forward(g, in.data(), weight.data(), bias_ptr, out_fast.data(), threads, workspace);
                conv2d_forward_reference(g, in.data(), weight.data(), bias_ptr, out_ref.data());
                CHECK(relative_difference(out_fast, out_ref) <= 1e-4);

                std::vector<float> din_fast(in_size, NAN), din_ref(in_size, NAN);
                conv2d_backward_input(g, dout.data(), weight.data(), din_fast.data(), threads, workspace);
                conv2d_backward_input_reference(g, dout.data(), weight.data(), din_ref.data());
                CHECK(relative_difference(din_fast, din_ref) <= 1e-4);

                // Both start from the same non-zero values: the kernels accumulate.
                std::vector<float> dweight_fast(g.weight_size(), 0.25f), dweight_ref(g.weight_size(), 0.25f);
                std::vector<float> dbias_fast(g.oc, -0.5f), dbias_ref(g.oc, -0.5f);
                conv2d_backward_weights(g, in.data(), dout.data(), dweight_fast.data(),
                                        with_bias ? dbias_fast.data() : nullptr, threads, workspace);
                conv2d_backward_weights_reference(g, in.data(), dout.data(), dweight_ref.data(),
                                                  with_bias ? dbias_ref.data() : nullptr);
                CHECK(relative_difference(dweight_fast, dweight_ref) <= 1e-4);
                CHECK(relative_difference(dbias_fast, dbias_ref) <= 1e-4);
                if (!with_bias) CHECK(dbias_fast == std::vector<float>(g.oc, -0.5f));
            }
}

TEST_CASE("conv2d gradients") {
    struct GradCase {
        Conv2DSpec spec;
        Shape in;
        int threads;
        // The output is linear in each input and weight, so a large step is exact up to rounding, and the
        // rounding of Winograd's transforms (~1e-4 of the largest output with F(4x4, 7x7)) divided by a small
        // step would swamp the difference.
        float eps = 1e-2f;
    };
    const std::vector<GradCase> cases = {
        {{4, 3, 3, 1, 1, Padding::same, true}, {2, 3, 6, 6}, 1},
        {{3, 4, 4, 1, 1, Padding::same, true}, {2, 2, 7, 7}, 1},  // even kernel: extra pad at the end
        {{3, 4, 4, 1, 1, Padding::same, true}, {1, 2, 7, 7}, 2},  // batch 1 split across threads
        {{3, 3, 3, 2, 2, Padding::same, true}, {2, 2, 7, 7}, 2},
        {{2, 5, 3, 1, 2, Padding::valid, false}, {2, 2, 8, 7}, 1},
        {{3, 1, 1, 1, 1, Padding::same, true}, {3, 4, 4, 4}, 2},  // pointwise path
        // 16 channels each way: Winograd's forward and input gradient (F(4x4, 3x3), F(4x4, 7x7), a full
        // convolution as the 'valid' layer's input gradient)
        {{16, 3, 3, 1, 1, Padding::same, true}, {2, 16, 8, 8}, 2, 0.5f},
        {{16, 7, 7, 1, 1, Padding::same, true}, {1, 16, 9, 9}, 1, 0.5f},
        {{17, 5, 5, 1, 1, Padding::valid, false}, {2, 16, 10, 10}, 2, 0.5f},
    };
    for (const GradCase& k : cases) {
        INFO("in ", k.in.str(), " kernel ", k.spec.kernel_h, "x", k.spec.kernel_w, " stride ", k.spec.stride_h, "x",
             k.spec.stride_w, " ", to_string(k.spec.padding), " threads ", k.threads);
        Conv2D layer(k.spec);
        fer::testing::GradCheckOptions options;
        options.threads = k.threads;
        options.eps = k.eps;
        fer::testing::check_layer_gradients(layer, k.in, options);
    }
}

TEST_CASE("conv2d output shapes, parameters and config") {
    SUBCASE("48 'same' 5x5 stays 48") {
        Conv2D layer({32, 5, 5, 1, 1, Padding::same, true});
        CHECK(layer.setup({1, 1, 48, 48}) == Shape{1, 32, 48, 48});
        CHECK(layer.param_size() == 32 * 1 * 5 * 5 + 32);
        CHECK(layer.macs() == std::uint64_t(32) * 48 * 48 * 25);
    }
    SUBCASE("the paper's 4x4 'same' convolution keeps 24") {
        Conv2D layer({64, 4, 4, 1, 1, Padding::same, true});
        CHECK(layer.setup({1, 32, 24, 24}) == Shape{1, 64, 24, 24});
    }
    SUBCASE("strided and valid") {
        CHECK(Conv2D({8, 3, 3, 2, 2, Padding::same, true}).setup({1, 3, 48, 48}) == Shape{1, 8, 24, 24});
        CHECK(Conv2D({8, 5, 5, 1, 1, Padding::valid, true}).setup({1, 3, 48, 48}) == Shape{1, 8, 44, 44});
        CHECK(Conv2D({8, 4, 3, 2, 1, Padding::valid, true}).setup({1, 3, 10, 9}) == Shape{1, 8, 4, 7});
    }
    SUBCASE("param blocks") {
        Conv2D with_bias({6, 3, 3, 1, 1, Padding::same, true});
        with_bias.setup({1, 2, 5, 5});
        auto blocks = with_bias.param_blocks();
        REQUIRE(blocks.size() == 2);
        CHECK(blocks[0].name == "weight");
        CHECK(blocks[0].size == 6 * 2 * 9);
        CHECK(blocks[0].decay);
        CHECK(blocks[1].name == "bias");
        CHECK(blocks[1].size == 6);
        CHECK_FALSE(blocks[1].decay);
        Conv2D no_bias({6, 3, 3, 1, 1, Padding::same, false});
        no_bias.setup({1, 2, 5, 5});
        CHECK(no_bias.param_blocks().size() == 1);
    }
    SUBCASE("config") {
        Conv2D square({32, 5, 5, 1, 1, Padding::same, true});
        CHECK(square.kind() == "conv2d");
        CHECK(square.config() ==
              LayerConfig{{"filters", "32"}, {"kernel", "5"}, {"stride", "1"}, {"padding", "same"}, {"bias", "true"}});
        Conv2D rect({7, 4, 3, 2, 1, Padding::valid, false});
        CHECK(rect.config() ==
              LayerConfig{
                  {"filters", "7"}, {"kernel", "4x3"}, {"stride", "2x1"}, {"padding", "valid"}, {"bias", "false"}});
    }
}

TEST_CASE("conv2d Glorot uniform init") {
    Conv2D layer({16, 3, 3, 1, 1, Padding::same, true});
    layer.setup({1, 8, 6, 6});
    std::vector<float> params(layer.param_size(), 7.0f), grads(layer.param_size());
    layer.bind(params.data(), grads.data(), nullptr);
    Rng rng(3);
    layer.init(rng);
    const float limit = std::sqrt(6.0f / (8 * 9 + 16 * 9));
    const std::size_t weights = 16 * 8 * 9;
    float largest = 0;
    for (std::size_t i = 0; i < weights; ++i) largest = std::max(largest, std::abs(params[i]));
    CHECK(largest <= limit);
    CHECK(largest > 0.9f * limit);  // the whole range is used
    for (std::size_t i = weights; i < params.size(); ++i) CHECK(params[i] == 0.0f);
}

TEST_CASE("conv2d bad specs and inputs throw") {
    auto throws_naming_conv2d = [](auto&& make) {
        try {
            make();
        } catch (const std::invalid_argument& e) {
            return std::string(e.what()).find("conv2d") != std::string::npos;
        }
        return false;
    };
    CHECK(throws_naming_conv2d([] { Conv2D({0, 3, 3, 1, 1, Padding::same, true}); }));
    CHECK(throws_naming_conv2d([] { Conv2D({-4, 3, 3, 1, 1, Padding::same, true}); }));
    CHECK(throws_naming_conv2d([] { Conv2D({4, 0, 3, 1, 1, Padding::same, true}); }));
    CHECK(throws_naming_conv2d([] { Conv2D({4, 3, -1, 1, 1, Padding::same, true}); }));
    CHECK(throws_naming_conv2d([] { Conv2D({4, 3, 3, 0, 1, Padding::same, true}); }));
    CHECK(throws_naming_conv2d([] { Conv2D({4, 3, 3, 1, 0, Padding::same, true}); }));
    CHECK(throws_naming_conv2d([] { Conv2D({4, 5, 5, 1, 1, Padding::valid, true}).setup({1, 1, 4, 4}); }));
    CHECK(throws_naming_conv2d([] { Conv2D({4, 3, 3, 1, 1, Padding::same, true}).setup({1, 0, 4, 4}); }));
    CHECK(throws_naming_conv2d([] {
        Conv2D layer({2, 3, 3, 1, 1, Padding::same, true});
        layer.setup({1, 1, 4, 4});
        std::vector<float> params(layer.param_size()), grads(layer.param_size());
        layer.bind(params.data(), grads.data(), nullptr);
        Tensor in({1, 2, 4, 4}), out;  // two channels where setup saw one
        layer.forward(in, out, Context{});
    }));
}

TEST_CASE("conv2d is deterministic with two threads") {
    for (int batch : {5, 1}) {
        INFO("batch ", batch);
        auto run = [batch](std::vector<float>& out_copy, std::vector<float>& grads_copy, std::vector<float>& din_copy) {
            Conv2D layer({6, 4, 4, 1, 1, Padding::same, true});
            layer.setup({1, 3, 12, 12});
            std::vector<float> params(layer.param_size()), grads(layer.param_size(), 0.0f);
            layer.bind(params.data(), grads.data(), nullptr);
            Rng rng(9);
            layer.init(rng);
            Tensor in = fer::testing::random_tensor({batch, 3, 12, 12}, 21), out, din;
            Tensor dout = fer::testing::random_tensor({batch, 6, 12, 12}, 22);
            Context ctx{true, 2, 0};
            layer.forward(in, out, ctx);
            layer.backward(in, out, dout, &din, ctx);
            out_copy.assign(out.data(), out.data() + out.size());
            din_copy.assign(din.data(), din.data() + din.size());
            grads_copy = grads;
        };
        std::vector<float> out_a, grads_a, din_a, out_b, grads_b, din_b;
        run(out_a, grads_a, din_a);
        run(out_b, grads_b, din_b);
        REQUIRE(out_a.size() == out_b.size());
        REQUIRE(grads_a.size() == grads_b.size());
        CHECK(std::memcmp(out_a.data(), out_b.data(), out_a.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(grads_a.data(), grads_b.data(), grads_a.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(din_a.data(), din_b.data(), din_a.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("conv2d training runs Winograd's kernels where they apply: close to the direct kernels, reproducible") {
    // gap's 32 -> 32 5x5 layer at a batch of 3: forward and input gradient by F(4x4, 5x5), the weight gradient
    // by F(5x5, 4x4) on the same tiles.
    struct Pass {
        std::vector<float> out, din, grads;
    };
    auto run = [](bool winograd, int threads) {
        Conv2D layer({32, 5, 5, 1, 1, Padding::same, true});
        layer.setup({1, 32, 24, 24});
        std::vector<float> params(layer.param_size()), grads(layer.param_size(), 0.0f);
        layer.bind(params.data(), grads.data(), nullptr);
        Rng rng(3);
        layer.init(rng);
        const Tensor in = fer::testing::random_tensor({3, 32, 24, 24}, 31);
        const Tensor dout = fer::testing::random_tensor({3, 32, 24, 24}, 32);
        Tensor out, din;
        Context ctx = Context::train(RunOptions{threads, Precision::fp32, winograd}, 0);
        layer.forward(in, out, ctx);
        layer.backward(in, out, dout, &din, ctx);
        return Pass{{out.data(), out.data() + out.size()}, {din.data(), din.data() + din.size()}, grads};
    };
    const Pass direct = run(false, 2), winograd = run(true, 2), winograd_one_thread = run(true, 1);
    CHECK(winograd.out != direct.out);  // it did run another kernel
    CHECK(winograd.din != direct.din);
    CHECK(fer::testing::relative_difference(winograd.out, direct.out) < 5e-5);
    CHECK(fer::testing::relative_difference(winograd.din, direct.din) < 5e-5);
    CHECK(winograd.grads != direct.grads);
    CHECK(fer::testing::relative_difference(winograd.grads, direct.grads) < 5e-5);
    CHECK(winograd_one_thread.out == winograd.out);
    CHECK(winograd_one_thread.din == winograd.din);
    CHECK(fer::testing::relative_difference(winograd_one_thread.grads, direct.grads) < 5e-5);
    CHECK(run(true, 2).grads == winograd.grads);  // the weight gradient's per-thread sums: same bits per count
}

TEST_CASE("conv2d skips the input gradient when din is null") {
    Conv2D layer({2, 3, 3, 1, 1, Padding::same, true});
    layer.setup({1, 1, 5, 5});
    std::vector<float> params(layer.param_size()), grads(layer.param_size(), 0.0f);
    layer.bind(params.data(), grads.data(), nullptr);
    Rng rng(1);
    layer.init(rng);
    Tensor in = fer::testing::random_tensor({2, 1, 5, 5}, 4), out;
    Context ctx{true, 1, 0};
    layer.forward(in, out, ctx);
    Tensor dout = fer::testing::random_tensor(out.shape(), 5);
    layer.backward(in, out, dout, nullptr, ctx);
    CHECK(std::any_of(grads.begin(), grads.end(), [](float v) { return v != 0.0f; }));
}

// The bf16 inference convolution: the rounding against the hardware's, the fast kernel against the plain
// bf16 reference (all block shapes and tails, epilogues, 1 and 2 threads, run-to-run bits), and the
// reference against fp32 within bf16's precision; whole networks in bf16 against fp32, and converted
// weights that follow new parameters.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "conv_case.hpp"
#include "fer/conv_bf16.hpp"
#include "fer/model_zoo.hpp"
#include "fer/network.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::ConvCase;
using fer::testing::ForwardCase;
using fer::testing::ForwardOperands;
using fer::testing::make_geometry;
using fer::testing::random_values;
using fer::testing::relative_difference;

namespace {

float from_bits(std::uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

}  // namespace

TEST_CASE("to_bf16 rounds to nearest, ties to even, and keeps NaN and infinity") {
    CHECK(to_bf16(1.0f) == 0x3f80);
    CHECK(to_bf16(from_bits(0x3f808000u)) == 0x3f80);  // a tie, down to the even neighbour
    CHECK(to_bf16(from_bits(0x3f818000u)) == 0x3f82);  // a tie, up to the even neighbour
    CHECK(to_bf16(from_bits(0x3f808001u)) == 0x3f81);
    CHECK(to_bf16(-2.5f) == 0xc020);
    CHECK(to_bf16(from_bits(0x7f7fffffu)) == 0x7f80);  // the largest float rounds up to infinity
    CHECK(to_bf16(INFINITY) == 0x7f80);
    CHECK(std::isnan(from_bf16(to_bf16(NAN))));
    CHECK(std::isnan(from_bf16(to_bf16(from_bits(0x7f800001u)))));  // a NaN whose payload truncates to zero
    CHECK(from_bf16(to_bf16(3.0f)) == 3.0f);
}

namespace {}  // namespace

TEST_CASE("bf16 convolution matches the bf16 reference") {
    // Contiguous blocks (rows >= 24 or >= 12 wide) with partial last blocks, gathered blocks on small maps,
    // one and several channel vectors with a partial last one, odd input channels, 'valid' and even kernels.
    const std::vector<ForwardCase> cases = {
        // n  c   h   w  oc kh kw sh sw padding        bias  epilogue
        {{1, 16, 48, 48, 16, 7, 7, 1, 1, Padding::same}, true, true},
        {{1, 1, 48, 48, 16, 7, 7, 1, 1, Padding::same}, true, false},
        {{2, 16, 24, 24, 32, 5, 5, 1, 1, Padding::same}, true, true},
        {{1, 32, 12, 12, 64, 3, 3, 1, 1, Padding::same}, false, true},
        {{3, 64, 6, 6, 128, 3, 3, 1, 1, Padding::same}, true, true},
        {{1, 128, 3, 3, 256, 3, 3, 1, 1, Padding::same}, true, false},
        {{2, 256, 3, 3, 7, 3, 3, 1, 1, Padding::same}, true, false},
        {{2, 3, 13, 29, 5, 3, 3, 1, 1, Padding::same}, true, true},
        {{1, 5, 20, 27, 40, 4, 4, 1, 1, Padding::same}, true, true},
        {{2, 4, 9, 30, 17, 3, 5, 1, 1, Padding::valid}, false, false},
        {{1, 6, 5, 7, 33, 2, 2, 1, 1, Padding::valid}, true, true},
        {{2, 2, 1, 1, 3, 1, 1, 1, 1, Padding::valid}, true, false},
    };
    if (!bf16_supported()) {
        MESSAGE("skipped: this build or CPU has no AVX-512 BF16");
        return;
    }
    for (const ForwardCase& k : cases) {
        const ForwardOperands operands(k);
        const ConvGeometry& g = operands.geometry;
        const std::vector<float>&in = operands.values.in, &weight = operands.values.weight;
        const float* bias = operands.bias();
        const ChannelEpilogue* epilogue = operands.epilogue();

        std::vector<float> expected(g.n * g.output_size());
        conv2d_forward_bf16_reference(g, in.data(), weight.data(), bias, expected.data(), epilogue);
        Bf16ConvWeights packed;
        packed.pack(g, weight.data());
        CAPTURE(fer::testing::describe(k.shape));
        fer::testing::check_fast_kernel(expected, 1e-5, {1, 2}, [&](int threads, std::vector<float>& out) {
            Bf16ConvWorkspace workspace;
            conv2d_forward_bf16(g, in.data(), packed, bias, out.data(), threads, workspace, epilogue);
        });
    }
}

TEST_CASE("the bf16 reference is the fp32 convolution within bf16's precision") {
    const ConvGeometry g = make_geometry({2, 8, 12, 12, 16, 3, 3, 1, 1, Padding::same});
    const std::vector<float> in = random_values(g.n * g.input_size(), 11);
    const std::vector<float> weight = random_values(g.weight_size(), 12);
    std::vector<float> fp32(g.n * g.output_size()), bf16(g.n * g.output_size());
    conv2d_forward_reference(g, in.data(), weight.data(), nullptr, fp32.data());
    conv2d_forward_bf16_reference(g, in.data(), weight.data(), nullptr, bf16.data());
    const double difference = relative_difference(bf16, fp32);
    CHECK(difference > 0);     // it did round
    CHECK(difference < 2e-2);  // 8 mantissa bits: about 0.4 % per operand
}

TEST_CASE("bf16 convolution refuses a stride it does not handle") {
    const ConvGeometry g = make_geometry({1, 2, 8, 8, 4, 3, 3, 2, 2, Padding::same});
    CHECK_FALSE(bf16_conv_applies(g));
    if (!bf16_supported()) return;
    Bf16ConvWeights packed;
    std::vector<float> weight(g.weight_size(), 0.5f), in(g.input_size(), 1.0f), out(g.output_size());
    packed.pack(g, weight.data());
    Bf16ConvWorkspace workspace;
    CHECK_THROWS_AS(conv2d_forward_bf16(g, in.data(), packed, nullptr, out.data(), 1, workspace), std::logic_error);
}

TEST_CASE("bf16 inference of every zoo model is close to fp32 and sees changed parameters") {
    if (!bf16_supported()) {
        MESSAGE("skipped: this build or CPU has no AVX-512 BF16");
        return;
    }
    for (const std::string& name : model_names()) {
        CAPTURE(name);
        Network net = build_model(name, 7);
        const Tensor images = fer::testing::random_tensor({3, 1, 48, 48}, 8);
        const Tensor fp32 = net.forward(images, Context::eval(RunOptions{2, Precision::fp32}));
        const Context bf16_ctx = Context::eval(RunOptions{2, Precision::bf16});
        const Tensor bf16 = net.forward(images, bf16_ctx);
        double largest = 0;
        for (std::size_t i = 0; i < fp32.size(); ++i) largest = std::max(largest, double(std::abs(fp32[i] - bf16[i])));
        CHECK(largest > 0);     // it did run in bf16
        CHECK(largest < 0.02);  // probabilities within 2 points
        const Tensor again = net.forward(images, bf16_ctx);
        CHECK(std::equal(again.data(), again.data() + again.size(), bf16.data()));  // converted weights kept

        // New parameters through params(): the next bf16 forward must use them, like a network built with them.
        for (float& p : net.params()) p *= 0.5f;
        const Tensor changed = net.forward(images, bf16_ctx);
        Network fresh = build_model(name, 7);
        std::copy(net.params().begin(), net.params().end(), fresh.params().begin());
        std::copy(net.state().begin(), net.state().end(), fresh.state().begin());
        const Tensor expected = fresh.forward(images, bf16_ctx);
        CHECK(std::equal(changed.data(), changed.data() + changed.size(), expected.data()));
        CHECK_FALSE(std::equal(changed.data(), changed.data() + changed.size(), bf16.data()));
    }
}

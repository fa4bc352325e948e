// Tests for the Residual block with conv-free bodies (Dense / BatchNorm / ReLU on flat inputs).
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "fer/activations.hpp"
#include "fer/batch_norm.hpp"
#include "fer/dense.hpp"
#include "fer/residual.hpp"
#include "gradcheck.hpp"

using fer::Context;
using fer::Sequence;
using fer::Shape;
using fer::Tensor;
using fer::testing::check_layer_gradients;
using fer::testing::GradCheckOptions;
using fer::testing::normalised_options;
using fer::testing::random_tensor;

namespace {

// dense(width) -> batchnorm -> relu -> dense(width)
Sequence dense_body(int width) {
    Sequence body;
    body.add(std::make_unique<fer::Dense>(width));
    body.add(std::make_unique<fer::BatchNorm>());
    body.add(std::make_unique<fer::ReLU>());
    body.add(std::make_unique<fer::Dense>(width));
    return body;
}

Sequence dense_shortcut(int width) {
    Sequence shortcut;
    shortcut.add(std::make_unique<fer::Dense>(width, false));
    return shortcut;
}

}  // namespace

TEST_CASE("residual gradient checks") {
    // The body's BatchNorm makes the objective float-noisy.
    GradCheckOptions options = normalised_options();
    SUBCASE("identity shortcut, relu after") {
        fer::Residual block(dense_body(6), Sequence());
        check_layer_gradients(block, {4, 6, 1, 1}, options);
    }
    SUBCASE("dense shortcut changing the width, relu after") {
        fer::Residual block(dense_body(6), dense_shortcut(6));
        check_layer_gradients(block, {4, 5, 1, 1}, options);
    }
    SUBCASE("dense shortcut, no relu, two threads") {
        fer::Residual block(dense_body(4), dense_shortcut(4), false);
        options.threads = 2;
        check_layer_gradients(block, {5, 3, 1, 1}, options);
    }
}

TEST_CASE("residual forward is body + shortcut, then relu") {
    const Shape in{3, 4, 1, 1};
    fer::Residual block(dense_body(4), Sequence());
    CHECK(block.setup(in) == Shape{0, 4, 1, 1});
    std::vector<float> params(block.param_size()), grads(block.param_size()), state(block.state_size());
    block.bind(params.data(), grads.data(), state.data());
    fer::Rng rng(5);
    block.init(rng);

    // A twin body bound to the same buffers gives body(x) on its own.
    Sequence twin = dense_body(4);
    twin.setup(in);
    twin.bind(params.data(), grads.data(), state.data());
    Tensor x = random_tensor(in, 7);
    const Context eval{false, 1, 0};
    Tensor body_out = twin.forward(x, eval), y;
    block.forward(x, y, eval);
    REQUIRE(y.shape() == Shape{3, 4, 1, 1});
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == std::max(body_out[i] + x[i], 0.0f));

    SUBCASE("a null din still accumulates the parameter gradients") {
        const Context train{true, 1, 0};
        Tensor dout = random_tensor(in, 8), din;
        block.forward(x, y, train);
        block.backward(x, y, dout, &din, train);
        const std::vector<float> with_din = grads;
        std::fill(grads.begin(), grads.end(), 0.0f);
        block.backward(x, y, dout, nullptr, train);
        CHECK(grads == with_din);
    }
}

TEST_CASE("residual structure: params, children, macs, config") {
    fer::Residual block(dense_body(6), dense_shortcut(6), false);
    block.setup({0, 5, 1, 1});
    // body: dense 5->6 (30 + 6), batchnorm (6 + 6), relu, dense 6->6 (36 + 6); shortcut: dense 5->6 (30).
    CHECK(block.param_size() == 36 + 12 + 42 + 30);
    CHECK(block.state_size() == 12);
    const auto blocks = block.param_blocks();
    REQUIRE(blocks.size() == 7);
    CHECK(blocks[0].name == "body.0.weight");
    CHECK(blocks[2].name == "body.1.gamma");
    CHECK(blocks[6].name == "shortcut.0.weight");
    CHECK(blocks[6].size == 30);
    CHECK(block.children().size() == 5);
    CHECK(block.children()[4] == &block.shortcut().layer(0));
    CHECK(block.body().size() == 4);
    CHECK(block.macs() == 30 + 6 + 36 + 30);
    CHECK(block.config() == fer::LayerConfig{{"relu", "false"}});
}

TEST_CASE("residual rejects branches of different shapes") {
    fer::Residual block(dense_body(4), Sequence());
    CHECK_THROWS_WITH_AS(block.setup({0, 6, 1, 1}),
                         doctest::Contains("residual: body output (4,1,1) does not match shortcut output (6,1,1)"),
                         std::invalid_argument);
    fer::Residual flat_only(dense_body(4), Sequence());
    CHECK_THROWS_WITH_AS(flat_only.setup({0, 2, 3, 3}), doctest::Contains("dense"), std::invalid_argument);
}

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "fer/pooling.hpp"
#include "gradcheck.hpp"

using namespace fer;

namespace {

// Forward in eval mode with one thread (pooling layers have no parameters to bind).
Tensor run_forward(Layer& layer, const Tensor& in, bool training = false) {
    Tensor out;
    layer.forward(in, out, Context{training, 1, 0});
    return out;
}

Tensor counting_tensor(Shape shape) {  // 1, 2, 3, ... in memory order
    Tensor t(shape);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = float(i + 1);
    return t;
}

}  // namespace

TEST_CASE("pooling output shapes") {
    SUBCASE("maxpool 3x3 stride 2 'same': 48 -> 24 -> 12 -> 6") {
        MaxPool2D first({3, 3, 2, 2, Padding::same}), second({3, 3, 2, 2, Padding::same}),
            third({3, 3, 2, 2, Padding::same});
        Shape s = first.setup({1, 16, 48, 48});
        CHECK(s == Shape{1, 16, 24, 24});
        s = second.setup(s);
        CHECK(s == Shape{1, 16, 12, 12});
        s = third.setup(s);
        CHECK(s == Shape{1, 16, 6, 6});
    }
    SUBCASE("avgpool 2x2 'same'") {
        CHECK(AvgPool2D({2, 2, 2, 2, Padding::same}).setup({1, 4, 48, 48}) == Shape{1, 4, 24, 24});
        CHECK(AvgPool2D({2, 2, 2, 2, Padding::same}).setup({1, 4, 3, 3}) == Shape{1, 4, 2, 2});
    }
    SUBCASE("valid and non-square") {
        CHECK(MaxPool2D({2, 2, 2, 2, Padding::valid}).setup({1, 3, 5, 5}) == Shape{1, 3, 2, 2});
        CHECK(AvgPool2D({3, 2, 1, 2, Padding::valid}).setup({1, 3, 6, 7}) == Shape{1, 3, 4, 3});
    }
    SUBCASE("global average") {
        CHECK(GlobalAvgPool2D().setup({1, 7, 6, 5}) == Shape{1, 7, 1, 1});
    }
}

TEST_CASE("avgpool 'same' divides by the valid elements only") {
    SUBCASE("3 -> 2 with a partial window") {
        AvgPool2D layer({2, 2, 2, 2, Padding::same});
        layer.setup({1, 1, 3, 3});
        Tensor out = run_forward(layer, counting_tensor({1, 1, 3, 3}));  // 1..9, row-major
        // TensorFlow pads one row and one column at the end; those are not counted.
        CHECK(out[0] == doctest::Approx((1 + 2 + 4 + 5) / 4.0));
        CHECK(out[1] == doctest::Approx((3 + 6) / 2.0));
        CHECK(out[2] == doctest::Approx((7 + 8) / 2.0));
        CHECK(out[3] == doctest::Approx(9.0));
    }
    SUBCASE("3x3 stride 1 window overlapping padding on all sides") {
        AvgPool2D layer({3, 3, 1, 1, Padding::same});
        layer.setup({1, 1, 3, 3});
        Tensor out = run_forward(layer, counting_tensor({1, 1, 3, 3}));
        CHECK(out.at(0, 0, 0, 0) == doctest::Approx((1 + 2 + 4 + 5) / 4.0));
        CHECK(out.at(0, 0, 0, 1) == doctest::Approx((1 + 2 + 3 + 4 + 5 + 6) / 6.0));
        CHECK(out.at(0, 0, 1, 1) == doctest::Approx(45 / 9.0));
        CHECK(out.at(0, 0, 2, 2) == doctest::Approx((5 + 6 + 8 + 9) / 4.0));
    }
    SUBCASE("backward spreads each gradient over the valid elements") {
        AvgPool2D layer({2, 2, 2, 2, Padding::same});
        layer.setup({1, 1, 3, 3});
        Tensor in = counting_tensor({1, 1, 3, 3});
        Tensor out = run_forward(layer, in, true);
        Tensor dout({1, 1, 2, 2}, 1.0f), din;
        layer.backward(in, out, dout, &din, Context{true, 1, 0});
        const float expected[9] = {0.25f, 0.25f, 0.5f, 0.25f, 0.25f, 0.5f, 0.5f, 0.5f, 1.0f};
        for (int i = 0; i < 9; ++i) CHECK(din[i] == doctest::Approx(expected[i]));
    }
}

TEST_CASE("maxpool 'same' padding never wins and ties go to the first element") {
    SUBCASE("all-negative input: the max is a real element, not a padded zero") {
        MaxPool2D layer({3, 3, 2, 2, Padding::same});
        layer.setup({1, 1, 4, 4});
        Tensor in = counting_tensor({1, 1, 4, 4});
        for (std::size_t i = 0; i < in.size(); ++i) in[i] = -in[i];  // -1 .. -16
        Tensor out = run_forward(layer, in);
        // 4 -> 2, total pad 1 at the end: windows start at rows/cols 0 and 2.
        CHECK(out[0] == -1.0f);
        CHECK(out[1] == -3.0f);
        CHECK(out[2] == -9.0f);
        CHECK(out[3] == -11.0f);
    }
    SUBCASE("ties") {
        MaxPool2D layer({2, 2, 2, 2, Padding::valid});
        layer.setup({1, 1, 2, 4});
        Tensor in({1, 1, 2, 4}, 3.0f), din;
        Tensor out = run_forward(layer, in, true);
        Tensor dout({1, 1, 1, 2}, 1.0f);
        dout[1] = 2.0f;
        layer.backward(in, out, dout, &din, Context{true, 1, 0});
        const float expected[8] = {1, 0, 2, 0, 0, 0, 0, 0};
        for (int i = 0; i < 8; ++i) CHECK(din[i] == expected[i]);
    }
    SUBCASE("backward needs a training forward") {
        MaxPool2D layer({2, 2, 2, 2, Padding::valid});
        layer.setup({1, 1, 4, 4});
        Tensor in({1, 1, 4, 4}, 1.0f), din;
        Tensor out = run_forward(layer, in, false);
        CHECK_THROWS_AS(layer.backward(in, out, Tensor({1, 1, 2, 2}), &din, Context{true, 1, 0}), std::runtime_error);
    }
}

TEST_CASE("global average pooling values") {
    GlobalAvgPool2D layer;
    layer.setup({1, 2, 2, 3});
    Tensor in = counting_tensor({2, 2, 2, 3});  // planes 1..6, 7..12, 13..18, 19..24
    Tensor out = run_forward(layer, in, true);
    CHECK(out.shape() == Shape{2, 2, 1, 1});
    CHECK(out[0] == doctest::Approx(3.5));
    CHECK(out[1] == doctest::Approx(9.5));
    CHECK(out[3] == doctest::Approx(21.5));
    Tensor dout({2, 2, 1, 1}, 6.0f), din;
    dout[2] = 12.0f;
    layer.backward(in, out, dout, &din, Context{true, 1, 0});
    CHECK(din[0] == doctest::Approx(1.0));
    CHECK(din[12] == doctest::Approx(2.0));
}

TEST_CASE("pooling gradients") {
    fer::testing::GradCheckOptions options;
    SUBCASE("maxpool") {
        for (int threads : {1, 2}) {
            options.threads = threads;
            {
                MaxPool2D layer({3, 3, 2, 2, Padding::same});
                Shape in{2, 3, 7, 7};
                fer::testing::check_layer_gradients(layer, in, options, fer::testing::ladder_tensor(in, 5));
            }
            {
                MaxPool2D layer({2, 3, 2, 1, Padding::valid});
                Shape in{2, 2, 6, 5};
                fer::testing::check_layer_gradients(layer, in, options, fer::testing::ladder_tensor(in, 6));
            }
        }
    }
    SUBCASE("avgpool") {
        for (int threads : {1, 2}) {
            options.threads = threads;
            AvgPool2D same({3, 3, 2, 2, Padding::same});
            fer::testing::check_layer_gradients(same, {2, 3, 7, 6}, options);
            AvgPool2D overlapping({3, 2, 1, 1, Padding::same});
            fer::testing::check_layer_gradients(overlapping, {2, 2, 5, 5}, options);
            AvgPool2D valid({2, 2, 2, 2, Padding::valid});
            fer::testing::check_layer_gradients(valid, {2, 2, 5, 5}, options);
        }
    }
    SUBCASE("global average") {
        GlobalAvgPool2D layer;
        fer::testing::check_layer_gradients(layer, {3, 4, 3, 5}, options);
    }
}

TEST_CASE("pooling config and bad specs") {
    MaxPool2D max_pool({3, 3, 2, 2, Padding::same});
    CHECK(max_pool.kind() == "maxpool2d");
    CHECK(max_pool.config() == LayerConfig{{"size", "3"}, {"stride", "2"}, {"padding", "same"}});
    AvgPool2D avg_pool({4, 3, 2, 1, Padding::valid});
    CHECK(avg_pool.kind() == "avgpool2d");
    CHECK(avg_pool.config() == LayerConfig{{"size", "4x3"}, {"stride", "2x1"}, {"padding", "valid"}});
    CHECK(GlobalAvgPool2D().kind() == "global_avg_pool");

    auto message_of = [](auto&& make) -> std::string {
        try {
            make();
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "";
    };
    CHECK(message_of([] { MaxPool2D({0, 2, 2, 2, Padding::valid}); }).find("maxpool2d") != std::string::npos);
    CHECK(message_of([] { AvgPool2D({2, 2, 2, 0, Padding::valid}); }).find("avgpool2d") != std::string::npos);
    CHECK(message_of([] {
              MaxPool2D({5, 5, 1, 1, Padding::valid}).setup({1, 1, 4, 4});
          }).find("maxpool2d") != std::string::npos);
    CHECK(message_of([] { GlobalAvgPool2D().setup({1, 0, 4, 4}); }).find("global_avg_pool") != std::string::npos);
}

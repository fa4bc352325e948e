// Tests for BatchNorm, ReLU, Sigmoid, Softmax, Dropout, Dense, Flatten and SqueezeExcite:
// gradient checks for each, then each layer's semantics against hand or reference computations.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "fer/activations.hpp"
#include "fer/batch_norm.hpp"
#include "fer/dense.hpp"
#include "fer/dropout.hpp"
#include "fer/sequence.hpp"
#include "fer/squeeze_excite.hpp"
#include "gradcheck.hpp"

using fer::Context;
using fer::Shape;
using fer::Tensor;
using fer::testing::check_layer_gradients;
using fer::testing::GradCheckOptions;
using fer::testing::ladder_tensor;
using fer::testing::normalised_options;
using fer::testing::random_tensor;

namespace {

// The buffers a Network would own for one layer, set up and initialised.
struct BoundLayer {
    std::vector<float> params, grads, state;

    BoundLayer(fer::Layer& layer, const Shape& in, std::uint64_t seed = 3) {
        layer.setup(in);
        params.assign(layer.param_size(), 0.0f);
        grads.assign(layer.param_size(), 0.0f);
        state.assign(layer.state_size(), 0.0f);
        layer.bind(params.data(), grads.data(), state.data());
        fer::Rng rng(seed);
        layer.init(rng);
    }
};

Context train_context(int threads = 1, std::uint64_t step = 0) {
    return Context{true, threads, step};
}
Context eval_context(int threads = 1) {
    return Context{false, threads, 0};
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
    if (!(a.shape() == b.shape())) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

}  // namespace

TEST_CASE("gradient checks: batchnorm, activations, dropout, dense, flatten, squeeze_excite") {
    const GradCheckOptions batch_norm_options = normalised_options();
    SUBCASE("batchnorm on (N,C,H,W)") {
        fer::BatchNorm layer;
        check_layer_gradients(layer, {4, 3, 3, 3}, batch_norm_options);
    }
    SUBCASE("batchnorm on (N,F,1,1)") {
        fer::BatchNorm layer(0.9f, 1e-3f);
        check_layer_gradients(layer, {8, 5, 1, 1}, batch_norm_options);
    }
    SUBCASE("relu") {
        fer::ReLU layer;
        check_layer_gradients(layer, {2, 3, 4, 4}, {}, ladder_tensor({2, 3, 4, 4}, 11));
    }
    SUBCASE("sigmoid") {
        fer::Sigmoid layer;
        check_layer_gradients(layer, {2, 3, 2, 2});
    }
    SUBCASE("softmax") {
        fer::Softmax layer;
        check_layer_gradients(layer, {3, 7, 1, 1});
    }
    SUBCASE("dropout") {
        fer::Dropout layer(0.3f);
        check_layer_gradients(layer, {2, 4, 3, 3});
    }
    SUBCASE("dense with bias") {
        fer::Dense layer(4);
        check_layer_gradients(layer, {3, 5, 1, 1});
    }
    SUBCASE("dense without bias, two threads") {
        fer::Dense layer(6, false);
        GradCheckOptions options;
        options.threads = 2;
        check_layer_gradients(layer, {5, 7, 1, 1}, options);
    }
    SUBCASE("flatten") {
        fer::Flatten layer;
        check_layer_gradients(layer, {2, 3, 2, 2});
    }
    SUBCASE("squeeze_excite") {
        fer::SqueezeExcite layer(4);
        check_layer_gradients(layer, {2, 8, 3, 3});
    }
    SUBCASE("squeeze_excite, two threads, hidden width 1") {
        fer::SqueezeExcite layer(16);
        GradCheckOptions options;
        options.threads = 2;
        check_layer_gradients(layer, {3, 6, 2, 2}, options);
    }
}

TEST_CASE("batchnorm training normalises each channel") {
    fer::BatchNorm layer;
    const Shape in{6, 3, 4, 4};
    BoundLayer bound(layer, in);
    Tensor x = random_tensor(in, 21, 3.0f);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += 5.0f;  // a mean far from zero
    Tensor y;
    layer.forward(x, y, train_context());
    REQUIRE(y.shape() == in);
    for (int c = 0; c < in.c; ++c) {
        double sum = 0, squares = 0;
        const double count = double(in.n) * in.h * in.w;
        for (int n = 0; n < in.n; ++n)
            for (int h = 0; h < in.h; ++h)
                for (int w = 0; w < in.w; ++w) sum += y.at(n, c, h, w);
        const double mean = sum / count;
        for (int n = 0; n < in.n; ++n)
            for (int h = 0; h < in.h; ++h)
                for (int w = 0; w < in.w; ++w) squares += (y.at(n, c, h, w) - mean) * (y.at(n, c, h, w) - mean);
        CHECK(std::abs(mean) < 1e-5);
        CHECK(std::abs(squares / count - 1.0) < 1e-3);  // var / (var + eps) with var ~ 9
    }
}

TEST_CASE("batchnorm running statistics start as a cumulative mean of the batch statistics") {
    fer::BatchNorm layer;  // momentum 0.99
    const Shape in{4, 1, 1, 1};
    BoundLayer bound(layer, in);
    Tensor y;
    Tensor first(in), second(in);
    for (int n = 0; n < 4; ++n) first[std::size_t(n)] = float(n), second[std::size_t(n)] = float(2 * n + 10);
    layer.forward(first, y, train_context(1, 0));  // step 0: m = 0, the batch statistics themselves
    CHECK(bound.state[0] == doctest::Approx(1.5));
    CHECK(bound.state[1] == doctest::Approx(5.0 / 3.0));  // unbiased variance of 0 1 2 3
    layer.forward(second, y, train_context(1, 1));        // step 1: m = 1/2, the mean of both batches
    CHECK(bound.state[0] == doctest::Approx((1.5 + 13.0) / 2));
    CHECK(bound.state[1] == doctest::Approx((5.0 / 3.0 + 20.0 / 3.0) / 2));
}

TEST_CASE("batchnorm running statistics follow the Keras update with the unbiased variance") {
    fer::BatchNorm layer;  // momentum 0.99
    const Shape in{3, 2, 2, 2};
    BoundLayer bound(layer, in);
    Tensor x = random_tensor(in, 5, 2.0f);
    Tensor y;
    layer.forward(x, y, train_context(1, 1000));  // late in training: the plain Keras update
    for (int c = 0; c < in.c; ++c) {
        std::vector<double> values;
        for (int n = 0; n < in.n; ++n)
            for (int h = 0; h < in.h; ++h)
                for (int w = 0; w < in.w; ++w) values.push_back(x.at(n, c, h, w));
        double mean = 0;
        for (double v : values) mean += v;
        mean /= double(values.size());
        double unbiased = 0;
        for (double v : values) unbiased += (v - mean) * (v - mean);
        unbiased /= double(values.size() - 1);
        CHECK(bound.state[c] == doctest::Approx(0.99 * 0.0 + 0.01 * mean).epsilon(1e-5));
        CHECK(bound.state[in.c + c] == doctest::Approx(0.99 * 1.0 + 0.01 * unbiased).epsilon(1e-5));
    }
}

TEST_CASE("batchnorm eval uses the running statistics and changes nothing") {
    fer::BatchNorm layer(0.99f, 1e-3f);
    const Shape in{4, 2, 3, 3};
    BoundLayer bound(layer, in);
    // gamma, beta, running mean, running variance per channel.
    bound.params = {1.5f, -0.5f, 0.25f, 2.0f};
    bound.state = {0.3f, -1.0f, 4.0f, 0.5f};
    const std::vector<float> params_before = bound.params, state_before = bound.state;
    Tensor x = random_tensor(in, 8);
    Tensor y;
    layer.forward(x, y, eval_context());
    for (int n = 0; n < in.n; ++n)
        for (int c = 0; c < in.c; ++c)
            for (int h = 0; h < in.h; ++h)
                for (int w = 0; w < in.w; ++w) {
                    float expected = bound.params[c] * (x.at(n, c, h, w) - bound.state[c]) /
                                         std::sqrt(bound.state[in.c + c] + 1e-3f) +
                                     bound.params[in.c + c];
                    CHECK(y.at(n, c, h, w) == doctest::Approx(expected).epsilon(1e-5));
                }
    CHECK(bound.params == params_before);
    CHECK(bound.state == state_before);

    SUBCASE("eval output of a sample does not depend on its batch") {
        Tensor single({1, in.c, in.h, in.w});
        std::copy(x.sample(2), x.sample(2) + in.sample_size(), single.data());
        Tensor y_single;
        layer.forward(single, y_single, eval_context());
        for (std::size_t i = 0; i < in.sample_size(); ++i) CHECK(y_single[i] == y.sample(2)[i]);
    }
}

TEST_CASE("batchnorm training is bit-identical across thread counts and rejects one value per channel") {
    const Shape in{5, 4, 3, 3};
    Tensor x = random_tensor(in, 9);
    fer::BatchNorm one_thread, two_threads;
    BoundLayer bound_one(one_thread, in), bound_two(two_threads, in);
    Tensor y1, y2, dout = random_tensor(in, 10), din1, din2;
    one_thread.forward(x, y1, train_context(1));
    two_threads.forward(x, y2, train_context(2));
    CHECK(bitwise_equal(y1, y2));
    one_thread.backward(x, y1, dout, &din1, train_context(1));
    two_threads.backward(x, y2, dout, &din2, train_context(2));
    CHECK(bitwise_equal(din1, din2));
    CHECK(bound_one.grads == bound_two.grads);
    CHECK(bound_one.state == bound_two.state);

    fer::BatchNorm flat;
    BoundLayer bound_flat(flat, {1, 4, 1, 1});
    Tensor single = random_tensor({1, 4, 1, 1}, 12), out;
    CHECK_THROWS_WITH_AS(flat.forward(single, out, train_context()), doctest::Contains("batchnorm"),
                         std::invalid_argument);
    CHECK_NOTHROW(flat.forward(single, out, eval_context()));
    CHECK_THROWS_WITH_AS(flat.forward(random_tensor({2, 3, 1, 1}, 1), out, eval_context()),
                         doctest::Contains("batchnorm"), std::invalid_argument);

    CHECK(flat.config() == fer::LayerConfig{{"momentum", "0.99"}, {"epsilon", "0.001"}});
    CHECK(flat.param_blocks().size() == 2);
    CHECK(flat.param_blocks()[0].name == "gamma");
    CHECK_FALSE(flat.param_blocks()[0].decay);
    CHECK(flat.state_size() == 8);
}

TEST_CASE("relu and sigmoid values") {
    Tensor x({1, 4, 1, 1});
    x[0] = -2.0f;
    x[1] = 0.0f;
    x[2] = 3.0f;
    x[3] = -100.0f;
    fer::ReLU relu;
    relu.setup(x.shape());
    Tensor y;
    relu.forward(x, y, eval_context());
    CHECK(y[0] == 0.0f);
    CHECK(y[1] == 0.0f);
    CHECK(y[2] == 3.0f);
    CHECK(y[3] == 0.0f);

    fer::Sigmoid sigmoid;
    sigmoid.setup(x.shape());
    sigmoid.forward(x, y, eval_context());
    CHECK(y[0] == doctest::Approx(1.0 / (1.0 + std::exp(2.0))));
    CHECK(y[1] == 0.5f);
    CHECK(y[2] == doctest::Approx(1.0 / (1.0 + std::exp(-3.0))));
    CHECK(y[3] >= 0.0f);
    CHECK(std::isfinite(y[3]));
}

TEST_CASE("softmax rows sum to one and are stable for large inputs") {
    fer::Softmax layer;
    const Shape in{4, 7, 1, 1};
    layer.setup(in);
    Tensor x = random_tensor(in, 13, 5.0f);
    x.at(1, 0, 0, 0) = 1000.0f;
    x.at(1, 1, 0, 0) = 1000.0f;
    x.at(1, 2, 0, 0) = -1000.0f;
    for (int c = 0; c < in.c; ++c) x.at(2, c, 0, 0) = -1000.0f + float(c);
    Tensor y;
    layer.forward(x, y, eval_context());
    for (int n = 0; n < in.n; ++n) {
        double sum = 0;
        for (int c = 0; c < in.c; ++c) {
            CHECK(std::isfinite(y.at(n, c, 0, 0)));
            sum += y.at(n, c, 0, 0);
        }
        CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
    }
    // Row 1: two equal maxima far above the rest share the mass.
    CHECK(y.at(1, 0, 0, 0) == doctest::Approx(0.5f));
    CHECK(y.at(1, 1, 0, 0) == doctest::Approx(0.5f));
    CHECK(y.at(1, 2, 0, 0) == 0.0f);
    // Row 2 is a shifted copy of 0..6, so it equals softmax(0..6).
    double denominator = 0;
    for (int c = 0; c < in.c; ++c) denominator += std::exp(double(c));
    for (int c = 0; c < in.c; ++c) CHECK(y.at(2, c, 0, 0) == doctest::Approx(std::exp(double(c)) / denominator));

    fer::Softmax spatial;
    CHECK_THROWS_WITH_AS(spatial.setup({1, 3, 2, 2}), doctest::Contains("softmax"), std::invalid_argument);
}

TEST_CASE("dropout masks") {
    const float rate = 0.3f;
    const Shape in{2, 16, 32, 32};  // 32768 elements
    Tensor x = ladder_tensor(in, 17, 1e-3f);
    fer::Dropout layer(rate, 1234);
    layer.setup(in);
    Tensor y;
    layer.forward(x, y, train_context(1, 5));
    const float keep_scale = 1.0f / (1.0f - rate);
    std::size_t dropped = 0, wrong_scale = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (y[i] == 0.0f)
            ++dropped;
        else if (y[i] != x[i] * keep_scale)
            ++wrong_scale;
    }
    const double fraction = double(dropped) / double(x.size());
    CHECK(fraction == doctest::Approx(rate).epsilon(0.05));  // 5 standard deviations is 0.013
    CHECK(wrong_scale == 0);

    SUBCASE("eval is the identity") {
        Tensor eval_out;
        layer.forward(x, eval_out, eval_context());
        CHECK(bitwise_equal(eval_out, x));
    }
    SUBCASE("the mask is a function of seed, step and index") {
        fer::Dropout twin(rate, 1234);
        twin.setup(in);
        Tensor same, other_step, two_threads;
        twin.forward(x, same, train_context(1, 5));
        CHECK(bitwise_equal(same, y));
        twin.forward(x, two_threads, train_context(2, 5));
        CHECK(bitwise_equal(two_threads, y));
        twin.forward(x, other_step, train_context(1, 6));
        std::size_t differences = 0;
        for (std::size_t i = 0; i < x.size(); ++i) differences += (other_step[i] == 0.0f) != (y[i] == 0.0f);
        // Independent masks disagree on 2 * 0.3 * 0.7 = 42% of elements.
        CHECK(double(differences) / double(x.size()) == doctest::Approx(0.42).epsilon(0.05));
    }
    SUBCASE("backward applies the forward's mask") {
        Tensor dout = random_tensor(in, 3), din;
        layer.backward(x, y, dout, &din, train_context(1, 5));
        for (std::size_t i = 0; i < x.size(); i += 97) CHECK(din[i] == (y[i] == 0.0f ? 0.0f : dout[i] * keep_scale));
    }
}

TEST_CASE("a sequence passes an eval dropout's input through and refuses backward after it") {
    fer::Sequence seq;
    seq.add(std::make_unique<fer::ReLU>());
    seq.add(std::make_unique<fer::Dropout>(0.5f, 3));
    seq.setup({1, 2, 3, 3});
    const fer::Tensor in = fer::testing::random_tensor({2, 2, 3, 3}, 5);
    const fer::Context eval{false, 2, 0};
    const fer::Tensor& out = seq.forward(in, eval);
    REQUIRE(out.shape() == in.shape());
    for (std::size_t i = 0; i < in.size(); ++i) CHECK(out.data()[i] == std::max(in.data()[i], 0.0f));
    fer::Tensor din;
    CHECK_THROWS_AS(seq.backward(in, in, &din, eval), std::logic_error);
    // Only a dropout: the input itself comes back.
    fer::Sequence alone;
    alone.add(std::make_unique<fer::Dropout>(0.5f, 3));
    alone.setup({1, 2, 3, 3});
    CHECK(&alone.forward(in, eval) == &in);
}

TEST_CASE("dropout seed, config and bad rates") {
    fer::Dropout layer(0.25f, 7);
    CHECK(layer.config() == fer::LayerConfig{{"rate", "0.25"}, {"seed", "7"}});
    layer.setup({1, 3, 1, 1});
    fer::Rng rng(99);
    layer.init(rng);
    fer::Rng expected(99);
    CHECK(layer.seed() == expected.next_u64());
    CHECK(layer.config()[1].second == std::to_string(layer.seed()));

    CHECK_THROWS_WITH_AS(fer::Dropout(1.0f), doctest::Contains("dropout"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(fer::Dropout(-0.1f), doctest::Contains("dropout"), std::invalid_argument);
    CHECK_NOTHROW(fer::Dropout(0.0f));
}

TEST_CASE("dense: a hand-computed 2x3 example") {
    fer::Dense layer(2);
    BoundLayer bound(layer, {2, 3, 1, 1});
    // W = [[1,2,3],[4,5,6]], b = [0.5,-1].
    bound.params = {1, 2, 3, 4, 5, 6, 0.5f, -1};
    Tensor x({2, 3, 1, 1});
    const float inputs[] = {1, 0, -1, 2, 1, 0};
    std::copy(inputs, inputs + 6, x.data());
    Tensor y;
    layer.forward(x, y, train_context());
    REQUIRE(y.shape() == Shape{2, 2, 1, 1});
    CHECK(y[0] == -1.5f);  // 1 - 3 + 0.5
    CHECK(y[1] == -3.0f);  // 4 - 6 - 1
    CHECK(y[2] == 4.5f);   // 2 + 2 + 0.5
    CHECK(y[3] == 12.0f);  // 8 + 5 - 1

    Tensor dout({2, 2, 1, 1}), din;
    dout[0] = 1;  // sample 0 -> unit 0, sample 1 -> unit 1
    dout[3] = 1;
    layer.backward(x, y, dout, &din, train_context());
    const std::vector<float> expected_grads = {1, 0, -1, 2, 1, 0, 1, 1};  // dW rows are x0, x1; db = 1, 1
    CHECK(bound.grads == expected_grads);
    const float expected_din[] = {1, 2, 3, 4, 5, 6};  // row 0 of W, row 1 of W
    for (int i = 0; i < 6; ++i) CHECK(din[i] == expected_din[i]);

    CHECK(layer.macs() == 6);
    CHECK(layer.config() == fer::LayerConfig{{"units", "2"}, {"bias", "true"}});
    CHECK(layer.param_blocks()[0].decay);
    CHECK_FALSE(layer.param_blocks()[1].decay);
}

TEST_CASE("dense matches a reference implementation with two threads") {
    const int batch = 7, features = 37, units = 19;
    fer::Dense layer(units);
    BoundLayer bound(layer, {batch, features, 1, 1});
    for (std::size_t i = 0; i < bound.params.size(); ++i) bound.params[i] += 0.01f * float(i % 13);
    Tensor x = random_tensor({batch, features, 1, 1}, 4), dout = random_tensor({batch, units, 1, 1}, 6);
    Tensor y, din;
    layer.forward(x, y, train_context(2));
    layer.backward(x, y, dout, &din, train_context(2));
    const float* weight = bound.params.data();
    const float* bias = weight + units * features;
    for (int n = 0; n < batch; ++n)
        for (int u = 0; u < units; ++u) {
            double sum = bias[u];
            for (int f = 0; f < features; ++f) sum += double(x.at(n, f, 0, 0)) * weight[u * features + f];
            CHECK(y.at(n, u, 0, 0) == doctest::Approx(sum).epsilon(1e-5));
        }
    for (int n = 0; n < batch; ++n)
        for (int f = 0; f < features; ++f) {
            double sum = 0;
            for (int u = 0; u < units; ++u) sum += double(dout.at(n, u, 0, 0)) * weight[u * features + f];
            CHECK(din.at(n, f, 0, 0) == doctest::Approx(sum).epsilon(1e-5));
        }
    for (int u = 0; u < units; ++u) {
        double bias_sum = 0;
        for (int n = 0; n < batch; ++n) bias_sum += dout.at(n, u, 0, 0);
        CHECK(bound.grads[units * features + u] == doctest::Approx(bias_sum).epsilon(1e-5));
        for (int f = 0; f < features; f += 5) {
            double sum = 0;
            for (int n = 0; n < batch; ++n) sum += double(dout.at(n, u, 0, 0)) * x.at(n, f, 0, 0);
            CHECK(bound.grads[u * features + f] == doctest::Approx(sum).epsilon(1e-5));
        }
    }

    fer::Dense bad(3);
    CHECK_THROWS_WITH_AS(bad.setup({1, 3, 4, 4}),
                         doctest::Contains("dense needs a flat input (F,1,1), got (3,4,4); add flatten"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(fer::Dense(0), doctest::Contains("dense"), std::invalid_argument);
}

TEST_CASE("flatten keeps the memory order") {
    fer::Flatten layer;
    const Shape in{2, 3, 2, 2};
    CHECK(layer.setup(in) == Shape{0, 12, 1, 1});
    Tensor x = random_tensor(in, 2), y;
    layer.forward(x, y, eval_context());
    REQUIRE(y.shape() == Shape{2, 12, 1, 1});
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(y[i] == x[i]);
}

TEST_CASE("squeeze_excite matches a reference implementation") {
    const Shape in{2, 4, 2, 3};
    fer::SqueezeExcite layer(2);  // hidden width 2
    BoundLayer bound(layer, in);
    CHECK(layer.hidden() == 2);
    for (std::size_t i = 0; i < bound.params.size(); ++i) bound.params[i] += 0.05f * float(int(i % 7) - 3);
    Tensor x = random_tensor(in, 31), y;
    layer.forward(x, y, eval_context());
    const int channels = 4, hidden = 2, spatial = 6;
    const float* w1 = bound.params.data();
    const float* b1 = w1 + hidden * channels;
    const float* w2 = b1 + hidden;
    const float* b2 = w2 + channels * hidden;
    for (int n = 0; n < in.n; ++n) {
        double squeeze[4] = {}, z[2] = {};
        for (int c = 0; c < channels; ++c) {
            for (int i = 0; i < spatial; ++i) squeeze[c] += x.sample(n)[c * spatial + i];
            squeeze[c] /= spatial;
        }
        for (int j = 0; j < hidden; ++j) {
            z[j] = b1[j];
            for (int c = 0; c < channels; ++c) z[j] += w1[j * channels + c] * squeeze[c];
            z[j] = std::max(z[j], 0.0);
        }
        for (int c = 0; c < channels; ++c) {
            double a = b2[c];
            for (int j = 0; j < hidden; ++j) a += w2[c * hidden + j] * z[j];
            const double gate = 1.0 / (1.0 + std::exp(-a));
            for (int i = 0; i < spatial; ++i)
                CHECK(y.sample(n)[c * spatial + i] ==
                      doctest::Approx(x.sample(n)[c * spatial + i] * gate).epsilon(1e-5));
        }
    }
    CHECK(layer.param_blocks().size() == 4);
    CHECK(layer.param_blocks()[0].name == "w1");
    CHECK(layer.param_blocks()[0].decay);
    CHECK_FALSE(layer.param_blocks()[3].decay);
    CHECK(layer.config() == fer::LayerConfig{{"reduction", "2"}});
    CHECK_THROWS_WITH_AS(fer::SqueezeExcite(0), doctest::Contains("squeeze_excite"), std::invalid_argument);
}

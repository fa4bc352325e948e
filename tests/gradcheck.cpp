#include "gradcheck.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fer::testing {

Tensor random_tensor(const Shape& shape, std::uint64_t seed, float scale) {
    Tensor t(shape);
    Rng rng(seed);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = scale * rng.normal();
    return t;
}

Tensor ladder_tensor(const Shape& shape, std::uint64_t seed, float gap) {
    Tensor t(shape);
    std::vector<std::size_t> order(t.size());
    std::iota(order.begin(), order.end(), 0);
    Rng rng(seed);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    float offset = -gap * float(t.size() / 2) + gap * 0.5f;  // ladder symmetric around zero, zero excluded
    for (std::size_t i = 0; i < t.size(); ++i) t[order[i]] = offset + gap * float(i);
    return t;
}

namespace {

double dot(const Tensor& a, const Tensor& b) {
    double sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) sum += double(a[i]) * double(b[i]);
    return sum;
}

std::vector<std::size_t> pick_coords(std::size_t count, std::size_t max_coords, Rng& rng) {
    std::vector<std::size_t> coords(count);
    std::iota(coords.begin(), coords.end(), 0);
    if (count > max_coords) {
        for (std::size_t i = 0; i < max_coords; ++i) std::swap(coords[i], coords[i + rng.below(count - i)]);
        coords.resize(max_coords);
    }
    return coords;
}

bool close(double analytic, double numeric, const GradCheckOptions& o) {
    return std::abs(analytic - numeric) <= o.abs_tol + o.rel_tol * std::max(std::abs(analytic), std::abs(numeric));
}

}  // namespace

void check_layer_gradients(Layer& layer, const Shape& in, const GradCheckOptions& o, const Tensor& input) {
    Shape out_sample = layer.setup(in);
    Shape out_shape = out_sample.with_batch(in.n);
    std::vector<float> params(layer.param_size()), grads(layer.param_size()), state(layer.state_size());
    layer.bind(params.data(), grads.data(), state.data());
    Rng rng(o.seed);
    layer.init(rng);
    for (float& p : params) p += 0.1f * rng.normal();  // so zero-initialised biases are exercised

    Tensor x = input.empty() ? random_tensor(in, o.seed + 1) : input;
    check_same_shape(x.shape(), in, "check_layer_gradients input");
    Tensor g = random_tensor(out_shape, o.seed + 2);
    Context ctx{o.training, o.threads, o.step};

    // Eval forward must not touch state.
    {
        std::vector<float> before = state;
        Tensor y;
        layer.forward(x, y, Context{false, o.threads, o.step});
        CHECK_MESSAGE(before == state, layer.kind() << ": eval forward changed layer state");
    }

    auto objective = [&](const Tensor& xin) {
        Tensor y;
        layer.forward(xin, y, ctx);
        REQUIRE(y.shape() == out_shape);
        return dot(g, y);
    };

    Tensor y;
    layer.forward(x, y, ctx);
    REQUIRE_MESSAGE(y.shape() == out_shape, layer.kind()
                                                << ": output " << y.shape().str() << " expected " << out_shape.str());
    std::fill(grads.begin(), grads.end(), 0.0f);
    Tensor din(in, std::nanf(""));
    layer.backward(x, y, g, o.check_input ? &din : nullptr, ctx);
    std::vector<float> first_grads = grads;

    // Accumulation contract: a second backward adds the same gradients again.
    {
        Tensor din2;
        layer.backward(x, y, g, &din2, ctx);
        for (std::size_t i = 0; i < grads.size(); ++i)
            CHECK_MESSAGE(std::abs(grads[i] - 2 * first_grads[i]) <= 1e-4f * (1 + std::abs(first_grads[i])),
                          layer.kind() << ": parameter gradient " << i << " not accumulated");
    }

    if (o.check_input) {
        REQUIRE(din.shape() == in);
        std::size_t bad = 0;
        for (std::size_t i : pick_coords(x.size(), o.max_coords, rng)) {
            float saved = x[i];
            x[i] = saved + o.eps;
            double plus = objective(x);
            x[i] = saved - o.eps;
            double minus = objective(x);
            x[i] = saved;
            double numeric = (plus - minus) / (2.0 * o.eps);
            if (!close(din[i], numeric, o) && bad++ < 5)
                FAIL_CHECK(layer.kind() << ": dL/dx[" << i << "] analytic " << din[i] << " numeric " << numeric);
        }
        CHECK_MESSAGE(bad == 0, layer.kind() << ": " << bad << " input-gradient mismatches");
    }

    std::size_t bad = 0;
    for (std::size_t i : pick_coords(params.size(), o.max_coords, rng)) {
        float saved = params[i];
        params[i] = saved + o.eps;
        double plus = objective(x);
        params[i] = saved - o.eps;
        double minus = objective(x);
        params[i] = saved;
        double numeric = (plus - minus) / (2.0 * o.eps);
        if (!close(first_grads[i], numeric, o) && bad++ < 5)
            FAIL_CHECK(layer.kind() << ": dL/dparam[" << i << "] analytic " << first_grads[i] << " numeric "
                                    << numeric);
    }
    CHECK_MESSAGE(bad == 0, layer.kind() << ": " << bad << " parameter-gradient mismatches");
}

}  // namespace fer::testing

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "fer/optimizer.hpp"

namespace {

using Vec = std::vector<float>;
using Mask = std::vector<std::uint8_t>;

const Vec start = {1.0f, -2.0f, 0.5f};
const Mask decay_all = {1, 1, 1};
const Mask decay_none = {0, 0, 0};
const Mask decay_ends = {1, 0, 1};  // the middle element plays a bias

fer::OptimizerSettings settings(const std::string& kind) {
    fer::OptimizerSettings s;
    s.kind = kind;
    return s;
}

// Runs the optimizer over the given gradients, one step each, from `start`.
Vec run_steps(fer::Optimizer& optimizer, const std::vector<Vec>& grads, const Mask& mask, float lr) {
    Vec params = start;
    for (const Vec& g : grads) optimizer.step(params, g, mask, lr);
    return params;
}

void check_close(const Vec& actual, const std::vector<double>& expected, double tolerance = 1e-6) {
    REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < actual.size(); ++i)
        CHECK_MESSAGE(actual[i] == doctest::Approx(expected[i]).epsilon(tolerance).scale(1.0), "element " << i);
}

}  // namespace

TEST_CASE("sgd: hand-computed steps") {
    const std::vector<Vec> grads = {{0.5f, 1.0f, -1.0f}, {0.5f, 1.0f, -1.0f}};
    SUBCASE("momentum 0.9") {
        // step 1: v = g = (0.5, 1, -1);           p = (1, -2, 0.5) - 0.1 v = (0.95, -2.1, 0.6)
        // step 2: v = 0.9 v + g = (0.95, 1.9, -1.9); p -= 0.1 v       -> (0.855, -2.29, 0.79)
        auto optimizer = fer::make_optimizer(settings("sgd"));
        CHECK(optimizer->kind() == "sgd");
        check_close(run_steps(*optimizer, grads, decay_all, 0.1f), {0.855, -2.29, 0.79});
    }
    SUBCASE("nesterov") {
        // step 1: v = g; update g + 0.9 v = 1.9 g = (0.95, 1.9, -1.9);  p = (0.905, -2.19, 0.69)
        // step 2: v = (0.95, 1.9, -1.9); update g + 0.9 v = (1.355, 2.71, -2.71)
        //         p = (0.905 - 0.1355, -2.19 - 0.271, 0.69 + 0.271) = (0.7695, -2.461, 0.961)
        auto s = settings("sgd");
        s.nesterov = true;
        auto optimizer = fer::make_optimizer(s);
        Vec nesterov = run_steps(*optimizer, grads, decay_all, 0.1f);
        check_close(nesterov, {0.7695, -2.461, 0.961});
        // Nesterov looks ahead along the velocity, so with a steady gradient it moves further.
        auto plain = fer::make_optimizer(settings("sgd"));
        Vec momentum_only = run_steps(*plain, grads, decay_all, 0.1f);
        for (int i = 0; i < 3; ++i) CHECK(std::abs(nesterov[i] - start[i]) > std::abs(momentum_only[i] - start[i]));
    }
    SUBCASE("plain sgd with masked weight decay") {
        // momentum 0, wd 0.1 on elements 0 and 2 only.
        // step 1: g' = (0.5 + 0.1*1, 1, -1 + 0.1*0.5) = (0.6, 1, -0.95);     p = (0.94, -2.1, 0.595)
        // step 2: g' = (0.5 + 0.094, 1, -1 + 0.0595) = (0.594, 1, -0.9405);  p = (0.8806, -2.2, 0.68905)
        auto s = settings("sgd");
        s.momentum = 0.0f;
        s.weight_decay = 0.1f;
        auto optimizer = fer::make_optimizer(s);
        check_close(run_steps(*optimizer, grads, decay_ends, 0.1f), {0.8806, -2.2, 0.68905});
        CHECK(optimizer->state().slots.empty());  // plain SGD keeps no velocity
        // With the mask all zero, weight decay has no effect at all.
        auto undecayed = fer::make_optimizer(s);
        check_close(run_steps(*undecayed, grads, decay_none, 0.1f), {0.9, -2.2, 0.7});
    }
}

TEST_CASE("adam and adamw: hand-computed steps") {
    // b1 = 0.9, b2 = 0.999, eps = 1e-7, lr = 0.1; g1 = (0.5, 1, -1), g2 = (0.1, 1, -2).
    const std::vector<Vec> grads = {{0.5f, 1.0f, -1.0f}, {0.1f, 1.0f, -2.0f}};
    SUBCASE("adam") {
        // step 1: m = 0.1 g1, v = 0.001 g1^2, so m/(1-0.9) = g1 and v/(1-0.999) = g1^2: the step is
        //         lr * g1/|g1| = 0.1 sign(g1);  p = (0.9, -2.1, 0.6) (less 1e-7 relative from eps).
        // step 2: m = 0.9 m + 0.1 g2 = (0.055, 0.19, -0.29);  1 - 0.9^2 = 0.19
        //         v = 0.999 v + 0.001 g2^2 = (0.00025975, 0.001999, 0.004999);  1 - 0.999^2 = 0.001999
        //         mhat = (0.2894737, 1, -1.5263158), sqrt(vhat) = (0.3604719, 1, 1.5813761)
        //         ratio = (0.8030408, 1, -0.9651820)
        //         p = (0.9 - 0.08030408, -2.1 - 0.1, 0.6 + 0.0965182) = (0.8196959, -2.2, 0.6965182)
        auto optimizer = fer::make_optimizer(settings("adam"));
        CHECK(optimizer->kind() == "adam");
        Vec after_one = start;
        optimizer->step(after_one, grads[0], decay_all, 0.1f);
        check_close(after_one, {0.9, -2.1, 0.6});
        optimizer->step(after_one, grads[1], decay_all, 0.1f);
        check_close(after_one, {0.8196959, -2.2, 0.6965182});
        CHECK(optimizer->state().steps == 2);
    }
    SUBCASE("adam with coupled, masked weight decay") {
        // wd = 1 on elements 0 and 2.
        // step 1: g' = (0.5 + 1, 1, -1 + 0.5) = (1.5, 1, -0.5); again a sign step: p = (0.9, -2.1, 0.6)
        // step 2: g' = (0.1 + 0.9, 1, -2 + 0.6) = (1, 1, -1.4)
        //         m = (0.9*0.15 + 0.1, 0.19, 0.9*-0.05 - 0.14) = (0.235, 0.19, -0.185)
        //         v = (0.999*0.00225 + 0.001, 0.001999, 0.999*0.00025 + 0.00196) = (0.00324775, 0.001999, 0.00220975)
        //         mhat = (1.2368421, 1, -0.9736842), sqrt(vhat) = (1.2746322, 1, 1.0513932)
        //         p = (0.9 - 0.1*0.9703521, -2.2, 0.6 + 0.1*0.9260894) = (0.8029648, -2.2, 0.6926089)
        auto s = settings("adam");
        s.weight_decay = 1.0f;
        auto optimizer = fer::make_optimizer(s);
        check_close(run_steps(*optimizer, grads, decay_ends, 0.1f), {0.8029648, -2.2, 0.6926089});
    }
    SUBCASE("adamw with decoupled, masked weight decay") {
        // wd = 1 on elements 0 and 2: before each update p *= 1 - lr*wd = 0.9 there; the Adam part sees g alone.
        // step 1: p = (0.9, -2, 0.45), then the sign step: (0.8, -2.1, 0.55)
        // step 2: p = (0.72, -2.1, 0.495), then the ratios of the plain adam case above:
        //         (0.72 - 0.08030408, -2.2, 0.495 + 0.0965182) = (0.6396959, -2.2, 0.5915182)
        auto s = settings("adamw");
        s.weight_decay = 1.0f;
        auto optimizer = fer::make_optimizer(s);
        CHECK(optimizer->kind() == "adamw");
        check_close(run_steps(*optimizer, grads, decay_ends, 0.1f), {0.6396959, -2.2, 0.5915182});
        // Without weight decay adamw is adam, bit for bit.
        auto adamw = fer::make_optimizer(settings("adamw"));
        auto adam = fer::make_optimizer(settings("adam"));
        CHECK(run_steps(*adamw, grads, decay_all, 0.1f) == run_steps(*adam, grads, decay_all, 0.1f));
    }
}

TEST_CASE("optimizers: state round trip resumes bit-exactly") {
    const std::vector<Vec> grads = {{0.5f, 1.0f, -1.0f}, {0.1f, 1.0f, -2.0f}, {-0.3f, 0.2f, 0.7f}, {0.9f, -0.4f, 0.1f}};
    for (const char* kind : {"sgd", "adam", "adamw"}) {
        for (bool nesterov : {false, true}) {
            if (nesterov && std::string(kind) != "sgd") continue;
            CAPTURE(kind);
            CAPTURE(nesterov);
            auto s = settings(kind);
            s.nesterov = nesterov;
            s.weight_decay = 0.05f;
            auto uninterrupted = fer::make_optimizer(s);
            Vec params = start;
            uninterrupted->step(params, grads[0], decay_ends, 0.1f);
            uninterrupted->step(params, grads[1], decay_ends, 0.1f);

            fer::OptimizerState saved = uninterrupted->state();
            CHECK(saved.kind == kind);
            CHECK(saved.steps == 2);
            CHECK(saved.slots.size() == (std::string(kind) == "sgd" ? 1u : 2u));
            const Vec after_two_steps = params;
            Vec resumed_params = params;
            auto resumed = fer::make_optimizer(s);
            resumed->set_state(saved);

            for (std::size_t i = 2; i < grads.size(); ++i) {
                uninterrupted->step(params, grads[i], decay_ends, 0.07f);
                resumed->step(resumed_params, grads[i], decay_ends, 0.07f);
            }
            CHECK(params == resumed_params);
            CHECK(uninterrupted->state().slots == resumed->state().slots);

            // A fresh optimizer whose state was not restored diverges, so the check above can fail.
            auto fresh = fer::make_optimizer(s);
            Vec fresh_params = after_two_steps;
            for (std::size_t i = 2; i < grads.size(); ++i) fresh->step(fresh_params, grads[i], decay_ends, 0.07f);
            CHECK(fresh_params != params);
        }
    }
}

TEST_CASE("optimizers: set_state rejects a mismatched state") {
    auto adam = fer::make_optimizer(settings("adam"));
    Vec params = start;
    adam->step(params, Vec{0.5f, 1.0f, -1.0f}, decay_all, 0.1f);
    fer::OptimizerState adam_state = adam->state();

    auto adamw = fer::make_optimizer(settings("adamw"));
    CHECK_THROWS_AS(adamw->set_state(adam_state), std::invalid_argument);
    auto sgd = fer::make_optimizer(settings("sgd"));
    CHECK_THROWS_AS(sgd->set_state(adam_state), std::invalid_argument);  // wrong kind (and two slots)

    fer::OptimizerState one_slot = adam_state;
    one_slot.slots.pop_back();
    CHECK_THROWS_AS(fer::make_optimizer(settings("adam"))->set_state(one_slot), std::invalid_argument);
    fer::OptimizerState ragged = adam_state;
    ragged.slots[1].push_back(0.0f);
    CHECK_THROWS_AS(fer::make_optimizer(settings("adam"))->set_state(ragged), std::invalid_argument);

    // A restored state sized for 3 parameters refuses a step over 4.
    auto restored = fer::make_optimizer(settings("adam"));
    restored->set_state(adam_state);
    Vec four = {1.0f, 2.0f, 3.0f, 4.0f};
    CHECK_THROWS_AS(restored->step(four, Vec(4, 0.1f), Mask(4, 1), 0.1f), std::invalid_argument);

    // State saved before any step has no slots and restores fine.
    auto untouched = fer::make_optimizer(settings("sgd"));
    CHECK_NOTHROW(fer::make_optimizer(settings("sgd"))->set_state(untouched->state()));
}

TEST_CASE("optimizers: size mismatches and bad settings throw") {
    auto optimizer = fer::make_optimizer(settings("sgd"));
    Vec params = start;
    CHECK_THROWS_AS(optimizer->step(params, Vec{1.0f, 2.0f}, decay_all, 0.1f), std::invalid_argument);
    CHECK_THROWS_AS(optimizer->step(params, Vec{1.0f, 2.0f, 3.0f}, Mask{1, 1}, 0.1f), std::invalid_argument);

    CHECK_THROWS_WITH_AS(fer::make_optimizer(settings("rmsprop")), doctest::Contains("sgd, adam, adamw"),
                         std::invalid_argument);
    auto s = settings("sgd");
    s.momentum = 0.0f;
    s.nesterov = true;
    CHECK_THROWS_AS(fer::make_optimizer(s), std::invalid_argument);
    s = settings("adam");
    s.beta2 = 1.0f;
    CHECK_THROWS_AS(fer::make_optimizer(s), std::invalid_argument);
    s = settings("adamw");
    s.weight_decay = -0.1f;
    CHECK_THROWS_AS(fer::make_optimizer(s), std::invalid_argument);
    s = settings("adam");
    s.epsilon = 0.0f;
    CHECK_THROWS_AS(fer::make_optimizer(s), std::invalid_argument);
}

TEST_CASE("optimizers: each minimises a quadratic") {
    // f(p) = 1/2 sum a_i (p_i - c_i)^2, gradient a_i (p_i - c_i), with curvatures a spread tenfold.
    const Vec curvature = {1.0f, 4.0f, 10.0f};
    const Vec target = {3.0f, -1.0f, 0.25f};
    struct Case {
        const char* kind;
        bool nesterov;
        float lr;
    };
    for (const Case& c : {Case{"sgd", false, 0.05f}, Case{"sgd", true, 0.05f}, Case{"adam", false, 0.01f},
                          Case{"adamw", false, 0.01f}}) {
        CAPTURE(c.kind);
        CAPTURE(c.nesterov);
        auto s = settings(c.kind);
        s.nesterov = c.nesterov;
        auto optimizer = fer::make_optimizer(s);
        Vec params = start, grads(3);
        for (int step = 0; step < 3000; ++step) {
            for (int i = 0; i < 3; ++i) grads[i] = curvature[i] * (params[i] - target[i]);
            optimizer->step(params, grads, decay_none, c.lr);
        }
        for (int i = 0; i < 3; ++i) CHECK(params[i] == doctest::Approx(target[i]).epsilon(1e-3).scale(1.0));
    }
}

TEST_CASE("optimizers: results do not depend on the thread count") {
    // Large enough for the parallel path.
    const std::size_t size = 100000;
    Vec grads(size), initial(size);
    Mask mask(size);
    for (std::size_t i = 0; i < size; ++i) {
        initial[i] = float(std::sin(0.37 * double(i)));
        grads[i] = float(std::cos(0.11 * double(i)));
        mask[i] = std::uint8_t(i % 3 != 0);
    }
    for (const char* kind : {"sgd", "adam", "adamw"}) {
        CAPTURE(kind);
        auto s = settings(kind);
        s.weight_decay = 0.01f;
        s.threads = 1;
        auto serial = fer::make_optimizer(s);
        s.threads = 2;
        auto parallel = fer::make_optimizer(s);
        Vec a = initial, b = initial;
        for (int step = 0; step < 3; ++step) {
            serial->step(a, grads, mask, 0.01f);
            parallel->step(b, grads, mask, 0.01f);
        }
        CHECK(a == b);
        CHECK(a != initial);
    }
}

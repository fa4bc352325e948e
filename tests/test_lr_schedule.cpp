#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "fer/lr_schedule.hpp"

namespace {

fer::ScheduleSettings settings(const std::string& kind, float learning_rate) {
    fer::ScheduleSettings s;
    s.kind = kind;
    s.learning_rate = learning_rate;
    return s;
}

}  // namespace

TEST_CASE("lr schedule: constant and step") {
    auto constant = fer::make_schedule(settings("constant", 0.01f));
    CHECK(constant->kind() == "constant");
    CHECK(constant->learning_rate(0) == 0.01f);
    CHECK(constant->learning_rate(99) == 0.01f);

    // lr 0.1, gamma 0.5 every 3 epochs: epochs 0-2 0.1, 3-5 0.05, 6-8 0.025, 9 0.0125.
    auto s = settings("step", 0.1f);
    s.step_size = 3;
    s.gamma = 0.5f;
    auto step = fer::make_schedule(s);
    CHECK(step->kind() == "step");
    CHECK(step->learning_rate(0) == doctest::Approx(0.1));
    CHECK(step->learning_rate(2) == doctest::Approx(0.1));
    CHECK(step->learning_rate(3) == doctest::Approx(0.05));
    CHECK(step->learning_rate(5) == doctest::Approx(0.05));
    CHECK(step->learning_rate(6) == doctest::Approx(0.025));
    CHECK(step->learning_rate(9) == doctest::Approx(0.0125));
}

TEST_CASE("lr schedule: cosine") {
    SUBCASE("no warmup") {
        // lr 1 -> 0 over 10 epochs: (1 + cos(pi e / 10)) / 2.
        auto s = settings("cosine", 1.0f);
        s.total_epochs = 10;
        auto cosine = fer::make_schedule(s);
        CHECK(cosine->learning_rate(0) == doctest::Approx(1.0));
        CHECK(cosine->learning_rate(3) == doctest::Approx(0.7938926));  // (1 + cos(0.3 pi)) / 2 = (1 + 0.5877853) / 2
        CHECK(cosine->learning_rate(5) == doctest::Approx(0.5));
        CHECK(cosine->learning_rate(9) == doctest::Approx(0.0244717));  // (1 + cos(0.9 pi)) / 2 = (1 - 0.9510565) / 2
        CHECK(cosine->learning_rate(10) == 0.0f);
        CHECK(cosine->learning_rate(15) == 0.0f);
    }
    SUBCASE("warmup and a floor") {
        // lr 1, min_lr 0.1, warmup 2, total 12: epochs 0, 1 warm up as 1/2, 2/2; then
        // 0.1 + 0.9 (1 + cos(pi (e - 2) / 10)) / 2.
        auto s = settings("cosine", 1.0f);
        s.total_epochs = 12;
        s.warmup_epochs = 2;
        s.min_lr = 0.1f;
        auto cosine = fer::make_schedule(s);
        CHECK(cosine->learning_rate(0) == doctest::Approx(0.5));
        CHECK(cosine->learning_rate(1) == doctest::Approx(1.0));
        CHECK(cosine->learning_rate(2) == doctest::Approx(1.0));
        CHECK(cosine->learning_rate(7) == doctest::Approx(0.55));        // 0.1 + 0.9 * 0.5
        CHECK(cosine->learning_rate(10) == doctest::Approx(0.1859423));  // 0.1 + 0.9 (1 + cos(0.8 pi)) / 2
        CHECK(cosine->learning_rate(12) == doctest::Approx(0.1));
        CHECK(cosine->learning_rate(40) == doctest::Approx(0.1));
    }
}

TEST_CASE("lr schedule: plateau") {
    // lr 1, factor 0.5, patience 2, min_lr 0.2; an improvement must beat best * (1 - 1e-4).
    auto s = settings("plateau", 1.0f);
    s.factor = 0.5f;
    s.patience = 2;
    s.min_lr = 0.2f;
    auto plateau = fer::make_schedule(s);
    CHECK(plateau->kind() == "plateau");
    struct Epoch {
        double loss;
        double lr_after;
    };
    const std::vector<Epoch> epochs = {
        {1.0, 1.0},                  // first loss is the best so far
        {0.99995, 1.0},              // better, but by less than 1e-4 relative: bad epoch 1
        {0.99995, 0.5},              // bad epoch 2 = patience: halve, count restarts
        {0.9998, 0.5},               // beats 1 * (1 - 1e-4) = 0.9999: improvement
        {0.5, 0.5},                  // improvement
        {0.6, 0.5},                  // bad 1
        {0.5, 0.25},                 // equal is no improvement: bad 2, halve
        {0.7, 0.25},                 // bad 1
        {0.7, 0.2},                  // bad 2: 0.125 clipped to min_lr
        {0.7, 0.2},     {0.7, 0.2},  // stays at min_lr
        {0.1, 0.2},
    };
    for (std::size_t e = 0; e < epochs.size(); ++e) {
        CAPTURE(e);
        plateau->on_epoch_end(int(e), epochs[e].loss);
        CHECK(plateau->learning_rate(int(e) + 1) == doctest::Approx(epochs[e].lr_after));
    }
}

TEST_CASE("lr schedule: state round trip") {
    auto s = settings("plateau", 1.0f);
    s.patience = 2;
    const std::vector<double> before = {2.0, 1.5, 1.6};  // best 1.5, one bad epoch so far
    const std::vector<double> after = {1.7, 1.4, 1.45, 1.42, 1.5, 1.3};
    auto uninterrupted = fer::make_schedule(s);
    for (std::size_t e = 0; e < before.size(); ++e) uninterrupted->on_epoch_end(int(e), before[e]);
    fer::ScheduleState saved = uninterrupted->state();
    for (double v : saved.values) CHECK(std::isfinite(v));

    auto resumed = fer::make_schedule(s);
    resumed->set_state(saved);
    // Without the restored count of bad epochs the next bad epoch would not yet reduce the rate.
    auto fresh = fer::make_schedule(s);
    fresh->on_epoch_end(0, 1.5);
    std::vector<float> resumed_rates, uninterrupted_rates, fresh_rates;
    for (std::size_t e = 0; e < after.size(); ++e) {
        int epoch = int(before.size() + e);
        uninterrupted->on_epoch_end(epoch, after[e]);
        resumed->on_epoch_end(epoch, after[e]);
        fresh->on_epoch_end(epoch, after[e]);
        uninterrupted_rates.push_back(uninterrupted->learning_rate(epoch + 1));
        resumed_rates.push_back(resumed->learning_rate(epoch + 1));
        fresh_rates.push_back(fresh->learning_rate(epoch + 1));
    }
    CHECK(resumed_rates == uninterrupted_rates);
    CHECK(fresh_rates != uninterrupted_rates);
    CHECK(resumed->state().values == uninterrupted->state().values);

    // A state saved before the first epoch restores too.
    auto untouched = fer::make_schedule(s);
    auto restored = fer::make_schedule(s);
    restored->set_state(untouched->state());
    restored->on_epoch_end(0, 5.0);
    untouched->on_epoch_end(0, 5.0);
    CHECK(restored->state().values == untouched->state().values);

    CHECK_THROWS_AS(resumed->set_state(fer::ScheduleState{{1.0, 2.0}}), std::invalid_argument);
    // Stateless schedules have an empty state and accept only an empty one.
    auto cosine = fer::make_schedule(settings("cosine", 0.1f));
    CHECK(cosine->state().values.empty());
    CHECK_NOTHROW(cosine->set_state(cosine->state()));
    CHECK_THROWS_AS(cosine->set_state(saved), std::invalid_argument);
}

TEST_CASE("lr schedule: bad settings throw") {
    CHECK_THROWS_WITH_AS(fer::make_schedule(settings("exponential", 0.1f)),
                         doctest::Contains("constant, step, cosine, plateau"), std::invalid_argument);
    CHECK_THROWS_AS(fer::make_schedule(settings("constant", 0.0f)), std::invalid_argument);
    auto s = settings("step", 0.1f);
    s.step_size = 0;
    CHECK_THROWS_AS(fer::make_schedule(s), std::invalid_argument);
    s = settings("cosine", 0.1f);
    s.total_epochs = 5;
    s.warmup_epochs = 5;
    CHECK_THROWS_AS(fer::make_schedule(s), std::invalid_argument);
    s = settings("cosine", 0.1f);
    s.min_lr = 0.2f;
    CHECK_THROWS_AS(fer::make_schedule(s), std::invalid_argument);
    s = settings("plateau", 0.1f);
    s.factor = 1.0f;
    CHECK_THROWS_AS(fer::make_schedule(s), std::invalid_argument);
    s = settings("step", 0.1f);
    s.warmup_epochs = 3;
    CHECK_THROWS_AS(fer::make_schedule(s), std::invalid_argument);
}

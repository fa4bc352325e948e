#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "fer/loss.hpp"

using fer::Shape;
using fer::Tensor;

namespace {

Tensor make_logits(int batch, int classes, const std::vector<float>& values) {
    Tensor t(Shape{batch, classes, 1, 1});
    for (std::size_t i = 0; i < values.size(); ++i) t[i] = values[i];
    return t;
}

// Sample 0: logits (0, ln 2, ln 5) give softmax (1/8, 2/8, 5/8); its label is 2.
// Sample 1: logits (ln 3, 0, 0) give softmax (3/5, 1/5, 1/5); its label is 1.
Tensor hand_logits() {
    return make_logits(2, 3, {0.0f, std::log(2.0f), std::log(5.0f), std::log(3.0f), 0.0f, 0.0f});
}
const std::vector<int> hand_labels = {2, 1};

}  // namespace

TEST_CASE("softmax_cross_entropy: hand-computed loss and gradient") {
    Tensor logits = hand_logits();
    Tensor dlogits(Shape{2, 3, 1, 1}, std::nanf(""));  // NaN proves the gradient is assigned

    SUBCASE("unweighted") {
        // -log(5/8) = 0.470003629245736, -log(1/5) = 1.6094379124341003; mean = 1.0397207708399181.
        auto result = fer::softmax_cross_entropy(logits, hand_labels, {}, &dlogits);
        CHECK(result.loss == doctest::Approx(1.0397207708399181).epsilon(1e-6));
        // Sample 0's arg-max is class 2 (its label); sample 1's is class 0, not 1.
        CHECK(result.correct == 1);
        // (softmax - onehot) / N: (1/8, 2/8, 5/8 - 1) / 2 and (3/5, 1/5 - 1, 1/5) / 2.
        const std::vector<double> expected = {0.0625, 0.125, -0.1875, 0.3, -0.4, 0.1};
        for (std::size_t i = 0; i < expected.size(); ++i)
            CHECK(dlogits[i] == doctest::Approx(expected[i]).epsilon(1e-5));
    }
    SUBCASE("weighted") {
        // w = (1, 2, 0.5): sample 0 (label 2) weighs 0.5, sample 1 (label 1) weighs 2.
        // (0.5 * 0.470003629245736 + 2 * 1.6094379124341003) / 2 = (0.235001814622868 + 3.2188758248682006) / 2
        //   = 1.7269388197455343.
        const std::vector<float> weights = {1.0f, 2.0f, 0.5f};
        auto result = fer::softmax_cross_entropy(logits, hand_labels, weights, &dlogits);
        CHECK(result.loss == doctest::Approx(1.7269388197455343).epsilon(1e-6));
        CHECK(result.correct == 1);
        // The unweighted rows scaled by 0.5 and 2.
        const std::vector<double> expected = {0.03125, 0.0625, -0.09375, 0.6, -0.8, 0.2};
        for (std::size_t i = 0; i < expected.size(); ++i)
            CHECK(dlogits[i] == doctest::Approx(expected[i]).epsilon(1e-5));
    }
    SUBCASE("no gradient requested") {
        auto result = fer::softmax_cross_entropy(logits, hand_labels, {}, nullptr);
        CHECK(result.loss == doctest::Approx(1.0397207708399181).epsilon(1e-6));
    }
}

TEST_CASE("softmax_cross_entropy: label smoothing, hand-computed") {
    Tensor logits = hand_logits();
    Tensor dlogits(Shape{2, 3, 1, 1}, std::nanf(""));
    // e = 0.3, K = 3: targets 0.8 on the label and 0.1 elsewhere. Sample 0 has p = (1/8, 2/8, 5/8):
    //   -(0.1 log(1/8) + 0.1 log(2/8) + 0.8 log(5/8)) = 0.207944154 + 0.138629436 + 0.376002903 = 0.722576493.
    // Sample 1 has p = (3/5, 1/5, 1/5), label 1:
    //   -(0.1 log(3/5) + 0.8 log(1/5) + 0.1 log(1/5)) = 0.051082562 + 1.287550330 + 0.160943791 = 1.499576683.
    auto result = fer::softmax_cross_entropy(logits, hand_labels, {}, &dlogits, 0.3f);
    CHECK(result.loss == doctest::Approx((0.722576493 + 1.499576683) / 2).epsilon(1e-6));
    CHECK(result.correct == 1);
    // (softmax - target) / N.
    const std::vector<double> expected = {(0.125 - 0.1) / 2, (0.25 - 0.1) / 2, (0.625 - 0.8) / 2,
                                          (0.6 - 0.1) / 2,   (0.2 - 0.8) / 2,  (0.2 - 0.1) / 2};
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(dlogits[i] == doctest::Approx(expected[i]).epsilon(1e-5));

    SUBCASE("zero smoothing is bit-identical to the plain loss") {
        Tensor plain, smoothed;
        const std::vector<float> weights = {1.0f, 2.0f, 0.5f};
        auto a = fer::softmax_cross_entropy(logits, hand_labels, weights, &plain);
        auto b = fer::softmax_cross_entropy(logits, hand_labels, weights, &smoothed, 0.0f);
        CHECK(a.loss == b.loss);
        for (std::size_t i = 0; i < plain.size(); ++i) CHECK(plain[i] == smoothed[i]);
    }
    SUBCASE("a smoothing outside [0, 1) throws") {
        CHECK_THROWS_WITH_AS(fer::softmax_cross_entropy(logits, hand_labels, {}, &dlogits, 1.0f),
                             doctest::Contains("label smoothing"), std::invalid_argument);
        CHECK_THROWS_AS(fer::softmax_cross_entropy(logits, hand_labels, {}, &dlogits, -0.1f), std::invalid_argument);
        CHECK_THROWS_AS(fer::softmax_cross_entropy(logits, hand_labels, {}, &dlogits, std::nanf("")),
                        std::invalid_argument);
    }
}

TEST_CASE("softmax_cross_entropy: gradient matches central differences") {
    for (const float smoothing : {0.0f, 0.1f, 0.45f}) {
        CAPTURE(smoothing);
        const int batch = 4, classes = 7;
        Tensor logits(Shape{batch, classes, 1, 1});
        for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = float(std::sin(1.7 * double(i) + 0.3)) * 2.0f;
        const std::vector<int> labels = {3, 0, 6, 3};
        const std::vector<float> weights = {1.5f, 4.0f, 0.7f, 0.3f, 1.0f, 2.0f, 0.9f};
        Tensor dlogits;
        fer::softmax_cross_entropy(logits, labels, weights, &dlogits, smoothing);
        REQUIRE(dlogits.shape() == logits.shape());

        const float eps = 1e-2f;
        for (std::size_t i = 0; i < logits.size(); ++i) {
            float saved = logits[i];
            logits[i] = saved + eps;
            double plus = fer::softmax_cross_entropy(logits, labels, weights, nullptr, smoothing).loss;
            logits[i] = saved - eps;
            double minus = fer::softmax_cross_entropy(logits, labels, weights, nullptr, smoothing).loss;
            logits[i] = saved;
            double numeric = (plus - minus) / (2.0 * eps);
            CHECK(dlogits[i] == doctest::Approx(numeric).epsilon(1e-3).scale(1e-3));
        }
    }
}

TEST_CASE("softmax_cross_entropy: stable with huge logits") {
    // Sample 0: the label holds the huge logit, so the loss is ~0 (exp(-1000) underflows harmlessly).
    // Sample 1: the label is 1000 below the maximum, so its loss is 1000.
    // Sample 2: three equal huge logits give log 3.
    Tensor logits = make_logits(3, 3, {1000.0f, 0.0f, -1000.0f, 1000.0f, 0.0f, -1000.0f, 1000.0f, 1000.0f, 1000.0f});
    const std::vector<int> labels = {0, 1, 2};
    Tensor dlogits;
    auto result = fer::softmax_cross_entropy(logits, labels, {}, &dlogits);
    CHECK(std::isfinite(result.loss));
    CHECK(result.loss == doctest::Approx((0.0 + 1000.0 + std::log(3.0)) / 3.0).epsilon(1e-9));
    for (std::size_t i = 0; i < dlogits.size(); ++i) CHECK(std::isfinite(dlogits[i]));
    CHECK(dlogits[0] == doctest::Approx(0.0).scale(1e-6));           // (1 - 1) / 3
    CHECK(dlogits[3] == doctest::Approx(1.0 / 3.0).epsilon(1e-6));   // softmax 1 on class 0
    CHECK(dlogits[4] == doctest::Approx(-1.0 / 3.0).epsilon(1e-6));  // (0 - 1) / 3
    CHECK(dlogits[8] == doctest::Approx((1.0 / 3.0 - 1.0) / 3.0).epsilon(1e-6));
    CHECK(result.correct == 1);  // sample 2's first maximum is class 0, not its label 2
}

TEST_CASE("softmax_cross_entropy: invalid input throws") {
    Tensor logits = hand_logits();
    Tensor dlogits;
    const std::vector<int> out_of_range = {2, 3};
    CHECK_THROWS_WITH_AS(fer::softmax_cross_entropy(logits, out_of_range, {}, &dlogits),
                         doctest::Contains("sample 1 has label 3"), std::invalid_argument);
    const std::vector<int> negative = {-1, 0};
    CHECK_THROWS_AS(fer::softmax_cross_entropy(logits, negative, {}, &dlogits), std::invalid_argument);
    const std::vector<float> two_weights = {1.0f, 2.0f};
    CHECK_THROWS_WITH_AS(fer::softmax_cross_entropy(logits, hand_labels, two_weights, &dlogits),
                         doctest::Contains("2 class weights for 3 classes"), std::invalid_argument);
    const std::vector<int> one_label = {0};
    CHECK_THROWS_AS(fer::softmax_cross_entropy(logits, one_label, {}, &dlogits), std::invalid_argument);
    Tensor spatial(Shape{2, 3, 2, 1});
    CHECK_THROWS_AS(fer::softmax_cross_entropy(spatial, hand_labels, {}, &dlogits), std::invalid_argument);
}

TEST_CASE("distillation_cross_entropy: hand-computed, the plain loss at weight 0, and its gradient") {
    Tensor logits = hand_logits();  // softmax (1/8, 2/8, 5/8) and (3/5, 1/5, 1/5), labels 2 and 1
    const std::vector<float> teacher = {0.0f, 0.5f, 0.5f, 1.0f, 0.0f, 0.0f};
    SUBCASE("weight 0.5: targets (0, 1/4, 3/4) and (1/2, 1/2, 0)") {
        Tensor dlogits;
        const fer::LossResult result =
            fer::distillation_cross_entropy(logits, hand_labels, teacher, 0.5f, {}, &dlogits);
        const double sample0 = -(0.25 * std::log(2.0 / 8.0) + 0.75 * std::log(5.0 / 8.0));
        const double sample1 = -(0.5 * std::log(3.0 / 5.0) + 0.5 * std::log(1.0 / 5.0));
        CHECK(result.loss == doctest::Approx((sample0 + sample1) / 2.0).epsilon(1e-6));
        CHECK(result.correct == 1);  // sample 0's arg-max is its label; sample 1's is class 0
        const double expected[6] = {(1.0 / 8.0) / 2,       (2.0 / 8.0 - 0.25) / 2, (5.0 / 8.0 - 0.75) / 2,
                                    (3.0 / 5.0 - 0.5) / 2, (1.0 / 5.0 - 0.5) / 2,  (1.0 / 5.0) / 2};
        for (int i = 0; i < 6; ++i) CHECK(dlogits[i] == doctest::Approx(expected[i]).epsilon(1e-6));
    }
    SUBCASE("weight 0 gives the plain loss") {
        Tensor plain_grad, distilled_grad;
        const std::vector<float> weights = {1.0f, 3.0f, 0.5f};
        const double plain = fer::softmax_cross_entropy(logits, hand_labels, weights, &plain_grad).loss;
        const double distilled =
            fer::distillation_cross_entropy(logits, hand_labels, teacher, 0.0f, weights, &distilled_grad).loss;
        CHECK(distilled == doctest::Approx(plain).epsilon(1e-12));
        for (std::size_t i = 0; i < plain_grad.size(); ++i)
            CHECK(distilled_grad[i] == doctest::Approx(plain_grad[i]).epsilon(1e-6));
    }
    SUBCASE("gradient matches central differences, class weights included") {
        const int batch = 3, classes = 7;
        Tensor wide(Shape{batch, classes, 1, 1});
        for (std::size_t i = 0; i < wide.size(); ++i) wide[i] = float(std::cos(0.9 * double(i) + 0.2)) * 2.0f;
        const std::vector<int> labels = {1, 5, 0};
        const std::vector<float> weights = {1.5f, 4.0f, 0.7f, 0.3f, 1.0f, 2.0f, 0.9f};
        std::vector<float> soft(std::size_t(batch * classes));
        for (int i = 0; i < batch; ++i) {
            double sum = 0.0;
            for (int k = 0; k < classes; ++k) sum += soft[std::size_t(i * classes + k)] = float(1 + (i * 3 + k) % 5);
            for (int k = 0; k < classes; ++k) soft[std::size_t(i * classes + k)] /= float(sum);
        }
        Tensor dlogits;
        fer::distillation_cross_entropy(wide, labels, soft, 0.7f, weights, &dlogits);
        const float eps = 1e-2f;
        for (std::size_t i = 0; i < wide.size(); ++i) {
            const float saved = wide[i];
            wide[i] = saved + eps;
            const double plus = fer::distillation_cross_entropy(wide, labels, soft, 0.7f, weights, nullptr).loss;
            wide[i] = saved - eps;
            const double minus = fer::distillation_cross_entropy(wide, labels, soft, 0.7f, weights, nullptr).loss;
            wide[i] = saved;
            CHECK(dlogits[i] == doctest::Approx((plus - minus) / (2.0 * eps)).epsilon(1e-3).scale(1e-3));
        }
    }
    SUBCASE("a teacher of the wrong size or a weight outside [0, 1] throws") {
        Tensor dlogits;
        const std::vector<float> short_teacher = {0.5f, 0.5f, 0.0f};
        CHECK_THROWS_WITH_AS(fer::distillation_cross_entropy(logits, hand_labels, short_teacher, 0.5f, {}, &dlogits),
                             doctest::Contains("3 teacher probabilities for 2 samples of 3 classes"),
                             std::invalid_argument);
        CHECK_THROWS_WITH_AS(fer::distillation_cross_entropy(logits, hand_labels, teacher, 1.5f, {}, &dlogits),
                             doctest::Contains("weight must be in [0, 1]"), std::invalid_argument);
        const std::vector<int> out_of_range = {2, 3};
        CHECK_THROWS_WITH_AS(fer::distillation_cross_entropy(logits, out_of_range, teacher, 0.5f, {}, &dlogits),
                             doctest::Contains("sample 1 has label 3"), std::invalid_argument);
    }
}

TEST_CASE("class weights from counts") {
    const std::vector<std::size_t> counts = {10, 5, 0, 20};
    SUBCASE("inverse frequency: n_max / n_j") {
        // 20/10, 20/5, empty class 0, 20/20.
        auto weights = fer::inverse_frequency_weights(counts);
        REQUIRE(weights.size() == 4);
        CHECK(weights[0] == 2.0f);
        CHECK(weights[1] == 4.0f);
        CHECK(weights[2] == 0.0f);
        CHECK(weights[3] == 1.0f);
    }
    SUBCASE("balanced: n / (k * n_j)") {
        // n = 35, k = 4: 35/40 = 0.875, 35/20 = 1.75, empty class 0, 35/80 = 0.4375.
        auto weights = fer::balanced_weights(counts);
        REQUIRE(weights.size() == 4);
        CHECK(weights[0] == 0.875f);
        CHECK(weights[1] == 1.75f);
        CHECK(weights[2] == 0.0f);
        CHECK(weights[3] == 0.4375f);
    }
    SUBCASE("by name") {
        CHECK(fer::class_weights(fer::parse_class_weighting("none"), counts) == std::vector<float>(4, 1.0f));
        CHECK(fer::class_weights(fer::parse_class_weighting("inverse"), counts) ==
              fer::inverse_frequency_weights(counts));
        CHECK(fer::class_weights(fer::parse_class_weighting("balanced"), counts) == fer::balanced_weights(counts));
        CHECK(fer::to_string(fer::ClassWeighting::balanced) == "balanced");
        CHECK_THROWS_AS(fer::parse_class_weighting("Balanced"), std::invalid_argument);
        CHECK_THROWS_AS(fer::parse_class_weighting(""), std::invalid_argument);
    }
    SUBCASE("all classes empty") {
        const std::vector<std::size_t> empty = {0, 0};
        CHECK(fer::inverse_frequency_weights(empty) == std::vector<float>{0.0f, 0.0f});
        CHECK(fer::balanced_weights(empty) == std::vector<float>{0.0f, 0.0f});
    }
}

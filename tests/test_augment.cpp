#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "fer/augment.hpp"
#include "fer/batch.hpp"
#include "fer/dataset.hpp"
#include "fer/input_spec.hpp"
#include "fer/rng.hpp"
#include "fer/tensor.hpp"

namespace {

// Mean 0.5 and std 0.25 make an accidental plain /255 show up.
fer::InputSpec test_spec(int height, int width) {
    fer::InputSpec spec;
    spec.height = height;
    spec.width = width;
    spec.mean = 0.5f;
    spec.std = 0.25f;
    return spec;
}

std::vector<std::uint8_t> random_image(int height, int width, std::uint64_t seed, int lo = 0, int hi = 255) {
    fer::Rng rng(seed);
    std::vector<std::uint8_t> image(std::size_t(height) * std::size_t(width));
    for (auto& pixel : image) pixel = std::uint8_t(lo + int(rng.below(std::uint64_t(hi - lo + 1))));
    return image;
}

std::vector<float> normalised(const std::vector<std::uint8_t>& image, const fer::InputSpec& spec) {
    std::vector<float> out;
    for (std::uint8_t pixel : image) out.push_back(spec.normalize(pixel));
    return out;
}

std::vector<float> mirrored(const std::vector<float>& image, int height, int width) {
    std::vector<float> out(image.size());
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            out[std::size_t(y * width + x)] = image[std::size_t(y * width + (width - 1 - x))];
    return out;
}

const fer::AugmentSettings all_off{false, 0.0f, 0.0f, 0.0f};

// 5 images of 6x5, pixel i of image k is 40 * k + i, labels 6 - k.
fer::Dataset small_dataset() {
    fer::Dataset dataset;
    dataset.height = 6;
    dataset.width = 5;
    dataset.classes = {"a", "b", "c", "d", "e", "f", "g"};
    for (int k = 0; k < 5; ++k) {
        for (int i = 0; i < 30; ++i) dataset.pixels.push_back(std::uint8_t(40 * k + i));
        dataset.labels.push_back(6 - k);
        dataset.sources.push_back("image" + std::to_string(k));
    }
    return dataset;
}

std::vector<float> tensor_values(const fer::Tensor& tensor) {
    return {tensor.data(), tensor.data() + tensor.size()};
}

}  // namespace

TEST_CASE("augmentation switched off is exactly InputSpec normalisation") {
    const int height = 7, width = 9;
    const fer::InputSpec spec = test_spec(height, width);
    const auto image = random_image(height, width, 1);
    std::vector<float> out(image.size());
    fer::Rng rng(5);
    CHECK(!all_off.enabled());
    CHECK(fer::AugmentSettings{}.enabled());
    fer::augment_image(image.data(), height, width, all_off, rng, spec, out.data());
    CHECK(out == normalised(image, spec));
    CHECK(rng.state() == 5);  // no draws
}

TEST_CASE("mirror flips exactly, and about half the time when drawn") {
    const int height = 6, width = 8;
    const fer::InputSpec spec = test_spec(height, width);
    const auto image = random_image(height, width, 2);
    const std::vector<float> plain = normalised(image, spec);
    const std::vector<float> flipped = mirrored(plain, height, width);
    std::vector<float> out(image.size());

    fer::Warp mirror;
    mirror.mirror = true;
    fer::warp_image(image.data(), height, width, mirror, spec, out.data());
    CHECK(out == flipped);

    const fer::AugmentSettings mirror_only{true, 0.0f, 0.0f, 0.0f};
    fer::Rng rng(3);
    int flips = 0, draws = 400;
    for (int i = 0; i < draws; ++i) {
        fer::augment_image(image.data(), height, width, mirror_only, rng, spec, out.data());
        const bool is_flipped = out == flipped;
        CHECK((is_flipped || out == plain));
        flips += is_flipped;
    }
    CHECK(flips > 150);
    CHECK(flips < 250);
}

TEST_CASE("a pure shift moves a pixel where expected and replicates the edges") {
    const int height = 6, width = 8;
    const fer::InputSpec spec = test_spec(height, width);
    std::vector<std::uint8_t> dot(std::size_t(height * width), 0);
    dot[2 * width + 3] = 255;  // (x=3, y=2)
    std::vector<float> out(dot.size());

    fer::Warp shift;
    shift.shift_x = 2.0f;
    shift.shift_y = 1.0f;
    fer::warp_image(dot.data(), height, width, shift, spec, out.data());
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            CAPTURE(x);
            CAPTURE(y);
            CHECK(out[std::size_t(y * width + x)] == spec.normalize(x == 5 && y == 3 ? 255 : 0));
        }

    // A horizontal ramp shifted right by 2: the two uncovered columns repeat the first one.
    std::vector<std::uint8_t> ramp(std::size_t(height * width));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) ramp[std::size_t(y * width + x)] = std::uint8_t(10 * x + y);
    fer::Warp right;
    right.shift_x = 2.0f;
    fer::warp_image(ramp.data(), height, width, right, spec, out.data());
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            CHECK(out[std::size_t(y * width + x)] == spec.normalize(std::uint8_t(10 * std::max(0, x - 2) + y)));

    // Half a pixel: bilinear mean of neighbours.
    fer::Warp half;
    half.shift_x = 0.5f;
    fer::warp_image(ramp.data(), height, width, half, spec, out.data());
    CHECK(out[std::size_t(1 * width + 4)] == doctest::Approx(spec.normalize(0) + (35.0f + 1.0f) / 255.0f / 0.25f));
}

TEST_CASE("rotation by 180 degrees turns the image upside down") {
    const int height = 6, width = 8;
    const fer::InputSpec spec = test_spec(height, width);
    const auto image = random_image(height, width, 4);
    std::vector<float> out(image.size());
    fer::Warp half_turn;
    half_turn.rotation_degrees = 180.0f;
    fer::warp_image(image.data(), height, width, half_turn, spec, out.data());
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            CHECK(out[std::size_t(y * width + x)] ==
                  doctest::Approx(spec.normalize(image[std::size_t((height - 1 - y) * width + (width - 1 - x))]))
                      .epsilon(1e-3));
}

TEST_CASE("zooming in on a flat-centred image keeps the centre") {
    const int height = 9, width = 9;
    const fer::InputSpec spec = test_spec(height, width);
    std::vector<std::uint8_t> image(81, 0);
    image[4 * 9 + 4] = 200;
    std::vector<float> out(image.size());
    fer::Warp zoom;
    zoom.zoom = 2.0f;
    fer::warp_image(image.data(), height, width, zoom, spec, out.data());
    CHECK(out[4 * 9 + 4] == spec.normalize(200));
    // Neighbours sample halfway between the centre and its neighbour.
    CHECK(out[4 * 9 + 5] == doctest::Approx(spec.normalize(100)));
    CHECK(out[3 * 9 + 4] == doctest::Approx(spec.normalize(100)));
    CHECK(out[4 * 9 + 6] == spec.normalize(0));
}

TEST_CASE("random augmentation is reproducible and stays within the source's range") {
    const int height = 12, width = 10;
    const fer::InputSpec spec = test_spec(height, width);
    auto image = random_image(height, width, 6, 40, 200);
    image[0] = 40;
    image[5] = 200;
    const fer::AugmentSettings settings{true, 0.2f, 20.0f, 0.2f};
    std::vector<float> first(image.size()), second(image.size()), other(image.size());

    fer::Rng rng_a(99), rng_b(99), rng_c(100);
    fer::augment_image(image.data(), height, width, settings, rng_a, spec, first.data());
    fer::augment_image(image.data(), height, width, settings, rng_b, spec, second.data());
    fer::augment_image(image.data(), height, width, settings, rng_c, spec, other.data());
    CHECK(first == second);
    CHECK(first != other);
    CHECK(first != normalised(image, spec));

    fer::Rng rng(7);
    for (int draw = 0; draw < 100; ++draw) {
        fer::augment_image(image.data(), height, width, settings, rng, spec, first.data());
        const auto [lo, hi] = std::minmax_element(first.begin(), first.end());
        CHECK(*lo >= spec.normalize(40));
        CHECK(*hi <= spec.normalize(200));
    }
}

TEST_CASE("draw_warp stays within the settings") {
    const fer::AugmentSettings settings{true, 0.1f, 10.0f, 0.1f};
    fer::Rng rng(11);
    bool saw_mirror = false, saw_plain = false;
    for (int i = 0; i < 200; ++i) {
        const std::uint64_t before = rng.state();
        const fer::Warp warp = fer::draw_warp(settings, 48, 40, rng);
        CHECK(rng.state() == before + 5);
        CHECK(warp.zoom >= 0.9f);
        CHECK(warp.zoom <= 1.1f);
        CHECK(std::abs(warp.rotation_degrees) <= 10.0f);
        CHECK(std::abs(warp.shift_x) <= 4.0f);
        CHECK(std::abs(warp.shift_y) <= 4.8f);
        (warp.mirror ? saw_mirror : saw_plain) = true;
    }
    CHECK(saw_mirror);
    CHECK(saw_plain);
    fer::Rng off_rng(11);
    CHECK(fer::draw_warp(all_off, 48, 48, off_rng).is_identity());
}

TEST_CASE("make_batch fills labels and normalised pixels in index order") {
    const fer::Dataset dataset = small_dataset();
    const fer::InputSpec spec = test_spec(6, 5);
    const std::vector<std::size_t> indices = {3, 0, 4, 3};
    fer::Tensor batch;
    std::vector<int> labels;
    fer::make_batch(dataset, indices, spec, nullptr, 1, 1, batch, labels);
    CHECK(batch.shape() == fer::Shape{4, 1, 6, 5});
    CHECK(labels == std::vector<int>{3, 6, 2, 3});
    for (int k = 0; k < 4; ++k)
        for (int y = 0; y < 6; ++y)
            for (int x = 0; x < 5; ++x)
                CHECK(batch.at(k, 0, y, x) ==
                      spec.normalize(std::uint8_t(40 * int(indices[std::size_t(k)]) + y * 5 + x)));

    // Settings that are all off behave like no augmentation.
    fer::Tensor unaugmented;
    fer::make_batch(dataset, indices, spec, &all_off, 1, 2, unaugmented, labels);
    CHECK(tensor_values(unaugmented) == tensor_values(batch));

    const std::vector<std::size_t> out_of_range = {5};
    CHECK_THROWS_AS(fer::make_batch(dataset, out_of_range, spec, nullptr, 1, 1, batch, labels), std::invalid_argument);
    CHECK_THROWS_AS(fer::make_batch(dataset, indices, test_spec(48, 48), nullptr, 1, 1, batch, labels),
                    std::invalid_argument);
}

TEST_CASE("augmented batches depend only on the seed and the image index") {
    const fer::Dataset dataset = small_dataset();
    const fer::InputSpec spec = test_spec(6, 5);
    const fer::AugmentSettings settings;
    const std::vector<std::size_t> indices = {0, 1, 2, 3, 4, 2};
    fer::Tensor one_thread, two_threads, again, other_seed, reordered;
    std::vector<int> labels;
    fer::make_batch(dataset, indices, spec, &settings, 42, 1, one_thread, labels);
    fer::make_batch(dataset, indices, spec, &settings, 42, 2, two_threads, labels);
    fer::make_batch(dataset, indices, spec, &settings, 42, 1, again, labels);
    fer::make_batch(dataset, indices, spec, &settings, 43, 1, other_seed, labels);
    CHECK(tensor_values(one_thread) == tensor_values(two_threads));
    CHECK(tensor_values(one_thread) == tensor_values(again));
    CHECK(tensor_values(one_thread) != tensor_values(other_seed));
    CHECK(labels == std::vector<int>{6, 5, 4, 3, 2, 4});

    // The same image gets the same warp wherever it sits in a batch.
    const std::vector<std::size_t> shuffled = {2, 4};
    fer::make_batch(dataset, shuffled, spec, &settings, 42, 1, reordered, labels);
    const std::vector<float> image2(one_thread.sample(2), one_thread.sample(3));
    CHECK(std::vector<float>(reordered.sample(0), reordered.sample(1)) == image2);
    CHECK(std::vector<float>(one_thread.sample(5), one_thread.sample(5) + 30) == image2);
    CHECK(std::vector<float>(reordered.sample(1), reordered.sample(1) + 30) ==
          std::vector<float>(one_thread.sample(4), one_thread.sample(5)));
}

TEST_CASE("mirror_batch reverses every row, also in place") {
    fer::Tensor in({2, 3, 2, 4});
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = float(i);
    fer::Tensor out;
    fer::mirror_batch(in, out);
    CHECK(out.shape() == in.shape());
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 2; ++y)
                for (int x = 0; x < 4; ++x) CHECK(out.at(n, c, y, x) == in.at(n, c, y, 3 - x));
    fer::Tensor copy = out;
    fer::mirror_batch(copy, copy);
    CHECK(tensor_values(copy) == tensor_values(in));
}

TEST_CASE("mix_batch blends each sample with its partner") {
    fer::Tensor in({3, 1, 2, 2});
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = float(i);
    const std::vector<std::size_t> partners = {2, 0, 2};
    fer::Tensor out;
    fer::mix_batch(in, partners, 0.75f, out);
    CHECK(out.shape() == in.shape());
    for (int n = 0; n < 3; ++n)
        for (int y = 0; y < 2; ++y)
            for (int x = 0; x < 2; ++x) {
                const int p = int(partners[std::size_t(n)]);
                CHECK(out.at(n, 0, y, x) == doctest::Approx(0.75 * in.at(n, 0, y, x) + 0.25 * in.at(p, 0, y, x)));
            }
    // Sample 2 is its own partner: unchanged.
    CHECK(out.at(2, 0, 1, 1) == in.at(2, 0, 1, 1));
    CHECK_THROWS_WITH_AS(fer::mix_batch(in, std::vector<std::size_t>{0, 1}, 0.5f, out),
                         doctest::Contains("2 partners for 3 samples"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(fer::mix_batch(in, std::vector<std::size_t>{0, 1, 3}, 0.5f, out),
                         doctest::Contains("partner 3 is out of range"), std::invalid_argument);
}

TEST_CASE("Rng::gamma and Rng::beta have the distributions' moments") {
    fer::Rng rng(12345);
    const int count = 40000;
    // Gamma(k): mean k, variance k; the shape below 1 takes the boosted path.
    for (const float shape : {0.3f, 1.0f, 2.5f}) {
        CAPTURE(shape);
        double sum = 0, sum_sq = 0, lowest = 1.0;
        for (int i = 0; i < count; ++i) {
            const double x = rng.gamma(shape);
            lowest = std::min(lowest, x);
            sum += x;
            sum_sq += x * x;
        }
        CHECK(lowest >= 0.0);
        const double mean = sum / count, variance = sum_sq / count - mean * mean;
        CHECK(mean == doctest::Approx(shape).epsilon(0.03));
        CHECK(variance == doctest::Approx(shape).epsilon(0.08));
    }
    // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); mixup's alpha 0.4 gives 0.1389.
    for (const float alpha : {0.4f, 2.0f}) {
        CAPTURE(alpha);
        double sum = 0, sum_sq = 0, lowest = 1.0, highest = 0.0;
        for (int i = 0; i < count; ++i) {
            const double x = rng.beta(alpha, alpha);
            lowest = std::min(lowest, x);
            highest = std::max(highest, x);
            sum += x;
            sum_sq += x * x;
        }
        CHECK(lowest >= 0.0);
        CHECK(highest <= 1.0);
        const double mean = sum / count, variance = sum_sq / count - mean * mean;
        CHECK(mean == doctest::Approx(0.5).epsilon(0.02));
        CHECK(variance == doctest::Approx(1.0 / (4.0 * (2.0 * alpha + 1.0))).epsilon(0.05));
    }
}

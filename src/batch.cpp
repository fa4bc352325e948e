#include "fer/batch.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

namespace fer {

// out is (n, 1, H, W); sample k is dataset image indices[k].
void make_batch(const Dataset& dataset, std::span<const std::size_t> indices, const InputSpec& spec,
                const AugmentSettings* augment, std::uint64_t seed, int threads, Tensor& out,
                std::vector<int>& labels) {
    if (spec.channels != 1 || spec.height != dataset.height || spec.width != dataset.width)
        throw std::invalid_argument("make_batch: input spec (" + std::to_string(spec.channels) + "," +
                                    std::to_string(spec.height) + "," + std::to_string(spec.width) +
                                    ") does not match the dataset's grey " + std::to_string(dataset.height) + "x" +
                                    std::to_string(dataset.width) + " images");
    for (std::size_t index : indices)
        if (index >= dataset.size())
            throw std::invalid_argument("make_batch: image index " + std::to_string(index) +
                                        " is out of range for a dataset of " + std::to_string(dataset.size()));

    const int count = int(indices.size());
    const int height = dataset.height, width = dataset.width;
    out.resize({count, 1, height, width});
    labels.resize(indices.size());
    const bool augmenting = augment != nullptr && augment->enabled();

    std::array<float, 256> normalised;
    for (int pixel = 0; pixel < 256; ++pixel) normalised[std::size_t(pixel)] = spec.normalize(std::uint8_t(pixel));

#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static)
    for (int k = 0; k < count; ++k) {
        const std::size_t index = indices[std::size_t(k)];
        const std::uint8_t* image = dataset.image(index);
        float* sample = out.sample(k);
        labels[std::size_t(k)] = dataset.labels[index];
        if (augmenting) {
            Rng rng(mix64(seed ^ mix64(index)));
            augment_image(image, height, width, *augment, rng, spec, sample);
        } else {
            for (std::size_t i = 0; i < dataset.image_size(); ++i) sample[i] = normalised[image[i]];
        }
    }
}

// in and out are (N,C,H,W); partners (N)
void mix_batch(const Tensor& in, std::span<const std::size_t> partners, float lambda, Tensor& out) {
    const Shape shape = in.shape();
    if (partners.size() != std::size_t(shape.n))
        throw std::invalid_argument("mix_batch: " + std::to_string(partners.size()) + " partners for " +
                                    std::to_string(shape.n) + " samples");
    for (std::size_t partner : partners)
        if (partner >= std::size_t(shape.n))
            throw std::invalid_argument("mix_batch: partner " + std::to_string(partner) + " is out of range for " +
                                        std::to_string(shape.n) + " samples");
    out.resize(shape);
    const std::size_t sample_size = in.size() / std::max<std::size_t>(1, std::size_t(shape.n));
    const float other = 1.0f - lambda;
    for (int k = 0; k < shape.n; ++k) {
        const float* mine = in.sample(k);
        const float* theirs = in.sample(int(partners[std::size_t(k)]));
        float* mixed = out.sample(k);
        for (std::size_t i = 0; i < sample_size; ++i) mixed[i] = lambda * mine[i] + other * theirs[i];
    }
}

// in and out are (N,C,H,W); each row is reversed.
void mirror_batch(const Tensor& in, Tensor& out) {
    const Shape shape = in.shape();
    const std::size_t rows = std::size_t(shape.n) * std::size_t(shape.c) * std::size_t(shape.h);
    const std::size_t width = std::size_t(shape.w);
    if (&in == &out) {
        for (std::size_t row = 0; row < rows; ++row)
            std::reverse(out.data() + row * width, out.data() + (row + 1) * width);
        return;
    }
    out.resize(shape);
    for (std::size_t row = 0; row < rows; ++row)
        std::reverse_copy(in.data() + row * width, in.data() + (row + 1) * width, out.data() + row * width);
}

}  // namespace fer

// Cutting (N,1,H,W) float batches out of a Dataset, with optional augmentation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fer/augment.hpp"
#include "fer/dataset.hpp"
#include "fer/input_spec.hpp"
#include "fer/tensor.hpp"

namespace fer {

// Fills out (n, 1, H, W) with the normalised images dataset[indices[k]] and labels[k] with their labels.
// When augment is given (and enabled), sample k uses Rng(mix64(seed ^ mix64(indices[k]))) - a stream
// that depends only on the seed and the image index, not on threads or batch order - so runs are
// reproducible and resumable (vary the seed per epoch). OpenMP over samples (threads, >= 1).
// Throws std::invalid_argument when spec does not match the dataset or an index is out of range.
void make_batch(const Dataset& dataset, std::span<const std::size_t> indices, const InputSpec& spec,
                const AugmentSettings* augment, std::uint64_t seed, int threads, Tensor& out, std::vector<int>& labels);

// Mixup (Zhang et al. 2018): out_k = lambda * in_k + (1 - lambda) * in_partners[k]. in is (N,C,H,W),
// partners holds N indices in [0,N); out is resized to match and must not be in. Throws
// std::invalid_argument on a partner count != N or an index out of range.
void mix_batch(const Tensor& in, std::span<const std::size_t> partners, float lambda, Tensor& out);

// Horizontal mirror of each image (for test-time augmentation). in is (N,C,H,W); out is resized to
// match. out may be in itself.
void mirror_batch(const Tensor& in, Tensor& out);

}  // namespace fer

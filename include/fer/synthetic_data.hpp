// A small, learnable stand-in for FER2013, made on the spot: each class is a stripe pattern of its own
// spatial frequency, at a random angle, under noise and a random brightness. The demo and the end-to-end tests train on it
// where the real data is absent; a working pipeline reaches high accuracy on it in a few epochs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fer/image.hpp"
#include "fer/rng.hpp"

namespace fer {

// One 48x48 (size x size) image of class `label`, drawn from rng.
GreyImage synthetic_face(int label, Rng& rng, int size = 48);

// Writes root/<class>/<NNNN>.png, per_class images for each class name; returns the number written.
std::size_t write_synthetic_dataset(const std::string& root, const std::vector<std::string>& classes,
                                    std::size_t per_class, std::uint64_t seed);

}  // namespace fer

// How raw 8-bit pixels become network input. One definition, shared by training, evaluation and the
// player: a mismatch here is the classic cause of a live model that answers 'neutral' to everything.
#pragma once

#include <cstdint>

namespace fer {

struct InputSpec {
    int channels = 1, height = 48, width = 48;
    // x = (pixel * scale - mean) / std
    float scale = 1.0f / 255.0f, mean = 0.0f, std = 1.0f;

    float normalize(std::uint8_t pixel) const { return (float(pixel) * scale - mean) / std; }
    bool operator==(const InputSpec&) const = default;
};

}  // namespace fer

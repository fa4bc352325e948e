// Training-time data augmentation: one random affine warp per image (mirror, zoom, rotation, shift),
// like Keras' ImageDataGenerator with fill_mode 'nearest', written straight into normalised floats.
#pragma once

#include <cstdint>

#include "fer/input_spec.hpp"
#include "fer/rng.hpp"

namespace fer {

struct AugmentSettings {
    bool mirror = true;              // horizontal flip with probability 1/2
    float zoom = 0.1f;               // content scale drawn uniformly in [1 - zoom, 1 + zoom]
    float rotation_degrees = 10.0f;  // angle drawn uniformly in [-rotation_degrees, rotation_degrees]
    float shift = 0.1f;              // shift drawn uniformly in [-shift, shift] of the size, each axis

    bool enabled() const { return mirror || zoom > 0.0f || rotation_degrees > 0.0f || shift > 0.0f; }
};

// One concrete warp, composed around the image centre: the content is mirrored, then scaled by zoom
// (> 1 enlarges), rotated, then moved by (shift_x, shift_y) pixels (positive: right and down).
struct Warp {
    bool mirror = false;
    float zoom = 1.0f;
    float rotation_degrees = 0.0f;
    float shift_x = 0.0f, shift_y = 0.0f;

    bool is_identity() const {
        return !mirror && zoom == 1.0f && rotation_degrees == 0.0f && shift_x == 0.0f && shift_y == 0.0f;
    }
};

// Draws a warp from rng. Always consumes the same number of draws (5), whatever the settings, so a
// stream's later values do not depend on which augmentations are switched on.
Warp draw_warp(const AugmentSettings& settings, int height, int width, Rng& rng);

// src is (height, width) uint8, dst is (height, width) float normalised with spec. Bilinear sampling,
// edge-replicating borders; the identity warp is exactly spec.normalize of every pixel.
void warp_image(const std::uint8_t* src, int height, int width, const Warp& warp, const InputSpec& spec, float* dst);

// One random warp drawn from rng (draw_warp) applied with warp_image. With all settings off it is
// exactly InputSpec normalisation of the source.
void augment_image(const std::uint8_t* src, int height, int width, const AugmentSettings& settings, Rng& rng,
                   const InputSpec& spec, float* dst);

}  // namespace fer

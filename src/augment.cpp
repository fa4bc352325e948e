#include "fer/augment.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace fer {

Warp draw_warp(const AugmentSettings& settings, int height, int width, Rng& rng) {
    const float mirror_draw = rng.uniform();
    const float zoom_draw = rng.uniform(-1.0f, 1.0f);
    const float rotation_draw = rng.uniform(-1.0f, 1.0f);
    const float shift_x_draw = rng.uniform(-1.0f, 1.0f);
    const float shift_y_draw = rng.uniform(-1.0f, 1.0f);
    Warp warp;
    warp.mirror = settings.mirror && mirror_draw < 0.5f;
    if (settings.zoom > 0.0f) warp.zoom = 1.0f + settings.zoom * zoom_draw;
    if (settings.rotation_degrees > 0.0f) warp.rotation_degrees = settings.rotation_degrees * rotation_draw;
    if (settings.shift > 0.0f) {
        warp.shift_x = settings.shift * float(width) * shift_x_draw;
        warp.shift_y = settings.shift * float(height) * shift_y_draw;
    }
    return warp;
}

// src is (height, width) uint8 -> dst (height, width) float. Each output pixel maps back through the
// inverse warp to a source position, sampled bilinearly with the position clamped to the image
// (which replicates the edges).
void warp_image(const std::uint8_t* src, int height, int width, const Warp& warp, const InputSpec& spec, float* dst) {
    const std::size_t pixel_count = std::size_t(height) * std::size_t(width);
    if (warp.is_identity()) {
        for (std::size_t i = 0; i < pixel_count; ++i) dst[i] = spec.normalize(src[i]);
        return;
    }
    const float centre_x = 0.5f * float(width - 1), centre_y = 0.5f * float(height - 1);
    const float radians = warp.rotation_degrees * (3.14159265358979f / 180.0f);
    const float cosine = std::cos(radians) / warp.zoom, sine = std::sin(radians) / warp.zoom;
    const float mirror_sign = warp.mirror ? -1.0f : 1.0f;
    const float max_x = float(width - 1), max_y = float(height - 1);

    for (int y = 0; y < height; ++y) {
        const float dy = float(y) - centre_y - warp.shift_y;
        float* dst_row = dst + std::size_t(y) * std::size_t(width);
        for (int x = 0; x < width; ++x) {
            const float dx = float(x) - centre_x - warp.shift_x;
            // Inverse of (mirror, zoom, rotate, shift): undo the shift, rotate back, unzoom, unmirror.
            const float source_x = std::clamp(centre_x + mirror_sign * (cosine * dx + sine * dy), 0.0f, max_x);
            const float source_y = std::clamp(centre_y + (cosine * dy - sine * dx), 0.0f, max_y);
            const int x0 = std::min(int(source_x), width - 1), y0 = std::min(int(source_y), height - 1);
            const int x1 = std::min(x0 + 1, width - 1), y1 = std::min(y0 + 1, height - 1);
            const float fx = source_x - float(x0), fy = source_y - float(y0);
            const std::uint8_t* row0 = src + std::size_t(y0) * std::size_t(width);
            const std::uint8_t* row1 = src + std::size_t(y1) * std::size_t(width);
            const float a = row0[x0], b = row0[x1], c = row1[x0], d = row1[x1];
            const float top = a + fx * (b - a);
            const float bottom = c + fx * (d - c);
            // Rounding can overshoot the neighbours by an ulp; the clamp keeps the output within the
            // source's range, which downstream code may rely on.
            const float value = std::clamp(top + fy * (bottom - top), std::min(std::min(a, b), std::min(c, d)),
                                           std::max(std::max(a, b), std::max(c, d)));
            // The same arithmetic as InputSpec::normalize, so a sample landing on a pixel gives exactly
            // that pixel's normalised value.
            dst_row[x] = (value * spec.scale - spec.mean) / spec.std;
        }
    }
}

void augment_image(const std::uint8_t* src, int height, int width, const AugmentSettings& settings, Rng& rng,
                   const InputSpec& spec, float* dst) {
    if (!settings.enabled()) {
        warp_image(src, height, width, Warp{}, spec, dst);
        return;
    }
    warp_image(src, height, width, draw_warp(settings, height, width, rng), spec, dst);
}

}  // namespace fer

#include "fer/synthetic_data.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "fer/rng.hpp"

namespace fer {

GreyImage synthetic_face(int label, Rng& rng, int size) {
    GreyImage image{size, size, std::vector<std::uint8_t>(std::size_t(size) * std::size_t(size))};
    // The class is the stripes' spatial frequency (35 % apart from class to class) at a random
    // angle: invariant to the mirror and rotation of augmentation, and robust to its zoom.
    const float angle = rng.uniform(0.0f, 3.14159265f);
    const float frequency = 0.2f * std::pow(1.35f, float(label)) * rng.uniform(0.97f, 1.03f);
    const float phase = rng.uniform(0.0f, 6.2831853f);
    const float brightness = rng.uniform(90.0f, 160.0f), contrast = rng.uniform(40.0f, 80.0f);
    const float dx = std::cos(angle), dy = std::sin(angle);
    for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
            float stripe = std::sin(frequency * (float(x) * dx + float(y) * dy) + phase);
            float value = brightness + contrast * stripe + 12.0f * rng.normal();
            image.pixels[std::size_t(y) * std::size_t(size) + std::size_t(x)] =
                std::uint8_t(std::clamp(value, 0.0f, 255.0f));
        }
    return image;
}

std::size_t write_synthetic_dataset(const std::string& root, const std::vector<std::string>& classes,
                                    std::size_t per_class, std::uint64_t seed) {
    Rng rng(seed);
    std::size_t written = 0;
    for (std::size_t c = 0; c < classes.size(); ++c) {
        std::filesystem::path folder = std::filesystem::path(root) / classes[c];
        std::filesystem::create_directories(folder);
        for (std::size_t i = 0; i < per_class; ++i) {
            char name[32];
            std::snprintf(name, sizeof name, "%05zu.png", i);
            write_png((folder / name).string(), synthetic_face(int(c), rng));
            ++written;
        }
    }
    return written;
}

}  // namespace fer

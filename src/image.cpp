#include "fer/image.hpp"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "stb_guard.hpp"

namespace fer {

namespace {

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};

struct StbFree {
    void operator()(stbi_uc* pixels) const { stbi_image_free(pixels); }
};

std::vector<std::uint8_t> read_whole_file(const std::string& path) {
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file) throw ImageError(path, std::string("cannot open: ") + std::strerror(errno));
    std::vector<std::uint8_t> bytes;
    std::uint8_t chunk[1 << 16];
    std::size_t got = 0;
    while ((got = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) bytes.insert(bytes.end(), chunk, chunk + got);
    if (std::ferror(file.get())) throw ImageError(path, "read error");
    return bytes;
}

// One output index's source taps along an axis: pixels [first, first + weights.size()) with weights
// summing to 1. Resampling is separable, so a table per axis is all the geometry there is.
struct AxisTaps {
    std::vector<int> first;
    std::vector<std::vector<float>> weights;
};

AxisTaps axis_taps(int src_size, int dst_size) {
    AxisTaps taps;
    taps.first.resize(std::size_t(dst_size));
    taps.weights.resize(std::size_t(dst_size));
    const double scale = double(src_size) / double(dst_size);
    for (int i = 0; i < dst_size; ++i) {
        auto& weights = taps.weights[std::size_t(i)];
        if (src_size == dst_size) {
            taps.first[std::size_t(i)] = i;
            weights = {1.0f};
        } else if (src_size > dst_size) {
            // Area: the output pixel covers source interval [start, end); each source pixel counts by
            // the length of its overlap with it.
            const double start = i * scale, end = (i + 1) * scale;
            const int lo = int(std::floor(start));
            const int hi = std::min(src_size, int(std::ceil(end)));
            taps.first[std::size_t(i)] = lo;
            for (int j = lo; j < hi; ++j) {
                const double overlap = std::min(end, double(j + 1)) - std::max(start, double(j));
                weights.push_back(float(std::max(0.0, overlap) / scale));
            }
        } else {
            // Bilinear with aligned pixel centres; clamping the position replicates the edges.
            const double position = std::clamp((i + 0.5) * scale - 0.5, 0.0, double(src_size - 1));
            const int lo = std::min(int(std::floor(position)), src_size - 1);
            const float fraction = float(position - lo);
            taps.first[std::size_t(i)] = lo;
            if (lo + 1 < src_size && fraction > 0.0f) {
                weights = {1.0f - fraction, fraction};
            } else {
                weights = {1.0f};
            }
        }
    }
    return taps;
}

}  // namespace

GreyImage decode_image_memory(std::span<const std::uint8_t> bytes, const std::string& name_for_errors) {
    if (bytes.empty()) throw ImageError(name_for_errors, "empty file");
    if (bytes.size() > std::size_t(INT_MAX)) throw ImageError(name_for_errors, "file too large");
    if (const std::string hazard = stb_image_hazard(bytes); !hazard.empty()) throw ImageError(name_for_errors, hazard);
    int width = 0, height = 0, channels_in_file = 0;
    // A header of a few bytes can declare gigapixels, and stb allocates and decodes (zeros past the end
    // of the data) whatever the header says: the size is checked before anything is decoded.
    if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &width, &height, &channels_in_file)) {
        const char* reason = stbi_failure_reason();
        throw ImageError(name_for_errors, reason ? reason : "cannot decode image");
    }
    if (std::int64_t(width) * std::int64_t(height) > max_image_pixels)
        throw ImageError(name_for_errors, "image too large: " + std::to_string(width) + "x" + std::to_string(height) +
                                              " pixels (at most " + std::to_string(max_image_pixels) + ")");
    // Asking stb for 1 channel converts any colour type and bit depth to 8-bit grey.
    std::unique_ptr<stbi_uc, StbFree> decoded(
        stbi_load_from_memory(bytes.data(), int(bytes.size()), &width, &height, &channels_in_file, 1));
    if (!decoded) {
        // stb's failure reason is thread-local, so parallel decoding reports the right one.
        const char* reason = stbi_failure_reason();
        throw ImageError(name_for_errors, reason ? reason : "cannot decode image");
    }
    // stb 2.27 accepts a PNM header whose size does not parse as a 0x0 image (found by fuzzing).
    if (width <= 0 || height <= 0)
        throw ImageError(name_for_errors,
                         "image has no pixels (" + std::to_string(width) + "x" + std::to_string(height) + ")");
    GreyImage image;
    image.width = width;
    image.height = height;
    image.pixels.assign(decoded.get(), decoded.get() + std::size_t(width) * std::size_t(height));
    return image;
}

GreyImage decode_image_file(const std::string& path) {
    return decode_image_memory(read_whole_file(path), path);
}

// src is (height, width) uint8. Output rows are made one at a time from the source rows under them, in
// float, and rounded once at the end. The pass that shrinks goes first, so the work stays near the source
// size (when a 7-pixel-wide image grows to 48, a horizontal pass first would multiply it by 7), and no
// buffer holds a whole pass (src.height * width floats is 800 MB for a 7x4000000 image; both found by
// fuzzing). An axis that shrinks or keeps its size keeps the horizontal-first order of earlier versions,
// and with it the same results to the bit.
GreyImage resize_area(const GreyImage& src, int width, int height) {
    if (src.width <= 0 || src.height <= 0 || src.pixels.size() != std::size_t(src.width) * std::size_t(src.height))
        throw std::invalid_argument("resize_area: empty or inconsistent source image (" + std::to_string(src.width) +
                                    "x" + std::to_string(src.height) + ")");
    if (width <= 0 || height <= 0)
        throw std::invalid_argument("resize_area: target size must be positive, got " + std::to_string(width) + "x" +
                                    std::to_string(height));
    if (width == src.width && height == src.height) return src;

    const AxisTaps x_taps = axis_taps(src.width, width);
    const AxisTaps y_taps = axis_taps(src.height, height);
    const auto source_row = [&](int y) { return src.pixels.data() + std::size_t(y) * std::size_t(src.width); };
    // One output pixel of a horizontal pass over a row of src.width values (uint8 or float).
    const auto horizontal = [&](const auto* row, int x) {
        const auto& weights = x_taps.weights[std::size_t(x)];
        const auto* taps = row + x_taps.first[std::size_t(x)];
        float sum = 0.0f;
        for (std::size_t k = 0; k < weights.size(); ++k) sum += weights[k] * float(taps[k]);
        return sum;
    };

    GreyImage out;
    out.width = width;
    out.height = height;
    out.pixels.resize(std::size_t(width) * std::size_t(height));
    const bool horizontal_first = src.width >= width;
    std::vector<float> passed(std::size_t(horizontal_first ? width : src.width));  // one row after the first pass
    std::vector<float> accumulator(passed.size());
    for (int y = 0; y < height; ++y) {
        std::fill(accumulator.begin(), accumulator.end(), 0.0f);
        const auto& weights = y_taps.weights[std::size_t(y)];
        for (std::size_t k = 0; k < weights.size(); ++k) {
            const std::uint8_t* row = source_row(y_taps.first[std::size_t(y)] + int(k));
            const float weight = weights[k];
            if (horizontal_first) {
                for (int x = 0; x < width; ++x) passed[std::size_t(x)] = horizontal(row, x);
                for (int x = 0; x < width; ++x) accumulator[std::size_t(x)] += weight * passed[std::size_t(x)];
            } else {
                for (int x = 0; x < src.width; ++x) accumulator[std::size_t(x)] += weight * float(row[x]);
            }
        }
        std::uint8_t* out_row = out.pixels.data() + std::size_t(y) * std::size_t(width);
        for (int x = 0; x < width; ++x) {
            const float value = horizontal_first ? accumulator[std::size_t(x)] : horizontal(accumulator.data(), x);
            out_row[x] = std::uint8_t(std::lround(std::clamp(value, 0.0f, 255.0f)));
        }
    }
    return out;
}

GreyImage load_face_image_memory(std::span<const std::uint8_t> bytes, const std::string& name_for_errors, int width,
                                 int height) {
    GreyImage image = decode_image_memory(bytes, name_for_errors);
    if (image.width == width && image.height == height) return image;
    return resize_area(image, width, height);
}

GreyImage load_face_image(const std::string& path, int width, int height) {
    return load_face_image_memory(read_whole_file(path), path, width, height);
}

void write_png(const std::string& path, const GreyImage& image) {
    if (image.width <= 0 || image.height <= 0 ||
        image.pixels.size() != std::size_t(image.width) * std::size_t(image.height))
        throw std::runtime_error(path + ": cannot write an empty or inconsistent image (" +
                                 std::to_string(image.width) + "x" + std::to_string(image.height) + ")");
    if (!stbi_write_png(path.c_str(), image.width, image.height, 1, image.pixels.data(), image.width))
        throw std::runtime_error(path + ": cannot write PNG");
}

}  // namespace fer

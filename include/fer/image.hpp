// 8-bit grey images: decoding (anything stb_image reads), area resampling to the model's input size,
// and PNG writing. load_face_image is the single path from a file to model pixels, shared by
// training, evaluation and the player, so the three can never disagree on how a face is prepared.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fer {

// Row-major, width * height bytes.
struct GreyImage {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;

    std::uint8_t at(int x, int y) const { return pixels[std::size_t(y) * std::size_t(width) + std::size_t(x)]; }
};

// A file or buffer that could not be read or decoded. what() is "PATH: reason"; path() and reason()
// are kept apart so that dataset loading can report them separately.
class ImageError : public std::runtime_error {
public:
    ImageError(std::string path, std::string reason)
        : std::runtime_error(path + ": " + reason), path_(std::move(path)), reason_(std::move(reason)) {}
    const std::string& path() const { return path_; }
    const std::string& reason() const { return reason_; }

private:
    std::string path_, reason_;
};

// The most pixels a decoded image may have (16 Mpx, e.g. 4096x4096; faces need far fewer): stb_image
// allocates and decodes whatever size a header declares, so without a limit a 100-byte file costs
// gigabytes and seconds.
inline constexpr std::int64_t max_image_pixels = std::int64_t(1) << 24;

// png/jpg/jpeg/bmp/... (anything stb_image reads), any channel count, 8 or 16 bits -> 8-bit grey
// (stb's luma weights; alpha is dropped). Throws ImageError naming the path, also for an image of more
// than max_image_pixels.
GreyImage decode_image_file(const std::string& path);
GreyImage decode_image_memory(std::span<const std::uint8_t> bytes, const std::string& name_for_errors);

// Area resampling like OpenCV's INTER_AREA: when shrinking, each output pixel is the coverage-weighted
// mean of the source pixels under it; when enlarging, bilinear (pixel centres aligned, edges
// replicated); an axis of equal size is copied. The two axes are handled separately, so one may shrink
// while the other grows. Rounds to nearest once, at the end. Throws std::invalid_argument for an
// empty source or a non-positive target size.
GreyImage resize_area(const GreyImage& src, int width, int height);

// Decode + resize to the model input: what training, evaluation and the player all call.
GreyImage load_face_image(const std::string& path, int width = 48, int height = 48);
// The same from bytes already in memory (name_for_errors names them in messages); load_face_image reads
// the file and calls this.
GreyImage load_face_image_memory(std::span<const std::uint8_t> bytes, const std::string& name_for_errors,
                                 int width = 48, int height = 48);

// Writes an 8-bit grey PNG; throws std::runtime_error naming the path.
void write_png(const std::string& path, const GreyImage& image);

}  // namespace fer

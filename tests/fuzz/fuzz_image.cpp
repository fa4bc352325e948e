// Fuzz target: image decoding into the model's 48x48 input, through load_face_image_memory (what
// load_face_image runs on a file's bytes, for datasets, fer-eval --image and fer-make-demo), then the
// normalisation into a tensor. Documented outcome: a 48x48 image, or fer::ImageError "NAME: reason".
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "fer/image.hpp"
#include "fer/input_spec.hpp"
#include "fer/tensor.hpp"
#include "fuzz_support.hpp"

namespace {

constexpr int face_side = 48;
const std::string input_name = "fuzz input";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::optional<fer::GreyImage> face;
    fer::fuzz::succeeds_or_throws<fer::ImageError>("load_face_image_memory", [&] {
        try {
            face = fer::load_face_image_memory(fer::fuzz::as_bytes(data, size), input_name, face_side, face_side);
        } catch (const fer::ImageError& e) {
            if (e.path() != input_name || std::string(e.what()).rfind(input_name + ": ", 0) != 0)
                fer::fuzz::report_finding("ImageError does not name the input: " + std::string(e.what()));
            throw;
        }
    });
    if (!face) return 0;
    if (face->width != face_side || face->height != face_side ||
        face->pixels.size() != std::size_t(face_side) * std::size_t(face_side))
        fer::fuzz::report_finding("decoded face is " + std::to_string(face->width) + "x" +
                                  std::to_string(face->height) + " with " + std::to_string(face->pixels.size()) +
                                  " pixels, expected 48x48");
    const fer::InputSpec spec;
    fer::Tensor input(fer::Shape{1, 1, face_side, face_side});
    for (std::size_t i = 0; i < face->pixels.size(); ++i) input[i] = spec.normalize(face->pixels[i]);
    for (std::size_t i = 0; i < input.size(); ++i)
        if (!std::isfinite(input[i]) || input[i] < 0.0f || input[i] > 1.0f)
            fer::fuzz::report_finding("normalised pixel " + std::to_string(i) + " is " + std::to_string(input[i]));
    return 0;
}

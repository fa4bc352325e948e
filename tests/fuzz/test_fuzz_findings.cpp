// The library bugs the fuzz targets found (docs/reliability.md) whose kept input would not crash a
// build without sanitizers, each as a test of its fix on that input: the replay programs only notice
// crashes, so without this a lost fix could pass the normal test suite.
#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fer/image.hpp"
#include "fer/model_file.hpp"

#ifndef FER_FUZZ_DIR
#define FER_FUZZ_DIR "tests/fuzz"
#endif

namespace {

std::vector<std::uint8_t> kept_input(const std::string& relative) {
    const std::string path = std::string(FER_FUZZ_DIR) + "/" + relative;
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, path << " is missing");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a JPEG Huffman table of more than 256 codes is refused before stb_image 2.27 overflows on it") {
    const std::vector<std::uint8_t> overflow = kept_input("regression/image/jpeg_huffman_table_overflow.jpg");
    CHECK_THROWS_WITH_AS(fer::decode_image_memory(overflow, "overflow.jpg"),
                         doctest::Contains("overflow.jpg: corrupt JPEG: a Huffman table declares"), fer::ImageError);
    // The guard must not refuse ordinary JPEGs: grey and colour seeds still decode.
    for (const char* seed : {"seeds/image/grey_16x16.jpg", "seeds/image/rgb_24x8.jpg"}) {
        CAPTURE(seed);
        const fer::GreyImage image = fer::decode_image_memory(kept_input(seed), seed);
        CHECK(image.width > 0);
        CHECK(image.pixels.size() == std::size_t(image.width) * std::size_t(image.height));
    }
}

TEST_CASE("a PNG whose IDAT chunk is longer than the file is refused before stb_image 2.27 allocates for it") {
    CHECK_THROWS_WITH_AS(
        fer::decode_image_memory(kept_input("regression/image/png_idat_longer_than_file.png"), "x.png"),
        doctest::Contains("x.png: corrupt PNG: an IDAT chunk declares"), fer::ImageError);
}

TEST_CASE("a PNM header number beyond INT_MAX is refused before stb_image 2.27 overflows an int on it") {
    CHECK_THROWS_WITH_AS(fer::decode_image_memory(kept_input("regression/image/pnm_size_overflows_int.pgm"), "x.pgm"),
                         doctest::Contains("x.pgm: corrupt PNM: a number in the header is larger than"),
                         fer::ImageError);
    CHECK(fer::decode_image_memory(kept_input("seeds/image/grey_6x4.pgm"), "seed.pgm").width == 6);
}

TEST_CASE("an image header that declares more pixels than max_image_pixels is refused before decoding") {
    // 96 bytes that declare an RLE TGA of 11008x8192: stb would allocate 90 MB and decode zeros for a second.
    CHECK_THROWS_WITH_AS(fer::decode_image_memory(kept_input("regression/image/tga_90_megapixels.tga"), "x.tga"),
                         doctest::Contains("x.tga: image too large: 11008x8192 pixels"), fer::ImageError);
}

TEST_CASE("model files whose shapes overflow int are refused") {
    // Each is a valid file (checksum included) that declares an input of 65536x65536 or so.
    CHECK_THROWS_WITH_AS(
        fer::deserialize_model(kept_input("regression/model_file/squeeze_excite_65536x65536.fer"), "se"),
        doctest::Contains("squeeze_excite: input"), std::runtime_error);
    // 2*33025*65026 values wrapped to 4 features: the file loaded as a network that would overrun its buffers.
    CHECK_THROWS_WITH_AS(
        fer::deserialize_model(kept_input("regression/model_file/flatten_wraps_to_4_features.fer"), "fl"),
        doctest::Contains("flatten: input"), std::runtime_error);
}

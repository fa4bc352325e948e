#include <doctest/doctest.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fer/image.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

fer::GreyImage make_image(int width, int height, std::vector<std::uint8_t> pixels) {
    fer::GreyImage image;
    image.width = width;
    image.height = height;
    image.pixels = std::move(pixels);
    return image;
}

std::string error_message(const auto& action) {
    try {
        action();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

}  // namespace

TEST_CASE("write_png and decode_image_file round-trip a grey image") {
    fer::TempDir dir("image_roundtrip");
    std::vector<std::uint8_t> pixels(5 * 3);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::uint8_t(i * 17);
    const fer::GreyImage original = make_image(5, 3, pixels);
    fer::write_png(dir.file("grey.png"), original);
    const fer::GreyImage decoded = fer::decode_image_file(dir.file("grey.png"));
    CHECK(decoded.width == 5);
    CHECK(decoded.height == 3);
    CHECK(decoded.pixels == pixels);
    CHECK(decoded.at(4, 2) == 14 * 17);
}

TEST_CASE("colour images become grey with stb's luma weights (77 r + 150 g + 29 b) / 256") {
    fer::TempDir dir("image_colour");
    // Four pixels: red, green, blue, mid grey.
    const std::vector<std::uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 100, 100, 100};
    const std::vector<std::uint8_t> expected = {76, 149, 28, 100};

    SUBCASE("RGB png") {
        REQUIRE(stbi_write_png(dir.file("rgb.png").c_str(), 4, 1, 3, rgb.data(), 4 * 3));
        const fer::GreyImage grey = fer::decode_image_file(dir.file("rgb.png"));
        CHECK(grey.width == 4);
        CHECK(grey.height == 1);
        CHECK(grey.pixels == expected);
    }
    SUBCASE("RGBA png drops alpha") {
        std::vector<std::uint8_t> rgba;
        for (std::size_t i = 0; i < 4; ++i) {
            rgba.insert(rgba.end(), rgb.begin() + std::ptrdiff_t(3 * i), rgb.begin() + std::ptrdiff_t(3 * i + 3));
            rgba.push_back(std::uint8_t(10 + 60 * i));
        }
        REQUIRE(stbi_write_png(dir.file("rgba.png").c_str(), 4, 1, 4, rgba.data(), 4 * 4));
        CHECK(fer::decode_image_file(dir.file("rgba.png")).pixels == expected);
    }
    SUBCASE("RGB bmp") {
        REQUIRE(stbi_write_bmp(dir.file("rgb.bmp").c_str(), 4, 1, 3, rgb.data()));
        CHECK(fer::decode_image_file(dir.file("rgb.bmp")).pixels == expected);
    }
}

TEST_CASE("grey bmp and jpeg decode") {
    fer::TempDir dir("image_formats");
    std::vector<std::uint8_t> pixels(16 * 8);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::uint8_t(3 * i);

    SUBCASE("bmp is lossless") {
        REQUIRE(stbi_write_bmp(dir.file("grey.bmp").c_str(), 16, 8, 1, pixels.data()));
        const fer::GreyImage decoded = fer::decode_image_file(dir.file("grey.bmp"));
        CHECK(decoded.width == 16);
        CHECK(decoded.height == 8);
        CHECK(decoded.pixels == pixels);
    }
    SUBCASE("jpeg of a flat image is close to the original") {
        const std::vector<std::uint8_t> flat(16 * 8, 128);
        REQUIRE(stbi_write_jpg(dir.file("flat.JPEG").c_str(), 16, 8, 1, flat.data(), 95));
        const fer::GreyImage decoded = fer::decode_image_file(dir.file("flat.JPEG"));
        REQUIRE(decoded.pixels.size() == flat.size());
        for (std::uint8_t value : decoded.pixels) CHECK(std::abs(int(value) - 128) <= 2);
    }
    SUBCASE("decode_image_memory reads the same bytes") {
        REQUIRE(stbi_write_png(dir.file("g.png").c_str(), 16, 8, 1, pixels.data(), 16));
        std::ifstream file(dir.file("g.png"), std::ios::binary);
        const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        CHECK(fer::decode_image_memory(bytes, "g.png").pixels == pixels);
    }
}

TEST_CASE("undecodable, empty and missing files give errors naming the file") {
    fer::TempDir dir("image_errors");
    const std::string garbage = dir.file("garbage.png");
    std::ofstream(garbage) << "this is not an image at all";
    const std::string empty = dir.file("empty.png");
    std::ofstream{empty};
    const std::string missing = dir.file("missing.png");

    CHECK_THROWS_AS(fer::decode_image_file(garbage), fer::ImageError);
    const std::string garbage_message = error_message([&] { fer::decode_image_file(garbage); });
    CHECK(garbage_message.find(garbage + ": ") == 0);
    CHECK(garbage_message.size() > garbage.size() + 2);  // stb's reason follows

    const std::string empty_message = error_message([&] { fer::decode_image_file(empty); });
    CHECK(empty_message.find(empty) == 0);
    CHECK(empty_message.find("empty") != std::string::npos);

    const std::string missing_message = error_message([&] { fer::load_face_image(missing); });
    CHECK(missing_message.find(missing) == 0);

    try {
        fer::decode_image_file(garbage);
    } catch (const fer::ImageError& e) {
        CHECK(e.path() == garbage);
        CHECK(!e.reason().empty());
    }

    const std::string unwritable = dir.file("no/such/folder/out.png");
    CHECK(error_message([&] { fer::write_png(unwritable, make_image(1, 1, {7})); }).find(unwritable) !=
          std::string::npos);
}

TEST_CASE("resize_area averages blocks when shrinking by an integer factor") {
    // 4x4 -> 2x2: each output is the mean of a 2x2 block.
    const fer::GreyImage src = make_image(4, 4,
                                          {10, 20, 30, 41,  //
                                           50, 60, 70, 80,  //
                                           1, 2, 200, 255,  //
                                           3, 5, 250, 254});
    const fer::GreyImage out = fer::resize_area(src, 2, 2);
    CHECK(out.width == 2);
    CHECK(out.height == 2);
    // (10+20+50+60)/4 = 35; (30+41+70+80)/4 = 55.25 -> 55; (1+2+3+5)/4 = 2.75 -> 3; (200+255+250+254)/4 = 239.75 -> 240
    CHECK(out.pixels == std::vector<std::uint8_t>{35, 55, 3, 240});
}

TEST_CASE("resize_area weights partially covered pixels by their coverage") {
    // 3x3 -> 2x2, scale 1.5: output 0 covers source [0, 1.5) on each axis, so source pixel 0 counts
    // 1/1.5 = 2/3 and pixel 1 counts 0.5/1.5 = 1/3; output 1 gives pixel 1 1/3 and pixel 2 2/3.
    const fer::GreyImage src = make_image(3, 3,
                                          {3, 90, 180,  //
                                           90, 0, 90,   //
                                           180, 90, 0});
    const fer::GreyImage out = fer::resize_area(src, 2, 2);
    // (0,0): (4*3 + 2*90 + 2*90 + 1*0) / 9 = 372/9 = 41.33 -> 41
    // (1,0): (2*90 + 4*180 + 1*0 + 2*90) / 9 = 1080/9 = 120
    // (0,1): (2*90 + 1*0 + 4*180 + 2*90) / 9 = 120
    // (1,1): (1*0 + 2*90 + 2*90 + 4*0) / 9 = 40
    CHECK(out.pixels == std::vector<std::uint8_t>{41, 120, 120, 40});

    // 3x3 -> 1x1 is the plain mean: 723 / 9 = 80.33 -> 80.
    CHECK(fer::resize_area(src, 1, 1).pixels == std::vector<std::uint8_t>{80});
    // 3x1 -> 2x1 along one axis only: (2*3 + 90)/3 = 32, (90 + 2*180)/3 = 150.
    CHECK(fer::resize_area(make_image(3, 1, {3, 90, 180}), 2, 1).pixels == std::vector<std::uint8_t>{32, 150});
}

TEST_CASE("resize_area is bilinear when enlarging and a copy at equal size") {
    // 2x1 -> 4x1: centres map to source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    CHECK(fer::resize_area(make_image(2, 1, {0, 100}), 4, 1).pixels == std::vector<std::uint8_t>{0, 25, 75, 100});
    // Vertical too.
    CHECK(fer::resize_area(make_image(1, 2, {0, 100}), 1, 4).pixels == std::vector<std::uint8_t>{0, 25, 75, 100});
    CHECK(fer::resize_area(make_image(1, 1, {77}), 3, 2).pixels == std::vector<std::uint8_t>(6, 77));

    const fer::GreyImage src = make_image(3, 2, {1, 2, 3, 4, 5, 6});
    CHECK(fer::resize_area(src, 3, 2).pixels == src.pixels);

    // One axis shrinks while the other grows: 4x1 -> 2x2 averages pairs and repeats the row.
    CHECK(fer::resize_area(make_image(4, 1, {10, 20, 30, 50}), 2, 2).pixels ==
          std::vector<std::uint8_t>{15, 40, 15, 40});
}

TEST_CASE("resize_area rejects empty images and sizes") {
    CHECK_THROWS_AS(fer::resize_area(fer::GreyImage{}, 2, 2), std::invalid_argument);
    CHECK_THROWS_AS(fer::resize_area(make_image(1, 1, {1}), 0, 2), std::invalid_argument);
}

TEST_CASE("load_face_image decodes and resizes to the model input") {
    fer::TempDir dir("image_face");
    // 96x96 of 2x2 blocks whose mean is known: block (bx, by) holds {v, v, v+2, v+2} with v = bx + by.
    fer::GreyImage big = make_image(96, 96, std::vector<std::uint8_t>(96 * 96));
    for (int y = 0; y < 96; ++y)
        for (int x = 0; x < 96; ++x) big.pixels[std::size_t(y * 96 + x)] = std::uint8_t(x / 2 + y / 2 + 2 * (y % 2));
    fer::write_png(dir.file("big.png"), big);

    const fer::GreyImage face = fer::load_face_image(dir.file("big.png"));
    REQUIRE(face.width == 48);
    REQUIRE(face.height == 48);
    for (int y = 0; y < 48; ++y)
        for (int x = 0; x < 48; ++x) CHECK(face.at(x, y) == x + y + 1);

    const fer::GreyImage same = fer::load_face_image(dir.file("big.png"), 96, 96);
    CHECK(same.pixels == big.pixels);
}

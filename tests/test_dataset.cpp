#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fer/dataset.hpp"
#include "fer/image.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

std::string error_message(const auto& action) {
    try {
        action();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A 48x48 image that differs for every (label, index) pair.
fer::GreyImage face(int label, int index) {
    fer::GreyImage image;
    image.width = image.height = 48;
    image.pixels.resize(48 * 48);
    for (int i = 0; i < 48 * 48; ++i) image.pixels[std::size_t(i)] = std::uint8_t((i * (label + 3) + 37 * index) % 256);
    return image;
}

struct FaceFile {
    std::string relative_path;
    int label;
    int index;
};

// The valid images of the generated tree, in sorted path order.
const std::vector<FaceFile> tree_faces = {
    {"angry/a0.png", 0, 0}, {"angry/a1.png", 0, 1}, {"angry/a2.png", 0, 2},
    {"happy/h0.png", 1, 0}, {"happy/h1.PNG", 1, 1}, {"neutral/n0.png", 2, 0},
};
const std::vector<std::string> tree_classes = {"angry", "happy", "neutral"};

// root/{angry,happy,neutral}/ with the faces above, plus an unknown folder, a corrupt png, a README
// and a text file inside a class folder.
void write_tree(const fs::path& root) {
    for (const auto& name : {"angry", "happy", "neutral", "unknown"}) fs::create_directories(root / name);
    for (const auto& file : tree_faces)
        fer::write_png((root / file.relative_path).string(), face(file.label, file.index));
    fer::write_png((root / "unknown/u0.png").string(), face(5, 5));
    std::ofstream(root / "neutral/n1_corrupt.png") << "\x89PNG broken";
    std::ofstream(root / "README.md") << "not an image";
    std::ofstream(root / "happy/notes.txt") << "not an image either";
}

std::string pixels_text(const fer::GreyImage& image) {
    std::string text;
    for (std::uint8_t pixel : image.pixels) text += (text.empty() ? "" : " ") + std::to_string(pixel);
    return text;
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("load_image_folder loads class folders in sorted order and reports what it skipped") {
    fer::TempDir dir("dataset_tree");
    write_tree(dir.path);
    fer::LoadOptions options;
    options.classes = tree_classes;
    fer::LoadReport report;
    const fer::Dataset dataset = fer::load_image_folder(dir.path.string(), options, &report);

    REQUIRE(dataset.size() == tree_faces.size());
    CHECK(dataset.height == 48);
    CHECK(dataset.width == 48);
    CHECK(dataset.classes == tree_classes);
    CHECK(dataset.pixels.size() == tree_faces.size() * 48 * 48);
    for (std::size_t i = 0; i < tree_faces.size(); ++i) {
        CAPTURE(i);
        CHECK(dataset.sources[i] == (dir.path / tree_faces[i].relative_path).string());
        CHECK(dataset.labels[i] == tree_faces[i].label);
        const fer::GreyImage expected = face(tree_faces[i].label, tree_faces[i].index);
        CHECK(std::equal(expected.pixels.begin(), expected.pixels.end(), dataset.image(i)));
    }
    CHECK(dataset.class_counts() == std::vector<std::size_t>{3, 2, 1});

    REQUIRE(report.skipped_files.size() == 1);
    CHECK(report.skipped_files[0].source == (dir.path / "neutral/n1_corrupt.png").string());
    CHECK(!report.skipped_files[0].reason.empty());
    CHECK(!contains(report.skipped_files[0].reason, report.skipped_files[0].source));
    REQUIRE(report.ignored_folders.size() == 1);
    CHECK(report.ignored_folders[0] == (dir.path / "unknown").string());

    SUBCASE("two threads give the same dataset") {
        options.threads = 2;
        const fer::Dataset parallel = fer::load_image_folder(dir.path.string(), options);
        CHECK(parallel.pixels == dataset.pixels);
        CHECK(parallel.labels == dataset.labels);
        CHECK(parallel.sources == dataset.sources);
    }
    SUBCASE("strict throws naming the corrupt file") {
        options.strict = true;
        const std::string message = error_message([&] { fer::load_image_folder(dir.path.string(), options); });
        CHECK(contains(message, "n1_corrupt.png"));
    }
    SUBCASE("missing class folders count zero") {
        const fer::Dataset all_classes = fer::load_image_folder(dir.path.string(), fer::LoadOptions{});
        CHECK(all_classes.classes.size() == 7);
        CHECK(all_classes.class_counts() == std::vector<std::size_t>{3, 0, 0, 2, 0, 0, 1});
        // 'angry' is class 0, 'happy' 3, 'neutral' 6 in the FER2013 order.
        CHECK(all_classes.labels == std::vector<int>{0, 0, 0, 3, 3, 6});
    }
    SUBCASE("other sizes are resized on load") {
        options.height = options.width = 24;
        const fer::Dataset small = fer::load_image_folder(dir.path.string(), options);
        REQUIRE(small.size() == tree_faces.size());
        CHECK(small.height == 24);
        const fer::GreyImage expected = fer::resize_area(face(0, 1), 24, 24);
        CHECK(std::equal(expected.pixels.begin(), expected.pixels.end(), small.image(1)));
    }
}

TEST_CASE("load_image_folder rejects missing, non-folder and empty roots, naming them") {
    fer::TempDir dir("dataset_bad_roots");
    const std::string missing = dir.file("nowhere");
    CHECK(contains(error_message([&] { fer::load_image_folder(missing, {}); }), missing));

    const std::string plain_file = dir.file("file.txt");
    write_text(plain_file, "x");
    CHECK(contains(error_message([&] { fer::load_image_folder(plain_file, {}); }), plain_file));

    const std::string empty = dir.file("empty");
    fs::create_directories(empty);
    CHECK(contains(error_message([&] { fer::load_image_folder(empty, {}); }), empty));

    // Only a folder that is not a class and an empty class folder: still no images.
    fs::create_directories(dir.path / "empty/others");
    fs::create_directories(dir.path / "empty/happy");
    fer::write_png((dir.path / "empty/others/x.png").string(), face(1, 1));
    fer::LoadReport report;
    CHECK_THROWS_AS(fer::load_image_folder(empty, {}, &report), std::runtime_error);
    CHECK(report.ignored_folders.size() == 1);

    // Every image undecodable.
    std::ofstream(dir.path / "empty/happy/bad.png") << "nope";
    CHECK(contains(error_message([&] { fer::load_image_folder(empty, {}); }), empty));
}

TEST_CASE("fer2013.csv with the same images gives the same dataset as the folder") {
    fer::TempDir dir("dataset_csv");
    write_tree(dir.path / "tree");
    fer::LoadOptions options;
    options.classes = tree_classes;
    const fer::Dataset from_folder = fer::load_image_folder((dir.path / "tree").string(), options);

    // Rows in the folder's sorted order, with two PublicTest rows in between that Training must skip.
    std::string csv = "emotion,pixels,Usage\n";
    std::string reordered = "Usage,pixels,emotion\r\n";
    for (std::size_t i = 0; i < tree_faces.size(); ++i) {
        const std::string pixels = pixels_text(face(tree_faces[i].label, tree_faces[i].index));
        csv += std::to_string(tree_faces[i].label) + "," + pixels + ",Training\n";
        reordered += "Training," + pixels + "," + std::to_string(tree_faces[i].label) + "\r\n";
        if (i == 2) {
            csv += "1," + pixels_text(face(2, 9)) + ",PublicTest\n";
            csv += "2," + pixels_text(face(1, 9)) + ",PublicTest\n";
        }
    }
    const std::string path = dir.file("fer2013.csv");
    write_text(path, csv);
    const fer::Dataset from_csv = fer::load_fer2013_csv(path, "Training", options);
    CHECK(from_csv.size() == from_folder.size());
    CHECK(from_csv.pixels == from_folder.pixels);
    CHECK(from_csv.labels == from_folder.labels);
    CHECK(from_csv.classes == from_folder.classes);
    // Header is line 1, the first row line 2; lines 5 and 6 are the PublicTest rows.
    CHECK(from_csv.sources.front() == path + ":2");
    CHECK(from_csv.sources[3] == path + ":7");

    SUBCASE("column order comes from the header, CRLF is accepted") {
        const std::string reordered_path = dir.file("reordered.csv");
        write_text(reordered_path, reordered);
        const fer::Dataset again = fer::load_fer2013_csv(reordered_path, "Training", options);
        CHECK(again.pixels == from_folder.pixels);
        CHECK(again.labels == from_folder.labels);
    }
    SUBCASE("other splits, all rows and folder-style split names") {
        const fer::Dataset public_test = fer::load_fer2013_csv(path, "PublicTest", options);
        CHECK(public_test.labels == std::vector<int>{1, 2});
        CHECK(public_test.sources == std::vector<std::string>{path + ":5", path + ":6"});
        CHECK(fer::load_fer2013_csv(path, "", options).size() == tree_faces.size() + 2);
        CHECK(fer::load_fer2013_csv(path, "train", options).pixels == from_csv.pixels);
        CHECK(fer::load_fer2013_csv(path, "val", options).labels == public_test.labels);
    }
    SUBCASE("resized on request") {
        fer::LoadOptions small = options;
        small.height = small.width = 24;
        const fer::Dataset resized = fer::load_fer2013_csv(path, "Training", small);
        CHECK(resized.height == 24);
        const fer::GreyImage expected = fer::resize_area(face(0, 0), 24, 24);
        CHECK(std::equal(expected.pixels.begin(), expected.pixels.end(), resized.image(0)));
    }
    SUBCASE("load_dataset picks csv or folder") {
        CHECK(fer::load_dataset(path, "Training", options).pixels == from_folder.pixels);
        CHECK_THROWS_AS(fer::load_dataset(path, "", options), std::invalid_argument);
        CHECK(fer::load_dataset((dir.path / "tree").string(), "", options).sources == from_folder.sources);
        // A split names a subfolder; csv split names map to the FER2013 folder names.
        fs::create_directories(dir.path / "layout");
        fs::rename(dir.path / "tree", dir.path / "layout/train");
        fer::LoadReport report;
        const fer::Dataset by_split = fer::load_dataset((dir.path / "layout").string(), "Training", options, &report);
        CHECK(by_split.pixels == from_folder.pixels);
        CHECK(report.skipped_files.size() == 1);
        CHECK(fer::load_dataset((dir.path / "layout").string(), "train", options).labels == from_folder.labels);
    }
}

TEST_CASE("malformed fer2013.csv rows are errors with their line numbers") {
    fer::TempDir dir("dataset_csv_errors");
    const std::string good = pixels_text(face(0, 0));
    const std::string header = "emotion,pixels,Usage\n";
    const std::string first_row = "3," + good + ",Training\n";  // line 2
    const std::string path = dir.file("bad.csv");
    const auto load_error = [&](const std::string& text, const std::string& split = "Training") {
        write_text(path, text);
        return error_message([&] { fer::load_fer2013_csv(path, split, fer::LoadOptions{}); });
    };

    SUBCASE("wrong pixel count") {
        const std::string message = load_error(header + first_row + "3," + good + " 7,Training\n");
        CHECK(contains(message, path + ":3:"));
        CHECK(contains(message, "2305"));
        CHECK(contains(load_error(header + "3,1 2 3,Training\n"), path + ":2:"));
    }
    SUBCASE("non-numeric pixel") {
        const std::string message = load_error(header + first_row + first_row + "3,12 ab " + good + ",Training\n");
        CHECK(contains(message, path + ":4:"));
        CHECK(contains(message, "not a number"));
        CHECK(contains(load_error(header + "3,-4 " + good + ",Training\n"), path + ":2:"));
    }
    SUBCASE("pixel above 255") {
        const std::string message = load_error(header + "3,256 " + good.substr(2) + ",Training\n");
        CHECK(contains(message, path + ":2:"));
        CHECK(contains(message, "255"));
    }
    SUBCASE("label out of range or not a number, even in another split") {
        CHECK(contains(load_error(header + first_row + "7," + good + ",PublicTest\n"), path + ":3:"));
        CHECK(contains(load_error(header + first_row + "-1," + good + ",Training\n"), path + ":3:"));
        CHECK(contains(load_error(header + "x," + good + ",Training\n"), path + ":2:"));
    }
    SUBCASE("wrong field count") {
        const std::string message = load_error(header + first_row + "3," + good + ",Training,extra\n");
        CHECK(contains(message, path + ":3:"));
        CHECK(contains(message, "fields"));
    }
    SUBCASE("missing Usage column when a split is asked for") {
        const std::string message = load_error("emotion,pixels\n3," + good + "\n");
        CHECK(contains(message, path));
        CHECK(contains(message, "Usage"));
        // Without a split the column is not needed.
        CHECK(fer::load_fer2013_csv(path, "", fer::LoadOptions{}).labels == std::vector<int>{3});
    }
    SUBCASE("missing emotion or pixels column") {
        CHECK(contains(load_error("label,pixels,Usage\n3," + good + ",Training\n"), "emotion"));
        CHECK(contains(load_error("emotion,image,Usage\n3," + good + ",Training\n"), "pixels"));
    }
    SUBCASE("a split with no rows names the split and what the file has") {
        const std::string message = load_error(header + first_row, "Bogus");
        CHECK(contains(message, path));
        CHECK(contains(message, "Bogus"));
        CHECK(contains(message, "Training"));
        CHECK(contains(load_error(header + first_row, "PrivateTest"), "PrivateTest"));
    }
    SUBCASE("missing and empty files") {
        const std::string missing = dir.file("missing.csv");
        CHECK(contains(error_message([&] { fer::load_fer2013_csv(missing, "Training", {}); }), missing));
        CHECK(contains(load_error(""), path));
        CHECK(contains(load_error(header), path));
    }
}

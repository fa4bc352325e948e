// Labelled image sets in memory: FER2013 as a folder tree (root/<class>/*.png) or as the original
// Kaggle fer2013.csv. Everything is decoded once into one contiguous uint8 buffer; batches are cut
// from it (batch.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace fer {

// N images of height x width, uint8, contiguous (N*H*W), labels in [0, classes.size()).
struct Dataset {
    int height = 48, width = 48;
    std::vector<std::string> classes;
    std::vector<std::uint8_t> pixels;
    std::vector<int> labels;
    std::vector<std::string> sources;  // file path, or "PATH:LINE" for a csv row

    std::size_t size() const { return labels.size(); }
    std::size_t image_size() const { return std::size_t(height) * std::size_t(width); }
    const std::uint8_t* image(std::size_t i) const { return pixels.data() + i * image_size(); }
    // Images per class, indexed like classes.
    std::vector<std::size_t> class_counts() const;
};

struct LoadIssue {
    std::string source;
    std::string reason;
};

struct LoadReport {
    std::vector<LoadIssue> skipped_files;      // undecodable files (non-strict loading)
    std::vector<std::string> ignored_folders;  // folders that are not a class, and folders inside a class
};

struct LoadOptions {
    std::vector<std::string> classes = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
    int height = 48, width = 48;
    bool strict = false;  // an undecodable file throws instead of being skipped into the report
    int threads = 1;      // decoding threads; 0 means all the machine's cores
};

// Folder layout root/<class>/*.{png,jpg,jpeg,bmp} (extension case-insensitive). Files are sorted by path
// so the order is deterministic; decoding runs in parallel (OpenMP) but the result is in sorted order.
// An undecodable file is recorded in the report (its path and stb's reason) and skipped, or with
// strict thrown; a folder whose name is not a class is recorded and ignored; a class folder that is
// missing is fine (0 images) but a root that does not exist, is not a folder, or yields no images at
// all throws std::runtime_error naming the root. Other files (README, .txt) are ignored silently.
// Images of another size are resized with resize_area (load_face_image).
// The report, when given, is overwritten. Strict mode throws fer::ImageError ("PATH: reason").
Dataset load_image_folder(const std::string& root, const LoadOptions& options, LoadReport* report = nullptr);

// The original Kaggle fer2013.csv: header "emotion,pixels,Usage" (column order and extra columns taken
// from the header; names trimmed), rows "3,70 80 ... (2304 values),Training". The emotion is an index
// into options.classes. split = "Training" | "PublicTest" | "PrivateTest" (also "train" | "val" |
// "test", the folder names), or "" for all rows, in which case the Usage column is optional. A
// malformed row is always an error: std::runtime_error "PATH:LINE: reason". Missing file, missing
// column and no rows for the split are errors too. Images are 48x48 in the csv; they are resized when
// options ask for another size. sources are "PATH:LINE" (line 1 is the header).
Dataset load_fer2013_csv(const std::string& path, const std::string& split, const LoadOptions& options);
// The same from an open stream; source stands for the path in messages and sources. load_fer2013_csv
// opens the file and calls this.
Dataset read_fer2013_csv(std::istream& in, const std::string& source, const std::string& split,
                         const LoadOptions& options);

// Either of the above. A path ending in .csv is a csv and split is required. Otherwise a folder: when
// split is not empty and path/split (or path/<folder name of a csv split: Training -> train,
// PublicTest -> val, PrivateTest -> test>) is a folder, that folder is loaded; otherwise path itself.
Dataset load_dataset(const std::string& path, const std::string& split, const LoadOptions& options,
                     LoadReport* report = nullptr);

// A random subset of `count` images (all of them when count >= size), keeping the original order,
// drawn from seed: for quick runs on part of a dataset.
Dataset random_subset(const Dataset& dataset, std::size_t count, std::uint64_t seed);

// The report as warning lines for a person: each skipped file with its reason, each ignored folder,
// and a count of skipped files in `what` ("training data").
std::vector<std::string> load_warnings(const LoadReport& report, const std::string& what);

}  // namespace fer

#include "fer/dataset.hpp"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "fer/image.hpp"
#include "fer/rng.hpp"
#include "fer/text.hpp"

namespace fer {

namespace fs = std::filesystem;

namespace {

constexpr int csv_image_side = 48;  // fer2013.csv stores 48x48 images: 2304 pixels per row

// A csv field without white space, and without quotes: spreadsheet exports sometimes quote every
// field, and fer2013 fields never contain commas or quotes.
std::string_view csv_field(std::string_view text) {
    text = trim(text);
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = trim(text.substr(1, text.size() - 2));
    return text;
}

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    for (;;) {
        const std::size_t comma = line.find(',', start);
        fields.push_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) return fields;
        start = comma + 1;
    }
}

bool is_image_extension(const fs::path& path) {
    const std::string extension = to_lower(path.extension().string());
    return extension == ".png" || extension == ".jpg" || extension == ".jpeg" || extension == ".bmp";
}

int resolve_load_threads(int threads) {
    return threads > 0 ? threads : omp_get_max_threads();
}

void validate_options(const LoadOptions& options, const std::string& what) {
    if (options.classes.empty()) throw std::invalid_argument(what + ": LoadOptions.classes is empty");
    if (options.height <= 0 || options.width <= 0)
        throw std::invalid_argument(what + ": LoadOptions image size must be positive, got " +
                                    std::to_string(options.width) + "x" + std::to_string(options.height));
}

// The csv's Usage names and the folder names of the FER2013 layout in /work/shared/data/fer2013.
struct SplitName {
    const char* usage;
    const char* folder;
};
constexpr SplitName split_names[] = {{"Training", "train"}, {"PublicTest", "val"}, {"PrivateTest", "test"}};

std::string csv_usage_for(const std::string& split) {
    for (const auto& name : split_names)
        if (split == name.folder) return name.usage;
    return split;
}

std::string folder_for(const std::string& split) {
    for (const auto& name : split_names)
        if (split == name.usage) return name.folder;
    return split;
}

struct LabelledFile {
    std::string path;
    int label;
};

}  // namespace

std::vector<std::size_t> Dataset::class_counts() const {
    std::vector<std::size_t> counts(classes.size(), 0);
    for (int label : labels)
        if (label >= 0 && std::size_t(label) < counts.size()) ++counts[std::size_t(label)];
    return counts;
}

Dataset load_image_folder(const std::string& root, const LoadOptions& options, LoadReport* report) {
    validate_options(options, root);
    std::error_code error;
    const fs::file_status status = fs::status(root, error);
    if (!fs::exists(status)) throw std::runtime_error(root + ": dataset folder does not exist");
    if (!fs::is_directory(status)) throw std::runtime_error(root + ": dataset path is not a folder");

    LoadReport local_report;
    LoadReport& issues = report ? *report : local_report;
    issues = {};

    std::vector<fs::path> top_level;
    for (const auto& entry : fs::directory_iterator(root))
        if (entry.is_directory()) top_level.push_back(entry.path());
    std::sort(top_level.begin(), top_level.end());

    std::vector<LabelledFile> files;
    for (const auto& folder : top_level) {
        const auto known = std::find(options.classes.begin(), options.classes.end(), folder.filename().string());
        if (known == options.classes.end()) {
            issues.ignored_folders.push_back(folder.string());
            continue;
        }
        const int label = int(known - options.classes.begin());
        std::vector<fs::path> nested;
        for (const auto& entry : fs::directory_iterator(folder)) {
            if (entry.is_directory()) {
                nested.push_back(entry.path());
            } else if (entry.is_regular_file() && is_image_extension(entry.path())) {
                files.push_back({entry.path().string(), label});
            }
        }
        std::sort(nested.begin(), nested.end());
        for (const auto& path : nested) issues.ignored_folders.push_back(path.string());
    }
    std::sort(files.begin(), files.end(), [](const LabelledFile& a, const LabelledFile& b) { return a.path < b.path; });

    std::string class_list;
    for (const auto& name : options.classes) class_list += (class_list.empty() ? "" : ", ") + name;
    if (files.empty())
        throw std::runtime_error(root + ": no images (png, jpg, jpeg, bmp) in any class folder (" + class_list + ")");

    Dataset dataset;
    dataset.height = options.height;
    dataset.width = options.width;
    dataset.classes = options.classes;
    const std::size_t image_size = dataset.image_size();
    const std::ptrdiff_t file_count = std::ptrdiff_t(files.size());
    dataset.pixels.resize(files.size() * image_size);
    std::vector<std::string> failures(files.size());
    std::vector<char> decoded(files.size(), 0);

    // Each file owns its slot, so the result does not depend on which thread decoded it; dynamic
    // scheduling only balances uneven file sizes and disk latency.
#pragma omp parallel for num_threads(resolve_load_threads(options.threads)) schedule(dynamic, 32)
    for (std::ptrdiff_t i = 0; i < file_count; ++i) {
        try {
            const GreyImage image = load_face_image(files[std::size_t(i)].path, options.width, options.height);
            std::copy(image.pixels.begin(), image.pixels.end(),
                      dataset.pixels.begin() + i * std::ptrdiff_t(image_size));
            decoded[std::size_t(i)] = 1;
        } catch (const ImageError& e) {
            failures[std::size_t(i)] = e.reason();
        } catch (const std::exception& e) {
            failures[std::size_t(i)] = e.what();
        }
    }

    std::size_t kept = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (!decoded[i]) {
            if (options.strict) throw ImageError(files[i].path, failures[i]);
            issues.skipped_files.push_back({files[i].path, failures[i]});
            continue;
        }
        if (kept != i) {
            const auto from = dataset.pixels.begin() + std::ptrdiff_t(i * image_size);
            std::copy(from, from + std::ptrdiff_t(image_size),
                      dataset.pixels.begin() + std::ptrdiff_t(kept * image_size));
        }
        dataset.labels.push_back(files[i].label);
        dataset.sources.push_back(std::move(files[i].path));
        ++kept;
    }
    dataset.pixels.resize(kept * image_size);
    if (kept == 0)
        throw std::runtime_error(root + ": none of the " + std::to_string(files.size()) +
                                 " image files could be decoded (first: " + issues.skipped_files.front().source + ": " +
                                 issues.skipped_files.front().reason + ")");
    return dataset;
}

Dataset load_fer2013_csv(const std::string& path, const std::string& split, const LoadOptions& options) {
    validate_options(options, path);
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error(path + ": cannot open csv file");
    return read_fer2013_csv(file, path, split, options);
}

Dataset read_fer2013_csv(std::istream& file, const std::string& path, const std::string& split,
                         const LoadOptions& options) {
    validate_options(options, path);
    std::string line;
    if (!std::getline(file, line))
        throw std::runtime_error(path + ": empty file, expected the header \"emotion,pixels,Usage\"");
    if (line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // UTF-8 byte order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string_view> header = split_fields(line);
    const auto column = [&](std::string_view name) {
        for (std::size_t i = 0; i < header.size(); ++i)
            if (to_lower(csv_field(header[i])) == to_lower(name)) return int(i);
        return -1;
    };
    const int emotion_column = column("emotion");
    const int pixels_column = column("pixels");
    const int usage_column = column("Usage");
    const std::string usage = csv_usage_for(split);
    if (emotion_column < 0) throw std::runtime_error(path + ":1: header has no 'emotion' column: " + line);
    if (pixels_column < 0) throw std::runtime_error(path + ":1: header has no 'pixels' column: " + line);
    if (usage_column < 0 && !usage.empty())
        throw std::runtime_error(path + ":1: header has no 'Usage' column, needed to select split '" + split +
                                 "': " + line);

    const bool resize = options.height != csv_image_side || options.width != csv_image_side;
    Dataset dataset;
    dataset.height = options.height;
    dataset.width = options.width;
    dataset.classes = options.classes;
    GreyImage row_image;
    row_image.width = row_image.height = csv_image_side;
    row_image.pixels.resize(std::size_t(csv_image_side) * csv_image_side);
    std::vector<std::string> usages_seen;

    for (std::size_t line_number = 2; std::getline(file, line); ++line_number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (csv_field(line).empty()) continue;
        const std::string where = path + ":" + std::to_string(line_number);
        const std::vector<std::string_view> fields = split_fields(line);
        if (fields.size() != header.size())
            throw std::runtime_error(where + ": expected " + std::to_string(header.size()) + " fields, found " +
                                     std::to_string(fields.size()));

        // Every row is validated, whichever split it belongs to: a damaged file is an error, not a filter.
        const std::string_view emotion = csv_field(fields[std::size_t(emotion_column)]);
        int label = -1;
        const auto [label_end, label_error] = std::from_chars(emotion.data(), emotion.data() + emotion.size(), label);
        if (label_error != std::errc() || label_end != emotion.data() + emotion.size())
            throw std::runtime_error(where + ": emotion '" + std::string(emotion) + "' is not an integer");
        if (label < 0 || std::size_t(label) >= options.classes.size())
            throw std::runtime_error(where + ": emotion " + std::to_string(label) + " is not a label in [0, " +
                                     std::to_string(options.classes.size()) + ")");

        const std::string_view pixels = csv_field(fields[std::size_t(pixels_column)]);
        std::size_t count = 0;
        const char* cursor = pixels.data();
        const char* const end = pixels.data() + pixels.size();
        while (cursor != end) {
            if (std::isspace(static_cast<unsigned char>(*cursor))) {
                ++cursor;
                continue;
            }
            const char* token_end = cursor;
            while (token_end != end && !std::isspace(static_cast<unsigned char>(*token_end))) ++token_end;
            unsigned value = 0;
            const auto [value_end, value_error] = std::from_chars(cursor, token_end, value);
            if (value_error == std::errc::result_out_of_range || (value_error == std::errc() && value > 255))
                throw std::runtime_error(where + ": pixel " + std::to_string(count) + " is " +
                                         std::string(cursor, token_end) + ", above 255");
            if (value_error != std::errc() || value_end != token_end)
                throw std::runtime_error(where + ": pixel " + std::to_string(count) + " is not a number: '" +
                                         std::string(cursor, token_end) + "'");
            if (count < row_image.pixels.size()) row_image.pixels[count] = std::uint8_t(value);
            ++count;
            cursor = token_end;
        }
        if (count != row_image.pixels.size())
            throw std::runtime_error(where + ": expected " + std::to_string(row_image.pixels.size()) +
                                     " pixels (48x48), found " + std::to_string(count));

        if (usage_column >= 0) {
            const std::string_view row_usage = csv_field(fields[std::size_t(usage_column)]);
            if (std::find(usages_seen.begin(), usages_seen.end(), row_usage) == usages_seen.end())
                usages_seen.emplace_back(row_usage);
            if (!usage.empty() && row_usage != usage) continue;
        }
        if (resize) {
            const GreyImage resized = resize_area(row_image, options.width, options.height);
            dataset.pixels.insert(dataset.pixels.end(), resized.pixels.begin(), resized.pixels.end());
        } else {
            dataset.pixels.insert(dataset.pixels.end(), row_image.pixels.begin(), row_image.pixels.end());
        }
        dataset.labels.push_back(label);
        dataset.sources.push_back(where);
    }
    if (file.bad()) throw std::runtime_error(path + ": read error");

    if (dataset.size() == 0) {
        std::string seen;
        for (const auto& name : usages_seen) seen += (seen.empty() ? "" : ", ") + name;
        if (usage.empty()) throw std::runtime_error(path + ": no data rows after the header");
        throw std::runtime_error(path + ": no rows with Usage '" + usage +
                                 "' (the file has: " + (seen.empty() ? std::string("no rows") : seen) + ")");
    }
    return dataset;
}

Dataset load_dataset(const std::string& path, const std::string& split, const LoadOptions& options,
                     LoadReport* report) {
    if (to_lower(fs::path(path).extension().string()) == ".csv") {
        if (split.empty())
            throw std::invalid_argument(path + ": a csv dataset needs a split (Training, PublicTest or PrivateTest)");
        if (report) *report = {};
        return load_fer2013_csv(path, split, options);
    }
    if (!split.empty()) {
        std::error_code error;
        for (const std::string& folder : {split, folder_for(split)}) {
            const fs::path candidate = fs::path(path) / folder;
            if (fs::is_directory(candidate, error)) return load_image_folder(candidate.string(), options, report);
        }
    }
    return load_image_folder(path, options, report);
}

Dataset random_subset(const Dataset& dataset, std::size_t count, std::uint64_t seed) {
    if (count >= dataset.size()) return dataset;
    std::vector<std::size_t> order(dataset.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    Rng rng(seed);
    for (std::size_t i = 0; i < count; ++i) std::swap(order[i], order[i + rng.below(order.size() - i)]);
    order.resize(count);
    std::sort(order.begin(), order.end());
    Dataset subset;
    subset.height = dataset.height, subset.width = dataset.width;
    subset.classes = dataset.classes;
    subset.pixels.reserve(count * dataset.image_size());
    for (std::size_t i : order) {
        subset.pixels.insert(subset.pixels.end(), dataset.image(i), dataset.image(i) + dataset.image_size());
        subset.labels.push_back(dataset.labels[i]);
        subset.sources.push_back(dataset.sources[i]);
    }
    return subset;
}

std::vector<std::string> load_warnings(const LoadReport& report, const std::string& what) {
    std::vector<std::string> lines;
    for (const auto& issue : report.skipped_files) lines.push_back("skipped " + issue.source + ": " + issue.reason);
    for (const auto& folder : report.ignored_folders) lines.push_back("ignored folder " + folder + " (not a class)");
    if (!report.skipped_files.empty())
        lines.push_back(std::to_string(report.skipped_files.size()) + " unreadable files skipped in " + what);
    return lines;
}

}  // namespace fer

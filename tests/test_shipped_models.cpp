// Keeps docs/results.md true: every model (or ensemble, or ensemble file) in its shipped-models table is evaluated on
// the FER2013 test split (PrivateTest) and must reproduce the stated accuracy to 0.1 percentage point.
// Skips, saying why, where ../shared/data/fer2013 is absent.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fer/atomic_file.hpp"
#include "fer/dataset.hpp"
#include "fer/ensemble.hpp"
#include "fer/evaluate.hpp"
#include "fer/model_file.hpp"

namespace fer {
namespace {

struct ShippedRow {
    std::string name;
    std::vector<std::string> files;  // one file, or the members of a soft-voting ensemble
    bool tta = false;
    double accuracy_percent = 0;
};

std::string trim(const std::string& text) {
    std::size_t begin = text.find_first_not_of(" \t`"), end = text.find_last_not_of(" \t`");
    return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

// Rows of the table between the shipped-models markers: | name | files (space separated) | tta | accuracy |
std::vector<ShippedRow> shipped_rows(const std::string& markdown) {
    std::size_t begin = markdown.find("<!-- shipped-models:begin -->");
    std::size_t end = markdown.find("<!-- shipped-models:end -->");
    REQUIRE_MESSAGE(begin != std::string::npos, "docs/results.md has no shipped-models table");
    REQUIRE(end > begin);
    std::istringstream lines(markdown.substr(begin, end - begin));
    std::vector<ShippedRow> rows;
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.starts_with("|") || line.starts_with("|---") || line.find("test accuracy") != std::string::npos)
            continue;
        std::vector<std::string> cells;
        std::istringstream fields(line.substr(1));
        std::string cell;
        while (std::getline(fields, cell, '|')) cells.push_back(trim(cell));
        REQUIRE_MESSAGE(cells.size() >= 4, "malformed row: " << line);
        ShippedRow row;
        row.name = cells[0];
        std::istringstream files(cells[1]);
        for (std::string file; files >> file;) row.files.push_back(file);
        row.tta = cells[2] == "yes";
        row.accuracy_percent = std::stod(cells[3]);
        rows.push_back(row);
    }
    return rows;
}

}  // namespace

TEST_CASE("the shipped models reach the test accuracy docs/results.md states") {
    const std::string root = FER_SOURCE_DIR;
    std::vector<ShippedRow> rows = shipped_rows(read_file(root + "/docs/results.md"));
    // Every model file shipped (class-weighted ones in a subfolder included) must have a row.
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root + "/data/models")) {
        if (entry.path().extension() != ".fer") continue;
        const std::string relative = std::filesystem::relative(entry.path(), root).string();
        bool listed = false;
        for (const ShippedRow& row : rows)
            listed = listed || std::find(row.files.begin(), row.files.end(), relative) != row.files.end();
        CHECK_MESSAGE(listed, relative << " is shipped but docs/results.md's table does not list it");
    }
    const std::string test_split = root + "/../shared/data/fer2013/test";
    if (!std::filesystem::is_directory(test_split)) {
        MESSAGE("skipped: FER2013 is not at " << test_split << ", so the shipped models cannot be evaluated");
        return;
    }
    if (rows.empty()) MESSAGE("docs/results.md lists no shipped models yet");
    LoadOptions options;
    options.threads = 0;
    const Dataset test = load_image_folder(test_split, options);
    REQUIRE(test.size() == 3589);
    // Each model's probabilities are computed once per tta setting and reused by every row it is in: a row
    // of plain files is their equal-weight mean, which is what predict_probabilities computes for them.
    std::map<std::pair<std::string, bool>, std::vector<float>> probabilities_of;
    auto model_probabilities = [&](const std::string& path, bool tta) -> const std::vector<float>& {
        auto found = probabilities_of.find({path, tta});
        if (found != probabilities_of.end()) return found->second;
        LoadedModel model = load_model(path);
        Network* network[] = {&model.network};
        PredictOptions predict;
        predict.tta = tta;
        return probabilities_of[{path, tta}] = predict_probabilities(network, {}, test, predict);
    };
    for (const ShippedRow& row : rows) {
        std::vector<float> probabilities;
        if (row.files.size() == 1 && row.files[0].ends_with(".txt")) {
            // A row naming an ensemble file (data/models/ensemble.txt) evaluates its members with its weights,
            // the way the tools do.
            const EnsembleSpec spec = read_ensemble_file(root + "/" + row.files[0]);
            CHECK_MESSAGE(spec.tta == row.tta, row.name << ": the tta column disagrees with " << row.files[0]);
            std::vector<LoadedModel> models;
            std::vector<Network*> networks;
            for (const auto& path : spec.model_paths) models.push_back(load_model(path));
            for (auto& m : models) networks.push_back(&m.network);
            PredictOptions predict;
            predict.tta = spec.tta;
            probabilities = predict_probabilities(networks, spec.weights, test, predict);
        } else {
            const float share = 1.0f / float(row.files.size());
            for (const auto& file : row.files) {
                const std::vector<float>& member = model_probabilities(root + "/" + file, row.tta);
                if (probabilities.empty()) probabilities.assign(member.size(), 0.0f);
                for (std::size_t i = 0; i < member.size(); ++i) probabilities[i] += share * member[i];
            }
        }
        Evaluation e = evaluate_probabilities(probabilities, test);
        double measured = 100.0 * e.matrix.accuracy();
        INFO(row.name << ": measured " << measured << " %, docs/results.md says " << row.accuracy_percent << " %");
        CHECK(std::abs(measured - row.accuracy_percent) <= 0.1);
    }
}

}  // namespace fer

// data/models/ensemble.txt: members, weights and mirroring read from the file, every mistake named by
// file and line, and the fallback to every model file in the folder.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fer/ensemble.hpp"
#include "temp_dir.hpp"

using namespace fer;

namespace {

void write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

std::string error_of(const std::string& path) {
    try {
        read_ensemble_file(path);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("an ensemble file gives members relative to itself, weights and mirroring") {
    TempDir dir("ensemble");
    std::filesystem::create_directories(dir.path / "sub");
    write(dir.path / "a.fer", "x");
    write(dir.path / "sub" / "b.fer", "x");
    write(dir.path / "ensemble.txt", "# comment\n\ntta\n6 a.fer   # the strong one\n0.5 sub/b.fer\n");
    const EnsembleSpec spec = read_ensemble_file((dir.path / "ensemble.txt").string());
    REQUIRE(spec.model_paths.size() == 2);
    CHECK(spec.model_paths[0] == (dir.path / "a.fer").string());
    CHECK(spec.model_paths[1] == (dir.path / "sub" / "b.fer").string());
    CHECK(spec.weights == std::vector<float>{6.0f, 0.5f});
    CHECK(spec.tta);
    // default_ensemble prefers the file over the folder's models.
    CHECK(default_ensemble(dir.path.string()).model_paths == spec.model_paths);
}

TEST_CASE("without an ensemble file the default is every model file, equal weights, no mirroring") {
    TempDir dir("ensemble_none");
    write(dir.path / "b.fer", "x");
    write(dir.path / "a.fer", "x");
    write(dir.path / "notes.txt", "x");
    const EnsembleSpec spec = default_ensemble(dir.path.string());
    CHECK(spec.model_paths == std::vector<std::string>{(dir.path / "a.fer").string(), (dir.path / "b.fer").string()});
    CHECK(spec.weights.empty());
    CHECK_FALSE(spec.tta);
    CHECK(default_ensemble((dir.path / "missing").string()).model_paths.empty());
}

TEST_CASE("a bad ensemble file is an error naming the file and line") {
    TempDir dir("ensemble_bad");
    write(dir.path / "a.fer", "x");
    const std::string path = (dir.path / "ensemble.txt").string();
    auto check = [&](const std::string& text, const std::string& expected) {
        write(path, text);
        const std::string message = error_of(path);
        INFO(text << " -> " << message);
        CHECK(message.find(expected) != std::string::npos);
    };
    check("1 a.fer\nmirror\n", path + ":2: expected 'tta' or 'WEIGHT MODEL-FILE', got 'mirror'");
    check("-1 a.fer\n", path + ":1: the weight must be a positive number, got -1");
    check("0 a.fer\n", path + ":1: the weight must be a positive number");
    check("nan a.fer\n", path + ":1: the weight must be a positive number");
    check("2\n", path + ":1: a weight without a model file");
    check("2 a.fer b.fer\n", path + ":1: unexpected 'b.fer'");
    check("2 gone.fer\n", path + ":1: model file " + (dir.path / "gone.fer").string() + " does not exist");
    check("tta yes\n1 a.fer\n", path + ":1: 'tta' takes nothing after it");
    check("# nothing\ntta\n", path + ": the ensemble names no model");
    CHECK(error_of((dir.path / "absent.txt").string()).find("cannot open") != std::string::npos);
}

TEST_CASE("a tool's --model and --weights: default, one ensemble file, or model files with their weights") {
    TempDir dir("ensemble_arguments");
    write(dir.path / "a.fer", "x");
    write(dir.path / "b.fer", "x");
    write(dir.path / "pair.txt", "tta\n3 a.fer\n1 b.fer\n");
    const std::string a = (dir.path / "a.fer").string(), b = (dir.path / "b.fer").string();
    const std::string pair = (dir.path / "pair.txt").string();

    const EnsembleSpec by_default = ensemble_from_arguments({}, {}, dir.path.string());
    CHECK(by_default.model_paths == std::vector<std::string>{a, b});
    CHECK(by_default.source == dir.path.string());

    const EnsembleSpec from_file = ensemble_from_arguments({pair}, {}, "unused");
    CHECK(from_file.model_paths == std::vector<std::string>{a, b});
    CHECK(from_file.weights == std::vector<float>{3.0f, 1.0f});
    CHECK(from_file.tta);
    CHECK(from_file.source == pair);

    const EnsembleSpec explicit_models = ensemble_from_arguments({b, a}, {1.0f, 2.0f}, "unused");
    CHECK(explicit_models.model_paths == std::vector<std::string>{b, a});
    CHECK(explicit_models.weights == std::vector<float>{1.0f, 2.0f});
    CHECK_FALSE(explicit_models.tta);
    CHECK(explicit_models.source.empty());

    auto error = [](const std::vector<std::string>& models, const std::vector<float>& weights) -> std::string {
        try {
            ensemble_from_arguments(models, weights, "unused");
        } catch (const std::invalid_argument& e) {
            return e.what();
        }
        return "";
    };
    CHECK(error({pair, a}, {}).find("--model " + pair + ": an ensemble file must be the only --model") !=
          std::string::npos);
    CHECK(error({pair}, {1.0f}).find("an ensemble file sets its own weights") != std::string::npos);
    CHECK(error({}, {1.0f}).find("--weights needs --model files") != std::string::npos);
    CHECK(error({a, b}, {1.0f}).find("1 --weights for 2 --model files") != std::string::npos);
}

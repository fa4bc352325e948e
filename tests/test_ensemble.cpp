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

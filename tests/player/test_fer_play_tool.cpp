// Runs the built fer-play binary: bad input must give one "fer-play: error: ..." line and a non-zero exit.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/model_file.hpp"
#include "player_test_support.hpp"
#include "temp_dir.hpp"

#ifndef FER_PLAY_BINARY
#define FER_PLAY_BINARY FER_BINARY_DIR "/fer-play"
#endif

using namespace fer::player::testing;

namespace {

struct Run {
    int status = -1;
    std::string output;  // stdout and stderr together
};

// From the source folder, so that the default data/mood-map.conf and data/demo/music are found.
Run run_fer_play(const std::string& arguments) {
    const std::string command =
        "cd '" + std::string(FER_SOURCE_DIR) + "' && '" + FER_PLAY_BINARY + "' " + arguments + " 2>&1";
    Run run;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) run.output.append(buffer, n);
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

void check_one_line_error(const Run& run, const std::string& expected_part) {
    CHECK(run.status != 0);
    CHECK(run.status != -1);
    CHECK_MESSAGE(run.output.rfind("fer-play: error: ", 0) == 0, run.output);
    CHECK_MESSAGE(run.output.find(expected_part) != std::string::npos, run.output);
    CHECK_MESSAGE(run.output.find('\n') == run.output.size() - 1, run.output);
}

}  // namespace

TEST_CASE("fer-play: bad input gives a one-line error and a non-zero exit, never a crash") {
    if (!std::filesystem::exists(FER_PLAY_BINARY)) {
        MESSAGE("skipped: " << FER_PLAY_BINARY << " is not built");
        return;
    }
    fer::TempDir dir;
    const std::string model = dir.file("tiny.fer");
    fer::save_model(model, tiny_network(1));
    const std::string with_model = "--model '" + model + "' ";
    std::ofstream(dir.file("junk.fer")) << "not a model";
    std::filesystem::create_directories(dir.path / "empty");

    check_one_line_error(run_fer_play(with_model + "--headless"), "[--camera,--video,--images]");
    check_one_line_error(run_fer_play(with_model + "--video /nonexistent/clip.avi --headless"),
                         "video /nonexistent/clip.avi: no such file");
    check_one_line_error(run_fer_play(with_model + "--camera /dev/video99 --headless"),
                         "cannot open camera /dev/video99");
    check_one_line_error(
        run_fer_play(with_model + "--video data/demo/clip.avi --music '" + dir.file("empty") + "' --headless"),
        "music folder " + dir.file("empty") + ": no playable");
    check_one_line_error(run_fer_play(with_model + "--video data/demo/clip.avi --music /nonexistent/music --headless"),
                         "music folder /nonexistent/music: no such folder");
    check_one_line_error(run_fer_play("--model '" + dir.file("junk.fer") + "' --video data/demo/clip.avi --headless"),
                         dir.file("junk.fer"));
    check_one_line_error(
        run_fer_play(with_model + "--video data/demo/clip.avi --mood-map /nonexistent.conf --headless"),
        "mood map /nonexistent.conf: cannot be read");
    check_one_line_error(run_fer_play(with_model + "--video data/demo/clip.avi --frames 0 --headless"), "--frames");
    check_one_line_error(run_fer_play(with_model + "--video data/demo/clip.avi --cascade /nonexistent.xml --headless"),
                         "face cascade /nonexistent.xml: no such file");
}

TEST_CASE("fer-play --version, and --headless --once over the demo clip prints one JSON decision") {
    if (!std::filesystem::exists(FER_PLAY_BINARY)) {
        MESSAGE("skipped: " << FER_PLAY_BINARY << " is not built");
        return;
    }
    const Run version = run_fer_play("--version");
    CHECK(version.status == 0);
    CHECK(version.output.rfind("fer-play ", 0) == 0);

    fer::TempDir dir;
    const std::string model = dir.file("tiny.fer");
    fer::save_model(model, tiny_network(1));
    const Run run =
        run_fer_play("--model '" + model + "' --video data/demo/clip.avi --headless --once --seed 3 --threads 1");
    CHECK(run.status == 0);
    const auto line = nlohmann::json::parse(run.output);
    CHECK(line["event"] == "decision");
    CHECK(line["faces"] == 10);
    CHECK(line["probabilities"].size() == 7);
    CHECK(line["track"]["path"].get<std::string>().rfind("data/demo/music/", 0) == 0);
}

// The command-line tools as a user runs them: help and version, a short training and evaluation,
// and one-line errors with a non-zero exit for bad input.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "fer/atomic_file.hpp"
#include "fer/model_file.hpp"
#include "fer/model_zoo.hpp"
#include "fer/synthetic_data.hpp"
#include "temp_dir.hpp"
#include "tiny_architecture.hpp"

namespace fer {
namespace {

struct Run {
    int exit_code;
    std::string output;  // stdout and stderr together
};

Run run_tool(const std::string& tool, const std::string& arguments) {
    std::string command = std::string(FER_BINARY_DIR) + "/" + tool + " " + arguments + " 2>&1";
    Run run{-1, ""};
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), n);
    int status = ::pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

// The number of lines a message takes, ignoring a trailing newline.
std::size_t lines(const std::string& text) {
    std::size_t count = 0;
    for (char ch : text) count += ch == '\n';
    return text.empty() || text.back() == '\n' ? count : count + 1;
}

long sum_of_confusion(const std::string& json) {
    std::smatch match;
    REQUIRE(std::regex_search(json, match, std::regex("\"confusion\":\\[(\\[[0-9,\\[\\]]*\\])\\]")));
    long total = 0;
    std::string numbers = match[1];
    std::regex number("[0-9]+");
    for (auto it = std::sregex_iterator(numbers.begin(), numbers.end(), number); it != std::sregex_iterator(); ++it)
        total += std::stol(it->str());
    return total;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("every tool has --help and --version") {
    for (const char* tool : {"fer-train", "fer-eval", "fer-synth"}) {
        Run help = run_tool(tool, "--help");
        CHECK_MESSAGE(help.exit_code == 0, tool);
        CHECK_MESSAGE(help.output.find("--") != std::string::npos, tool);
        Run version = run_tool(tool, "--version");
        CHECK_MESSAGE(version.exit_code == 0, tool);
        CHECK_MESSAGE(version.output.find(FER_VERSION) != std::string::npos, tool);
    }
}

TEST_CASE("fer-train then fer-eval on a small generated dataset") {
    TempDir dir;
    REQUIRE(run_tool("fer-synth", "--out " + dir.file("data") + " --per-class 12").exit_code == 0);
    // A corrupt image and a stray folder in the training data: reported, skipped, counted.
    std::ofstream(dir.file("data/train/happy/broken.png")) << "not a png";
    std::filesystem::create_directories(dir.file("data/train/unknown_class"));

    Run train = run_tool("fer-train", "--arch gap --data " + dir.file("data") +
                                          " --epochs 2 --batch 16 --threads 2 --out " + dir.file("m.fer") + " --quiet");
    INFO(train.output);
    REQUIRE(train.exit_code == 0);
    CHECK(train.output.find("broken.png") != std::string::npos);
    CHECK(train.output.find("1 unreadable files skipped") != std::string::npos);
    CHECK(train.output.find("unknown_class") != std::string::npos);
    CHECK(train.output.find("Trainable params: 641,463") != std::string::npos);
    CHECK(train.output.find("epoch 2") != std::string::npos);
    CHECK(std::filesystem::exists(dir.file("m.fer")));
    CHECK(std::filesystem::exists(dir.file("m.metrics.csv")));
    CHECK(std::filesystem::exists(dir.file("m.curves.svg")));

    // Batch-norm calibration: the same parameters, new statistics, the accuracies reported.
    Run calibrate = run_tool("fer-train", "--calibrate-bn --init " + dir.file("m.fer") + " --data " + dir.file("data") +
                                              " --batch 8 --threads 2 --out " + dir.file("calibrated.fer"));
    INFO(calibrate.output);
    REQUIRE(calibrate.exit_code == 0);
    CHECK(calibrate.output.find("validation accuracy before: ") != std::string::npos);
    CHECK(calibrate.output.find("validation accuracy after: ") != std::string::npos);
    {
        const LoadedModel trained = load_model(dir.file("m.fer"));
        const LoadedModel calibrated = load_model(dir.file("calibrated.fer"));
        CHECK(std::ranges::equal(calibrated.network.params(), trained.network.params()));
        CHECK_FALSE(std::ranges::equal(calibrated.network.state(), trained.network.state()));
        CHECK(calibrated.metadata.created_by == "fer-train --calibrate-bn");
    }

    Run eval = run_tool("fer-eval", "--model " + dir.file("m.fer") + " --data " + dir.file("data") +
                                        " --split test --json " + dir.file("r.json") + " --plot " + dir.file("c.svg"));
    INFO(eval.output);
    REQUIRE(eval.exit_code == 0);
    for (const char* part : {"accuracy", "macro-F1", "precision", "recall", "confusion matrix, counts",
                             "% of each true class", "angry", "neutral"})
        CHECK_MESSAGE(eval.output.find(part) != std::string::npos, part);
    std::string json = slurp(dir.file("r.json"));
    CHECK(sum_of_confusion(json) == 7 * 3);  // fer-synth writes a quarter as many test images: 3 per class
    CHECK(slurp(dir.file("c.svg")).starts_with("<svg"));

    Run ensemble = run_tool("fer-eval", "--model " + dir.file("m.fer") + " --model " + dir.file("m.fer") +
                                            " --weights 1 3 --tta --data " + dir.file("data/test"));
    CHECK(ensemble.exit_code == 0);
    // The same ensemble as a file: the same members, weights and mirroring, so the same report.
    std::ofstream(dir.file("pair.txt")) << "tta\n1 m.fer\n3 m.fer\n";
    Run from_file = run_tool("fer-eval", "--model " + dir.file("pair.txt") + " --data " + dir.file("data/test"));
    INFO(from_file.output);
    CHECK(from_file.exit_code == 0);
    const auto accuracy_line = [](const std::string& output) {
        const std::size_t at = output.find("accuracy");
        return at == std::string::npos ? std::string() : output.substr(at, output.find('\n', at) - at);
    };
    CHECK_FALSE(accuracy_line(ensemble.output).empty());
    CHECK(accuracy_line(from_file.output) == accuracy_line(ensemble.output));

    Run image =
        run_tool("fer-eval", "--model " + dir.file("m.fer") + " --image " + dir.file("data/test/sad/00000.png"));
    INFO(image.output);
    CHECK(image.exit_code == 0);
    CHECK(image.output.find("prediction: ") != std::string::npos);
    CHECK(lines(image.output) == 8);
}

TEST_CASE("bad input gives a one-line reason and a non-zero exit") {
    TempDir dir;
    REQUIRE(run_tool("fer-synth", "--out " + dir.file("data") + " --per-class 4").exit_code == 0);
    std::ofstream(dir.file("not-a-model.fer")) << "hello";

    struct Case {
        const char* tool;
        std::string arguments;
        const char* message;
    };
    const Case cases[] = {
        {"fer-train", "--data " + dir.file("missing") + " --out " + dir.file("m.fer"), "missing"},
        {"fer-train", "--data " + dir.file("data/train") + " --out " + dir.file("m.fer"),
         "validation data is the training data"},
        {"fer-train", "--arch nonsense --data " + dir.file("data") + " --out " + dir.file("m.fer"), "five_layer"},
        {"fer-train", "--data " + dir.file("data") + " --out " + dir.file("no/folder/m.fer"), "does not exist"},
        {"fer-train", "--data " + dir.file("data") + " --class-weights heavy --out " + dir.file("m.fer"), "heavy"},
        {"fer-train", "--data " + dir.file("data") + " --optimizer rmsprop --out " + dir.file("m.fer"), "rmsprop"},
        {"fer-train",
         "--data " + dir.file("data") + " --teacher " + dir.file("not-a-model.fer") + " --out " + dir.file("m.fer"),
         "not-a-model.fer:1: the header is not 'source,label,angry,"},
        {"fer-train",
         "--calibrate-bn --init " + dir.file("not-a-model.fer") + " --data " + dir.file("data") + " --out " +
             dir.file("m.fer"),
         "not a fer model file"},
        {"fer-eval", "--model " + dir.file("not-a-model.fer") + " --data " + dir.file("data"), "not a fer model file"},
        {"fer-eval", "--model " + dir.file("nothing.fer") + " --data " + dir.file("data"), "nothing.fer"},
        {"fer-eval", "--model " + dir.file("x.fer") + " --data " + dir.file("data") + " --plot a.png", ".svg"},
        {"fer-eval",
         "--model " + dir.file("x.fer") + " --model " + dir.file("y.fer") + " --weights 1 --data " + dir.file("data"),
         "1 --weights for 2 --model files"},
        {"fer-eval", "--model " + dir.file("absent.txt") + " --data " + dir.file("data"), "absent.txt: cannot open"},
    };
    for (const Case& c : cases) {
        Run run = run_tool(c.tool, c.arguments);
        INFO(c.tool << " " << c.arguments << "\n" << run.output);
        CHECK(run.exit_code != 0);
        CHECK(run.output.find(c.message) != std::string::npos);
        CHECK(run.output.find("error") != std::string::npos);
        // The reason is the last line, alone: earlier lines may only be the data loader's warnings.
        std::string last = run.output.substr(run.output.rfind('\n', run.output.size() - 2) + 1);
        CHECK(last.find(c.message) != std::string::npos);
    }
}

}  // namespace fer

namespace fer {

TEST_CASE("Ctrl-C makes fer-train save a checkpoint and exit; --resume finishes the run") {
    TempDir dir;
    REQUIRE(run_tool("fer-synth", "--out " + dir.file("data") + " --per-class 16").exit_code == 0);
    write_file_atomically(dir.file("tiny.arch"), std::string(kTinyArchitecture));
    const std::string arguments = "--arch " + dir.file("tiny.arch") + " --data " + dir.file("data") +
                                  " --epochs 40 --batch 16 --threads 1 --quiet --out " + dir.file("m.fer");
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::string command = "exec ";
        command += FER_BINARY_DIR;
        command += "/fer-train " + arguments + " > " + dir.file("log") + " 2>&1";
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Wait until the first epoch is done (its metrics row exists), then interrupt mid-run.
    for (int i = 0; i < 600 && !std::filesystem::exists(dir.file("m.metrics.csv")); ++i) ::usleep(50000);
    REQUIRE(std::filesystem::exists(dir.file("m.metrics.csv")));
    ::kill(child, SIGINT);
    int status = 0;
    ::waitpid(child, &status, 0);
    std::string log = slurp(dir.file("log"));
    INFO(log);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 130);
    CHECK(log.find("checkpoint saved") != std::string::npos);
    REQUIRE(std::filesystem::exists(dir.file("m.fer.ckpt")));

    Run resumed = run_tool("fer-train", arguments + " --resume " + dir.file("m.fer.ckpt"));
    INFO(resumed.output);
    CHECK(resumed.exit_code == 0);
    CHECK(resumed.output.find("resuming") != std::string::npos);
    CHECK(resumed.output.find("epoch 40") != std::string::npos);
}

}  // namespace fer

namespace fer {

TEST_CASE("fer-bench: a quick latency cell with its per-step breakdown, as JSON") {
    TempDir dir;
    const Run run = run_tool("fer-bench",
                             "--quick --models five_layer --threads 1 --cells latency --latency-layers "
                             "--json " +
                                 dir.file("bench.json"));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(run.output.find("five_layer per step: batch-1 eval forward") != std::string::npos);
    CHECK(run.output.find("conv2d+batchnorm+relu") != std::string::npos);  // the fused steps, as they run
    const std::string json = slurp(dir.file("bench.json"));
    CHECK(json.find("\"latency_ms_b1_median\"") != std::string::npos);
    CHECK(json.find("\"latency_steps\"") != std::string::npos);
    CHECK(json.find("\"dense+batchnorm+relu\"") != std::string::npos);
    CHECK(json.find("\"winograd\":true") != std::string::npos);
    CHECK(run_tool("fer-bench", "--models no_such_model --quick --cells latency").exit_code != 0);
}

}  // namespace fer

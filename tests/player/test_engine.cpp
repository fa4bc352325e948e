#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fer/dataset.hpp"
#include "fer/evaluate.hpp"
#include "fer/model_file.hpp"
#include "fer/player/emotion_decider.hpp"
#include "fer/player/headless.hpp"
#include "fer/player/local_engine.hpp"
#include "player_test_support.hpp"
#include "temp_dir.hpp"

using namespace fer::player;
using namespace fer::player::testing;

namespace {

std::vector<fer::Network> one_tiny_network(std::uint64_t seed = 3) {
    std::vector<fer::Network> networks;
    networks.push_back(tiny_network(seed));
    return networks;
}

LocalEngine demo_engine(std::vector<fer::Network> networks, const DecisionOptions& options, bool loop = true) {
    SourceOptions source_options;
    source_options.loop = loop;
    return LocalEngine(open_video(demo_clip(), source_options), FaceDetector{},
                       EmotionDecider(std::move(networks), options), MusicLibrary::scan(demo_music()),
                       MoodMap::load(source_path("data/mood-map.conf")), 11);
}

struct ClipSegment {
    std::uint64_t first, last;
    std::string emotion;
};

std::vector<ClipSegment> read_clip_listing() {
    std::ifstream in(source_path("data/demo/clip.txt"));
    std::vector<ClipSegment> segments;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        ClipSegment segment;
        fields >> segment.first >> segment.last >> segment.emotion;
        segments.push_back(segment);
    }
    return segments;
}

// An engine that replays canned decisions, for the headless loop.
class CannedEngine : public Engine {
public:
    explicit CannedEngine(std::vector<Decision> decisions) : decisions_(std::move(decisions)) {}
    const std::vector<Track>& tracks() const override { return tracks_; }
    Decision look() override {
        if (next_ == decisions_.size()) throw EndOfStream("canned: end of stream");
        return decisions_[next_++];
    }
    std::size_t looks() const { return next_; }

private:
    std::vector<Decision> decisions_;
    std::vector<Track> tracks_;
    std::size_t next_ = 0;
};

Decision happy_decision(const std::string& path) {
    Decision d;
    d.time = "2026-11-24T21:41:29Z";
    d.event = "decision";
    d.emotion = "happy";
    d.confidence = 0.81234;
    d.classes = {"angry", "happy"};
    d.probabilities = {0.18766f, 0.81234f};
    d.faces = 10;
    Track track;
    track.id = 3;
    track.title = "Sunny";
    track.genre = "pop";
    track.path = path;
    d.track = track;
    return d;
}

}  // namespace

TEST_CASE("classify batches the crops and averages the per-face probabilities") {
    fer::Network reference = tiny_network(5);
    EmotionDecider decider(one_tiny_network(5), DecisionOptions{});
    std::vector<fer::GreyImage> faces;
    for (int f = 0; f < 3; ++f) {
        fer::GreyImage face{48, 48, std::vector<std::uint8_t>(48 * 48)};
        for (std::size_t i = 0; i < face.pixels.size(); ++i) face.pixels[i] = std::uint8_t((i * (7 + f)) % 256);
        faces.push_back(face);
    }
    const EmotionEstimate estimate = decider.classify(faces);
    // Reference: one face at a time through Network::forward, normalised with the model's InputSpec.
    std::vector<double> mean(7, 0.0);
    const fer::Context ctx = fer::Context::eval({1});
    for (const auto& face : faces) {
        fer::Tensor input(fer::Shape{1, 1, 48, 48});
        for (std::size_t i = 0; i < face.pixels.size(); ++i) input[i] = reference.input().normalize(face.pixels[i]);
        const fer::Tensor& out = reference.forward(input, ctx);
        for (std::size_t c = 0; c < 7; ++c) mean[c] += out[c] / 3.0;
    }
    REQUIRE(estimate.probabilities.size() == 7);
    std::size_t best = 0;
    for (std::size_t c = 0; c < 7; ++c) {
        CHECK(estimate.probabilities[c] == doctest::Approx(mean[c]).epsilon(1e-5));
        if (mean[c] > mean[best]) best = c;
    }
    CHECK(estimate.emotion == decider.classes()[best]);
    CHECK(estimate.confidence == doctest::Approx(mean[best]).epsilon(1e-5));
    CHECK(estimate.faces == 3);
    CHECK(error_message([&] { decider.classify({}); }) == "emotion decider: no faces to classify");
}

TEST_CASE("the decider checks its models and options") {
    CHECK(error_message([] { EmotionDecider({}, DecisionOptions{}); }) == "emotion decider: no model given");
    CHECK(error_message([] { EmotionDecider(one_tiny_network(), DecisionOptions{0}); }) ==
          "emotion decider: --frames must be >= 1");
    std::vector<fer::Network> mixed;
    mixed.push_back(tiny_network(1));
    fer::Architecture arch = fer::parse_architecture(
        "input channels=1 height=48 width=48\nflatten\ndense units=2 bias=true\nsoftmax\n", "two.arch");
    mixed.emplace_back(std::move(arch.layers), fer::InputSpec{}, std::vector<std::string>{"a", "b"});
    CHECK(error_message([&] { EmotionDecider(std::move(mixed), DecisionOptions{}); }) ==
          "emotion decider: ensemble members have different class lists");
    DecisionOptions options;
    options.frames = 10;
    EmotionDecider decider(one_tiny_network(), options);
    CHECK(decider.options().min_faces == 5);
}

TEST_CASE("no face before the timeout is a no_face event that keeps the mood; a finite source ends") {
    DecisionOptions options;
    options.timeout_seconds = 0.3;
    SUBCASE("timeout") {
        LocalEngine engine(std::make_unique<ScriptedSource>(std::vector<cv::Mat>{}, true), FaceDetector{},
                           EmotionDecider(one_tiny_network(), options), MusicLibrary::scan(demo_music()),
                           MoodMap::load(source_path("data/mood-map.conf")), 1);
        const auto start = std::chrono::steady_clock::now();
        const Decision decision = engine.look();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        CHECK(decision.event == "no_face");
        CHECK(decision.emotion.empty());
        CHECK(decision.faces == 0);
        CHECK(!decision.track);  // no mood yet
        CHECK(seconds >= 0.3);
        CHECK(seconds < 2.0);
    }
    SUBCASE("end of a finite source") {
        LocalEngine engine(
            std::make_unique<ScriptedSource>(std::vector<cv::Mat>(3, cv::Mat(480, 640, CV_8UC3, cv::Scalar(0))), false),
            FaceDetector{}, EmotionDecider(one_tiny_network(), options), MusicLibrary::scan(demo_music()),
            MoodMap::load(source_path("data/mood-map.conf")), 1);
        CHECK(error_message([&] { engine.look(); }) == "scripted: end of stream");
    }
}

TEST_CASE("LocalEngine over the demo clip: ten faces, a track of the mood, the crop, safe from two threads") {
    DecisionOptions options;
    options.threads = 1;
    LocalEngine engine = demo_engine(one_tiny_network(), options);
    const Decision first = engine.look();
    CHECK(first.event == "decision");
    CHECK(first.faces == 10);
    CHECK(first.classes.size() == 7);
    CHECK(first.probabilities.size() == 7);
    CHECK(first.time.size() == 20);
    CHECK(first.time.back() == 'Z');
    REQUIRE(first.track);
    const MoodMap map = MoodMap::load(source_path("data/mood-map.conf"));
    const auto& genres = map.genres(first.emotion);
    CHECK(std::find(genres.begin(), genres.end(), first.track->genre) != genres.end());
    CHECK(engine.current_mood() == first.emotion);
    REQUIRE(first.face_png.size() > 8);
    CHECK(first.face_png[1] == 'P');
    CHECK(first.face_png[2] == 'N');
    CHECK(first.face_png[3] == 'G');

    Decision a, b;
    std::thread other([&] { a = engine.look(); });
    b = engine.look();
    other.join();
    CHECK(a.faces == 10);
    CHECK(b.faces == 10);
    CHECK(a.track->id != b.track->id);  // the picker never repeats: each pick saw the other's
}

TEST_CASE("below --min-confidence the guess is reported as low_confidence and the mood is kept") {
    DecisionOptions options;
    options.min_confidence = 0.999;  // an untrained network is never that sure
    LocalEngine engine = demo_engine(one_tiny_network(), options);
    const Decision decision = engine.look();
    CHECK(decision.event == "low_confidence");
    CHECK(!decision.emotion.empty());
    REQUIRE(decision.warnings.size() >= 1);
    CHECK(decision.warnings[0].find("below the minimum 1.00; no mood yet") != std::string::npos);
    CHECK(decision.track);
    CHECK(engine.current_mood().empty());
}

TEST_CASE("with a trained model, the decisions over the demo clip match clip.txt") {
    const auto model_path = trained_model();
    if (!model_path) {
        MESSAGE("skipped: no trained model (data/models/five_layer.fer or $FER_PLAYER_TEST_MODEL)");
        return;
    }
    std::vector<fer::Network> networks;
    networks.push_back(fer::load_model(*model_path).network);
    EmotionDecider decider(std::move(networks), DecisionOptions{});
    FaceDetector detector;
    auto source = open_video(demo_clip(), {});
    const std::vector<ClipSegment> segments = read_clip_listing();
    REQUIRE(segments.size() == 5);
    int checked = 0;
    for (;;) {
        FaceCollection collection = decider.collect_faces(*source, detector);
        if (collection.faces.size() < 10) break;
        // Only decisions whose faces all lie in one labelled run can be held to its label.
        for (const auto& segment : segments) {
            if (collection.faces.front().frame < segment.first || collection.faces.back().frame > segment.last)
                continue;
            std::vector<fer::GreyImage> crops;
            for (auto& sample : collection.faces) crops.push_back(sample.face);
            const EmotionEstimate estimate = decider.classify(crops);
            CHECK_MESSAGE(estimate.emotion == segment.emotion,
                          "frames " << collection.faces.front().frame << "-" << collection.faces.back().frame);
            ++checked;
        }
    }
    CHECK(checked >= 5);
}

TEST_CASE("headless JSON lines") {
    const Decision decision = happy_decision("music/pop/sunny.wav");
    const auto line = nlohmann::json::parse(decision_json_line(decision));
    CHECK(line["time"] == "2026-11-24T21:41:29Z");
    CHECK(line["event"] == "decision");
    CHECK(line["emotion"] == "happy");
    CHECK(line["confidence"].get<double>() == doctest::Approx(0.8123));
    CHECK(line["probabilities"]["angry"].get<double>() == doctest::Approx(0.1877));
    CHECK(line["faces"] == 10);
    CHECK(line["track"]["title"] == "Sunny");
    CHECK(line["track"]["genre"] == "pop");
    CHECK(line["track"]["path"] == "music/pop/sunny.wav");
    CHECK(!line.contains("warnings"));
    CHECK(decision_json_line(decision).find('\n') == std::string::npos);

    Decision none;
    none.time = "2026-11-24T21:41:29Z";
    none.event = "no_face";
    none.warnings = {"w"};
    const auto no_face = nlohmann::json::parse(decision_json_line(none));
    CHECK(no_face["event"] == "no_face");
    CHECK(!no_face.contains("emotion"));
    CHECK(!no_face.contains("probabilities"));
    CHECK(no_face["track"].is_null());
    CHECK(no_face["warnings"] == nlohmann::json::array({"w"}));
}

TEST_CASE("play commands quote the path") {
    CHECK(shell_quote("a b") == "'a b'");
    CHECK(shell_quote("it's") == "'it'\\''s'");
    CHECK(expand_play_command("aplay -q {}", "x y.wav") == "aplay -q 'x y.wav'");
    CHECK(expand_play_command("mpv", "x.wav") == "mpv 'x.wav'");
    CHECK(expand_play_command("{} {}", "x") == "'x' 'x'");
}

TEST_CASE("run_headless prints a line per look, plays through the command, and ends with the source") {
    fer::TempDir dir;
    const std::string odd_path = dir.file("it's a song.wav");
    std::ostringstream out, err;
    SUBCASE("play command gets the exact path; the end of the source ends the run") {
        CannedEngine engine({happy_decision(odd_path), happy_decision(odd_path)});
        HeadlessOptions options;
        options.play_command = "printf '%s\\n' {} >> " + shell_quote(dir.file("played.txt"));
        CHECK(run_headless(engine, options, out, err) == 0);
        std::ifstream played(dir.file("played.txt"));
        std::string first, second;
        std::getline(played, first);
        std::getline(played, second);
        CHECK(first == odd_path);
        CHECK(second == odd_path);
        const std::string lines = out.str();
        CHECK(std::count(lines.begin(), lines.end(), '\n') == 2);
        CHECK(err.str() == "fer-play: canned: end of stream\n");
    }
    SUBCASE("--once") {
        CannedEngine engine({happy_decision(odd_path), happy_decision(odd_path)});
        HeadlessOptions options;
        options.once = true;
        CHECK(run_headless(engine, options, out, err) == 0);
        CHECK(engine.looks() == 1);
    }
    SUBCASE("a failing play command is reported and the loop goes on") {
        CannedEngine engine({happy_decision(odd_path), happy_decision(odd_path)});
        HeadlessOptions options;
        options.play_command = "exit 3 #";
        CHECK(run_headless(engine, options, out, err) == 0);
        CHECK(engine.looks() == 2);
        CHECK(err.str().find("the play command failed (status 3) for " + odd_path) != std::string::npos);
    }
    SUBCASE("the interval paces the looks") {
        CannedEngine engine({happy_decision(odd_path), happy_decision(odd_path)});
        HeadlessOptions options;
        options.interval_seconds = 0.2;
        const auto start = std::chrono::steady_clock::now();
        run_headless(engine, options, out, err);
        CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(400));
    }
}

// A frame source that vanishes mid-run (video deleted or truncated, image folder emptied, camera
// unplugged) is reported and retried with growing pauses, and works again when it comes back: in the
// sources themselves, in LocalEngine's retry schedule and status, and in the headless loop.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fer/player/headless.hpp"
#include "fer/player/local_engine.hpp"
#include "player_test_support.hpp"
#include "temp_dir.hpp"

using namespace fer::player;
using namespace fer::player::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

SourceOptions quick_reopen(std::vector<std::string>& warnings, bool loop = true) {
    SourceOptions options;
    options.loop = loop;
    options.reopen_attempts = 1;
    options.reopen_delay = 10ms;
    options.warn = [&warnings](const std::string& message) { warnings.push_back(message); };
    return options;
}

std::string unavailable_message(FrameSource& source) {
    cv::Mat frame;
    try {
        source.next(frame);
    } catch (const SourceUnavailable& e) {
        return e.what();
    }
    return "(available)";
}

void write_image(const std::string& path, int shade) {
    REQUIRE(cv::imwrite(path, cv::Mat(32, 48, CV_8UC1, cv::Scalar(shade))));
}

// Frames from a real source until `unplugged` is set; then what a camera that has gone away reports.
class UnpluggableSource : public FrameSource {
public:
    UnpluggableSource(std::unique_ptr<FrameSource> inner, std::shared_ptr<std::atomic<bool>> unplugged)
        : inner_(std::move(inner)), unplugged_(std::move(unplugged)) {}
    bool next(cv::Mat& frame) override {
        ++attempts_;
        if (*unplugged_) throw SourceUnavailable("camera 7: cannot be opened (unplugged, or busy?)");
        return inner_->next(frame);
    }
    const std::string& name() const override { return name_; }
    std::uint64_t frames_delivered() const override { return inner_->frames_delivered(); }
    int attempts() const { return attempts_; }

private:
    std::unique_ptr<FrameSource> inner_;
    std::shared_ptr<std::atomic<bool>> unplugged_;
    std::string name_ = "7";
    int attempts_ = 0;
};

std::vector<fer::Network> one_tiny_network() {
    std::vector<fer::Network> networks;
    networks.push_back(tiny_network(3));
    return networks;
}

}  // namespace

TEST_CASE("a looping video deleted mid-run is unavailable, retried on each call, and works when it is back") {
    fer::TempDir dir{"outage_video"};
    const std::string clip = dir.file("clip.avi");
    fs::copy_file(demo_clip(), clip);
    std::vector<std::string> warnings;
    auto source = open_video(clip, quick_reopen(warnings));
    cv::Mat frame;
    for (int i = 0; i < 100; ++i) REQUIRE(source->next(frame));  // the whole clip, up to the loop point
    fs::remove(clip);
    // OpenCV still holds the open file; the loop's reopen finds it gone.
    const std::string gone = unavailable_message(*source);
    CHECK(gone == "video " + clip + ": no frames after 1 reopen attempts");
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0] == "video " + clip + ": no frame; reopening (attempt 1 of 1)");
    CHECK(unavailable_message(*source) == "video " + clip + ": cannot be opened (deleted, or not a video any more?)");
    CHECK(warnings.size() == 1);  // a retry is one attempt, not another round of reopening

    fs::copy_file(demo_clip(), clip);
    REQUIRE(source->next(frame));
    CHECK(frame.cols == 640);
    CHECK(source->frames_delivered() == 101);
}

TEST_CASE("a video truncated mid-run never crashes the source and recovers when replaced") {
    fer::TempDir dir{"outage_truncated"};
    const std::string clip = dir.file("clip.avi");
    fs::copy_file(demo_clip(), clip);
    std::vector<std::string> warnings;
    auto source = open_video(clip, quick_reopen(warnings));
    cv::Mat frame;
    for (int i = 0; i < 10; ++i) REQUIRE(source->next(frame));
    fs::resize_file(clip, fs::file_size(clip) / 3);
    int frames = 0, unavailable = 0;
    for (int i = 0; i < 150; ++i) {
        try {
            if (source->next(frame)) ++frames;
        } catch (const SourceUnavailable& e) {
            ++unavailable;
            CHECK(std::string(e.what()).find(clip) != std::string::npos);
        }
    }
    CHECK(frames + unavailable == 150);
    fs::remove(clip);
    fs::copy_file(demo_clip(), clip);
    bool recovered = false;
    for (int i = 0; i < 200 && !recovered; ++i) {
        try {
            recovered = source->next(frame) && source->frames_delivered() > std::uint64_t(10 + frames);
        } catch (const SourceUnavailable&) {
        }
    }
    CHECK(recovered);
}

TEST_CASE("a looping image folder is listed again each pass: emptied is unavailable, refilled works") {
    fer::TempDir dir{"outage_images"};
    const fs::path folder = dir.path / "frames";
    fs::create_directories(folder);
    for (int i = 0; i < 3; ++i) write_image((folder / ("f" + std::to_string(i) + ".png")).string(), 10 * i);
    std::vector<std::string> warnings;
    auto source = open_image_folder(folder.string(), quick_reopen(warnings));
    cv::Mat frame;
    REQUIRE(source->next(frame));
    CHECK(frame.at<std::uint8_t>(0, 0) == 0);

    SUBCASE("a file deleted mid-pass is skipped with a warning") {
        fs::remove(folder / "f1.png");
        REQUIRE(source->next(frame));
        CHECK(frame.at<std::uint8_t>(0, 0) == 20);
        REQUIRE(warnings.size() == 1);
        CHECK(warnings[0] == (folder / "f1.png").string() + ": cannot be read or decoded; skipped");
        REQUIRE(source->next(frame));  // the next pass no longer lists it
        CHECK(frame.at<std::uint8_t>(0, 0) == 0);
        REQUIRE(source->next(frame));
        CHECK(frame.at<std::uint8_t>(0, 0) == 20);
    }
    SUBCASE("emptied, removed, then refilled") {
        for (int i = 0; i < 3; ++i) fs::remove(folder / ("f" + std::to_string(i) + ".png"));
        CHECK(unavailable_message(*source) ==
              "image folder " + folder.string() + ": no png/jpg/jpeg/bmp files any more");
        fs::remove(folder);
        CHECK(unavailable_message(*source) == "image folder " + folder.string() + ": no such folder any more");
        fs::create_directories(folder);
        write_image((folder / "new.png").string(), 99);
        REQUIRE(source->next(frame));
        CHECK(frame.at<std::uint8_t>(0, 0) == 99);
        REQUIRE(source->next(frame));
        CHECK(frame.at<std::uint8_t>(0, 0) == 99);
    }
    SUBCASE("nothing decodable any more") {
        for (int i = 0; i < 3; ++i) std::ofstream(folder / ("f" + std::to_string(i) + ".png")) << "not a png";
        CHECK(unavailable_message(*source) ==
              "image folder " + folder.string() + ": none of its images can be read or decoded");
    }
}

TEST_CASE("LocalEngine: a source lost mid-run is retried with doubling pauses, reported, and recovers") {
    auto unplugged = std::make_shared<std::atomic<bool>>(false);
    SourceOptions loop;
    loop.loop = true;
    auto owned = std::make_unique<UnpluggableSource>(open_video(demo_clip(), loop), unplugged);
    UnpluggableSource& source = *owned;
    DecisionOptions options;
    options.threads = 1;
    std::vector<std::string> news;
    SourceRetryOptions retry;
    retry.first_delay = 200ms;
    retry.max_delay = 400ms;
    retry.warn = [&news](const std::string& message) { news.push_back(message); };
    LocalEngine engine(std::move(owned), FaceDetector{}, EmotionDecider(one_tiny_network(), options),
                       MusicLibrary::scan(demo_music()), MoodMap::load(source_path("data/mood-map.conf")), 5, retry);

    const Decision first = engine.look();
    REQUIRE(first.event == "decision");
    CHECK(first.source.available);
    CHECK(engine.source_status().available);
    const std::string mood = engine.current_mood();

    *unplugged = true;
    const Decision lost = engine.look();
    CHECK(lost.event == "source_unavailable");
    CHECK(lost.emotion.empty());
    CHECK(lost.faces == 0);
    CHECK_FALSE(lost.source.available);
    CHECK(lost.source.error == "camera 7: cannot be opened (unplugged, or busy?)");
    CHECK(lost.source.failed_attempts == 1);
    CHECK(lost.source.retry_seconds == doctest::Approx(0.2).epsilon(0.3));
    CHECK(lost.source.since.size() == 20);
    REQUIRE(lost.track);  // the music goes on in the mood
    const MoodMap map = MoodMap::load(source_path("data/mood-map.conf"));
    const auto& genres = map.genres(mood);
    CHECK(std::find(genres.begin(), genres.end(), lost.track->genre) != genres.end());
    REQUIRE(news.size() == 1);
    CHECK(news[0] ==
          "camera 7: cannot be opened (unplugged, or busy?); retrying in 1 s, then less often (at least "
          "every 1 s)");

    // Within the pause the device is not touched.
    const int attempts = source.attempts();
    CHECK(engine.look().event == "source_unavailable");
    CHECK(source.attempts() == attempts);
    CHECK_FALSE(engine.source_status().available);

    // Pauses double up to the maximum: 0.2, 0.4, 0.4, 0.4 s.
    for (double expected : {0.4, 0.4, 0.4}) {
        std::this_thread::sleep_for(std::chrono::duration<double>(engine.source_status().retry_seconds + 0.01));
        const Decision again = engine.look();
        CHECK(again.event == "source_unavailable");
        CHECK(again.source.retry_seconds == doctest::Approx(expected).epsilon(0.3));
    }
    CHECK(engine.source_status().failed_attempts == 4);
    CHECK(news.size() == 1);  // reported once, not at every attempt

    *unplugged = false;
    std::this_thread::sleep_for(std::chrono::duration<double>(engine.source_status().retry_seconds + 0.01));
    const Decision back = engine.look();
    CHECK(back.event == "decision");
    CHECK(back.faces == 10);
    CHECK(engine.source_status().available);
    REQUIRE(news.size() == 2);
    CHECK(news[1].rfind("frame source 7 works again after ", 0) == 0);
    CHECK(news[1].find("(4 failed attempts)") != std::string::npos);
}

TEST_CASE("LocalEngine: a source that fails before delivering any frame is an error, not an outage") {
    auto unplugged = std::make_shared<std::atomic<bool>>(true);
    LocalEngine engine(std::make_unique<UnpluggableSource>(open_video(demo_clip(), {}), unplugged), FaceDetector{},
                       EmotionDecider(one_tiny_network(), DecisionOptions{}), MusicLibrary::scan(demo_music()),
                       MoodMap::load(source_path("data/mood-map.conf")), 5);
    CHECK_THROWS_AS(engine.look(), SourceUnavailable);
    CHECK(engine.source_status().available);
    CHECK_THROWS_AS(LocalEngine(std::make_unique<ScriptedSource>(std::vector<cv::Mat>{}, true), FaceDetector{},
                                EmotionDecider(one_tiny_network(), DecisionOptions{}), MusicLibrary::scan(demo_music()),
                                MoodMap::load(source_path("data/mood-map.conf")), 5, SourceRetryOptions{0ms, 1s, {}}),
                    std::invalid_argument);
}

namespace {

// Replays decisions; a source_unavailable one asks for a pause before the next look.
class OutageEngine : public Engine {
public:
    explicit OutageEngine(std::vector<Decision> decisions) : decisions_(std::move(decisions)) {}
    const std::vector<Track>& tracks() const override { return tracks_; }
    Decision look() override {
        look_times_.push_back(std::chrono::steady_clock::now());
        if (next_ == decisions_.size()) throw EndOfStream("outage: end of stream");
        return decisions_[next_++];
    }
    std::vector<std::chrono::steady_clock::time_point> look_times_;

private:
    std::vector<Decision> decisions_;
    std::vector<Track> tracks_;
    std::size_t next_ = 0;
};

Decision event(const std::string& name) {
    Decision decision;
    decision.time = "2026-11-24T21:41:29Z";
    decision.event = name;
    if (name == "source_unavailable")
        decision.source =
            SourceStatus{false, "camera 0: no frames after 3 reopen attempts", "2026-11-24T21:41:20Z", 2, 0.25};
    return decision;
}

}  // namespace

TEST_CASE("run_headless: a source_unavailable line, a pause for the retry, and --once waits for a real look") {
    OutageEngine engine({event("source_unavailable"), event("source_unavailable"), event("no_face"), event("no_face")});
    HeadlessOptions options;
    options.once = true;
    options.interval_seconds = 0;
    std::ostringstream out, err;
    CHECK(run_headless(engine, options, out, err) == 0);
    REQUIRE(engine.look_times_.size() == 3);
    CHECK(engine.look_times_[1] - engine.look_times_[0] >= 250ms);
    CHECK(engine.look_times_[2] - engine.look_times_[1] >= 250ms);

    std::istringstream lines(out.str());
    std::string line;
    REQUIRE(std::getline(lines, line));
    const auto lost = nlohmann::json::parse(line);
    CHECK(lost["event"] == "source_unavailable");
    CHECK(lost["source"]["error"] == "camera 0: no frames after 3 reopen attempts");
    CHECK(lost["source"]["since"] == "2026-11-24T21:41:20Z");
    CHECK(lost["source"]["failed_attempts"] == 2);
    CHECK(lost["source"]["retry_seconds"] == 0.25);
    CHECK(lost["track"].is_null());
    CHECK(!lost.contains("emotion"));
    REQUIRE(std::getline(lines, line));
    REQUIRE(std::getline(lines, line));
    const auto back = nlohmann::json::parse(line);
    CHECK(back["event"] == "no_face");
    CHECK(!back.contains("source"));
    CHECK_FALSE(std::getline(lines, line));
}

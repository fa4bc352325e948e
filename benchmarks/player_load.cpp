// player_load: a bounded load test of fer-play's web server on loopback. It starts the real WebServer on
// 127.0.0.1 (a free port) over a music folder, then runs N client threads for T seconds, each looping
// over what the page does: the library, the state, a detect, the face crop, saving the state, the page,
// and the audio whole, by a range, from a seek point and by a suffix, plus one malformed POST. Every answer
// is checked (status, and the exact bytes of each audio slice). The process's resident memory is sampled
// throughout. It exits 1 on any error, on resident memory growing more than --max-rss-growth-mib after the
// warm-up, or on open file descriptors left behind.
//
// The engine is a stand-in by default (its look takes --look-ms and returns a decision with a face crop),
// so the server is what is measured; --real uses LocalEngine over the demo clip and the shipped model.
#include <dirent.h>
#include <httplib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fer/ensemble.hpp"
#include "fer/model_file.hpp"
#include "fer/player/emotion_decider.hpp"
#include "fer/player/face_detector.hpp"
#include "fer/player/frame_source.hpp"
#include "fer/player/local_engine.hpp"
#include "fer/player/mood_map.hpp"
#include "fer/player/music_library.hpp"
#include "fer/player/web_server.hpp"

namespace {

namespace player = fer::player;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

double mib(std::size_t bytes) {
    return double(bytes) / (1024.0 * 1024.0);
}

// Resident memory of this process (server and clients together; the clients' share is fixed: their
// threads, connections and latency histograms, none of which grows with the run's length).
std::size_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages_total = 0, pages_resident = 0;
    statm >> pages_total >> pages_resident;
    return pages_resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

int open_file_descriptors() {
    int count = 0;
    if (DIR* folder = ::opendir("/proc/self/fd")) {
        while (::readdir(folder)) ++count;
        ::closedir(folder);
    }
    return count - 3;  // ".", ".." and the descriptor of the listing itself
}

// Latencies in logarithmic buckets (about 2 % wide, 1 us to 100 s): percentiles without keeping every
// sample, so the test's own memory does not grow with its length.
class LatencyHistogram {
public:
    void add(double seconds) {
        const double us = std::max(1.0, seconds * 1e6);
        const auto bucket = std::min<std::size_t>(buckets_.size() - 1, std::size_t(std::log(us) / step));
        ++buckets_[bucket];
        ++count_;
        max_ = std::max(max_, seconds);
    }
    void merge(const LatencyHistogram& other) {
        for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
        count_ += other.count_;
        max_ = std::max(max_, other.max_);
    }
    std::uint64_t count() const { return count_; }
    double max_ms() const { return max_ * 1e3; }
    double percentile_ms(double q) const {
        if (count_ == 0) return 0;
        const auto rank = std::uint64_t(std::ceil(q * double(count_)));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets_.size(); ++i) {
            seen += buckets_[i];
            if (seen >= rank) return std::exp((double(i) + 1) * step) / 1e3;  // the bucket's upper edge
        }
        return max_ms();
    }

private:
    static constexpr double step = 0.02;        // ln of the bucket width ratio
    std::array<std::uint64_t, 921> buckets_{};  // ln(1e8 us) / 0.02
    std::uint64_t count_ = 0;
    double max_ = 0;
};

// What each client loop asks, in order; the page asks the same.
enum class Call {
    page,
    library,
    state,
    detect,
    face,
    save_state,
    audio,
    audio_range,
    audio_seek,
    audio_suffix,
    bad_json
};
constexpr std::array<const char*, 11> call_names{
    "GET /",     "GET /api/library", "GET /api/state", "POST /api/detect", "GET /api/face.png", "POST /api/state",
    "GET audio", "GET audio a-b",    "GET audio a-",   "GET audio -n",     "POST bad JSON"};

struct ClientTally {
    std::array<LatencyHistogram, call_names.size()> latency;
    std::uint64_t requests = 0, bytes = 0, busy = 0, errors = 0;
    std::vector<std::string> first_errors;  // at most a few, for the report

    void error(const std::string& what) {
        ++errors;
        if (first_errors.size() < 5) first_errors.push_back(what);
    }
};

// Looks take look_ms and return a decision with a face crop; serialised like the real engine.
class StandInEngine : public player::Engine {
public:
    StandInEngine(std::vector<player::Track> tracks, std::chrono::milliseconds look_time)
        : tracks_(std::move(tracks)), look_time_(look_time) {
        cv::Mat face(48, 48, CV_8UC1);
        for (int y = 0; y < 48; ++y)
            for (int x = 0; x < 48; ++x) face.at<std::uint8_t>(y, x) = std::uint8_t(4 * x + y);
        cv::imencode(".png", face, face_png_);
    }
    const std::vector<player::Track>& tracks() const override { return tracks_; }
    player::Decision look() override {
        std::lock_guard lock(mutex_);
        std::this_thread::sleep_for(look_time_);
        static const std::vector<std::string> classes{"angry", "disgust",  "fear",   "happy",
                                                      "sad",   "surprise", "neutral"};
        player::Decision decision;
        decision.time = player::utc_timestamp();
        decision.event = "decision";
        decision.classes = classes;
        decision.probabilities.assign(classes.size(), 0.1f);
        const std::size_t chosen = looks_ % classes.size();
        decision.probabilities[chosen] = 0.4f;
        decision.emotion = classes[chosen];
        decision.confidence = 0.4;
        decision.faces = 10;
        decision.face_png = face_png_;
        decision.track = tracks_[looks_ % tracks_.size()];
        ++looks_;
        return decision;
    }

private:
    std::vector<player::Track> tracks_;
    std::chrono::milliseconds look_time_;
    std::vector<std::uint8_t> face_png_;
    std::mutex mutex_;
    std::size_t looks_ = 0;
};

std::unique_ptr<player::Engine> real_engine(const std::string& clip, const std::string& music) {
    const fer::EnsembleSpec shipped = fer::default_ensemble("data/models");
    std::vector<fer::Network> networks;
    for (const auto& path : shipped.model_paths) networks.push_back(fer::load_model(path).network);
    if (networks.empty())
        throw std::runtime_error("--real needs a model in data/models (run from the repository root)");
    player::DecisionOptions options;
    options.threads = 1;
    options.weights = shipped.weights;
    options.tta = shipped.tta;
    player::SourceOptions source_options;
    source_options.loop = true;
    return std::make_unique<player::LocalEngine>(player::open_video(clip, source_options), player::FaceDetector{},
                                                 player::EmotionDecider(std::move(networks), options),
                                                 player::MusicLibrary::scan(music),
                                                 player::MoodMap::load("data/mood-map.conf"), 1);
}

std::string read_whole(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Shared {
    int port = 0;
    std::vector<std::string> audio;  // every track's bytes, by id, to check each answer exactly
    std::atomic<bool> stop{false};
    std::atomic<bool> decided{false};  // a detect has answered 200, so face.png must exist
};

// The body as a JSON object; an empty object when it is not one.
Json json_object(const std::string& body) {
    Json parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    return parsed.is_object() ? parsed : Json::object();
}

void run_client(int index, Shared& shared, ClientTally& tally) {
    httplib::Client client("127.0.0.1", shared.port);
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);  // as browsers do
    client.set_connection_timeout(10, 0);
    client.set_read_timeout(30, 0);
    client.set_write_timeout(30, 0);
    std::mt19937_64 random(0x5eed + std::uint64_t(index));
    const std::size_t tracks = shared.audio.size();

    auto timed = [&](Call call, auto&& request) {
        const auto start = Clock::now();
        httplib::Result result = request();
        tally.latency[std::size_t(call)].add(std::chrono::duration<double>(Clock::now() - start).count());
        ++tally.requests;
        if (!result) {
            tally.error(std::string(call_names[std::size_t(call)]) + ": " + httplib::to_string(result.error()));
            return result;
        }
        tally.bytes += result->body.size();
        return result;
    };
    auto expect = [&](Call call, const httplib::Result& result, bool ok, const std::string& detail = "") {
        if (result && !ok)
            tally.error(std::string(call_names[std::size_t(call)]) + ": status " + std::to_string(result->status) +
                        (detail.empty() ? "" : " (" + detail + ")"));
    };
    auto expect_slice = [&](Call call, const std::string& range, std::size_t id, std::size_t first, std::size_t last) {
        auto res = timed(call, [&] { return client.Get("/api/audio/" + std::to_string(id), {{"Range", range}}); });
        const std::string& bytes = shared.audio[id];
        const std::string content_range =
            "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(bytes.size());
        expect(call, res,
               res && res->status == 206 && res->body == bytes.substr(first, last - first + 1) &&
                   res->get_header_value("Content-Range") == content_range,
               range + " of track " + std::to_string(id));
    };

    for (std::uint64_t round = 0; !shared.stop; ++round) {
        const std::size_t id = random() % tracks;
        const std::size_t size = shared.audio[id].size();

        auto res = timed(Call::page, [&] { return client.Get("/"); });
        expect(Call::page, res, res && res->status == 200 && res->body.find("<!doctype html>") == 0);
        res = timed(Call::library, [&] { return client.Get("/api/library"); });
        expect(Call::library, res,
               res && res->status == 200 && json_object(res->body).value("tracks", Json()).size() == tracks);
        res = timed(Call::state, [&] { return client.Get("/api/state"); });
        expect(Call::state, res, res && res->status == 200 && json_object(res->body).contains("source"));

        // Many clients, one camera: most detects find one running and get 409, as the page does.
        res = timed(Call::detect, [&] { return client.Post("/api/detect", "", "application/json"); });
        if (res && res->status == 409) ++tally.busy;
        if (res && res->status == 200) shared.decided = true;
        expect(Call::detect, res, res && (res->status == 200 || res->status == 409));
        const bool must_have_face = shared.decided;
        res = timed(Call::face, [&] { return client.Get("/api/face.png?t=" + std::to_string(round)); });
        expect(Call::face, res,
               res && ((res->status == 200 && res->body.compare(0, 4, "\x89PNG") == 0) ||
                       (res->status == 404 && !must_have_face)));

        res = timed(Call::save_state, [&] {
            return client.Post("/api/state", Json{{"now_playing", id}}.dump(), "application/json");
        });
        expect(Call::save_state, res, res && res->status == 200);
        res = timed(Call::bad_json, [&] { return client.Post("/api/state", "{\"now_playing\":", "application/json"); });
        expect(Call::bad_json, res, res && res->status == 400);

        res = timed(Call::audio, [&] { return client.Get("/api/audio/" + std::to_string(id)); });
        expect(Call::audio, res, res && res->status == 200 && res->body == shared.audio[id],
               "track " + std::to_string(id));
        const std::size_t first = random() % size, last = std::min(size - 1, first + random() % 65536);
        expect_slice(Call::audio_range, "bytes=" + std::to_string(first) + "-" + std::to_string(last), id, first, last);
        const std::size_t seek = random() % size;
        expect_slice(Call::audio_seek, "bytes=" + std::to_string(seek) + "-", id, seek, size - 1);
        const std::size_t suffix = 1 + random() % size;
        expect_slice(Call::audio_suffix, "bytes=-" + std::to_string(suffix), id, size - suffix, size - 1);
    }
}

struct RssSample {
    double seconds;
    std::size_t bytes;
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "player_load: many clients against fer-play's web server on loopback; fails on errors or memory growth"};
    int clients = 16, server_threads = player::WebOptions{}.threads, look_ms = 50;
    double seconds = 8, warmup = -1, max_growth_mib = 16;
    std::string music = "data/demo/music", clip = "data/demo/clip.avi";
    bool json = false, real = false;
    app.add_option("--clients", clients, "client threads")->capture_default_str()->check(CLI::Range(1, 1000));
    app.add_option("--seconds", seconds, "how long the clients run")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 3600.0));
    app.add_option("--warmup", warmup, "seconds before the memory baseline (default: a quarter of the run, at most 5)");
    app.add_option("--max-rss-growth-mib", max_growth_mib, "allowed resident memory growth after the warm-up")
        ->capture_default_str();
    app.add_option("--music", music, "music folder served")->capture_default_str();
    app.add_option("--server-threads", server_threads, "WebOptions::threads")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    app.add_option("--look-ms", look_ms, "how long the stand-in engine's look takes")->capture_default_str();
    app.add_flag("--real", real, "use LocalEngine over --clip and data/models instead of the stand-in engine");
    app.add_option("--clip", clip, "video for --real")->capture_default_str();
    app.add_flag("--json", json, "print the report as JSON");
    CLI11_PARSE(app, argc, argv);
    if (warmup < 0) warmup = std::min(5.0, seconds / 4);
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);

    try {
        const player::MusicLibrary library = player::MusicLibrary::scan(music);
        Shared shared;
        for (const auto& track : library.tracks()) shared.audio.push_back(read_whole(track.path));
        std::unique_ptr<player::Engine> engine =
            real ? real_engine(clip, music)
                 : std::make_unique<StandInEngine>(library.tracks(), std::chrono::milliseconds(look_ms));

        player::WebOptions options;
        options.port = 0;
        options.threads = server_threads;
        player::WebServer server(*engine, options);
        server.start();
        shared.port = server.port();
        const int fds_before = open_file_descriptors();
        const auto start = Clock::now();
        auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

        std::vector<RssSample> rss;
        rss.reserve(std::size_t(seconds * 10) + 16);
        rss.push_back({0, resident_bytes()});
        std::vector<ClientTally> tallies(static_cast<std::size_t>(clients));
        std::vector<std::thread> threads;
        for (int c = 0; c < clients; ++c)
            threads.emplace_back([c, &shared, &tally = tallies[std::size_t(c)]] {
                try {
                    run_client(c, shared, tally);
                } catch (const std::exception& e) {
                    tally.error(std::string("client stopped: ") + e.what());
                }
            });
        while (elapsed() < seconds) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (rss.size() < rss.capacity()) rss.push_back({elapsed(), resident_bytes()});
        }
        shared.stop = true;
        for (auto& thread : threads) thread.join();
        const double run_seconds = elapsed();
        // The server closes a connection as soon as its client has; give it a moment before counting.
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        const int fds_after = open_file_descriptors();
        rss.push_back({elapsed(), resident_bytes()});
        server.stop();

        ClientTally total;
        for (const auto& tally : tallies) {
            for (std::size_t i = 0; i < call_names.size(); ++i) total.latency[i].merge(tally.latency[i]);
            total.requests += tally.requests;
            total.bytes += tally.bytes;
            total.busy += tally.busy;
            total.errors += tally.errors;
            for (const auto& e : tally.first_errors)
                if (total.first_errors.size() < 10) total.first_errors.push_back(e);
        }
        LatencyHistogram all;
        for (const auto& histogram : total.latency) all.merge(histogram);

        std::size_t baseline = rss.front().bytes, peak = 0;
        for (const auto& sample : rss) {
            if (sample.seconds <= warmup) baseline = sample.bytes;
            peak = std::max(peak, sample.bytes);
        }
        std::size_t peak_after_warmup = baseline;
        for (const auto& sample : rss)
            if (sample.seconds > warmup) peak_after_warmup = std::max(peak_after_warmup, sample.bytes);
        const double growth = mib(peak_after_warmup) - mib(baseline);
        const bool memory_ok = growth <= max_growth_mib;
        // Each client may leave one connection for the server to notice closed; more is a leak.
        const bool fds_ok = fds_after <= fds_before + 2;
        const bool passed = total.errors == 0 && memory_ok && fds_ok;

        Json report{{"clients", clients},
                    {"seconds", run_seconds},
                    {"engine", real ? "LocalEngine over " + clip : "stand-in, look " + std::to_string(look_ms) + " ms"},
                    {"server_threads", server_threads},
                    {"requests", total.requests},
                    {"requests_per_second", double(total.requests) / run_seconds},
                    {"bytes", total.bytes},
                    {"detects_busy_409", total.busy},
                    {"errors", total.errors},
                    {"first_errors", total.first_errors}};
        Json calls = Json::object();
        auto latency_json = [](const LatencyHistogram& h) {
            return Json{{"count", h.count()},
                        {"p50_ms", h.percentile_ms(0.5)},
                        {"p90_ms", h.percentile_ms(0.9)},
                        {"p99_ms", h.percentile_ms(0.99)},
                        {"max_ms", h.max_ms()}};
        };
        for (std::size_t i = 0; i < call_names.size(); ++i) calls[call_names[i]] = latency_json(total.latency[i]);
        report["latency"] = calls;
        report["latency_all"] = latency_json(all);
        report["rss_mib"] = {
            {"start", mib(rss.front().bytes)}, {"after_warmup", mib(baseline)}, {"peak", mib(peak)},
            {"end", mib(rss.back().bytes)},    {"growth_after_warmup", growth}, {"limit", max_growth_mib},
            {"warmup_seconds", warmup}};
        // Ten points across the run, to show the shape (flat, or creeping) and not just the ends.
        Json timeline = Json::array();
        for (std::size_t i = 0; i < 10; ++i) {
            const RssSample& sample = rss[i * (rss.size() - 1) / 9];
            timeline.push_back({{"second", std::round(sample.seconds * 10) / 10}, {"mib", mib(sample.bytes)}});
        }
        report["rss_mib"]["timeline"] = timeline;
        report["open_fds"] = {{"before", fds_before}, {"after", fds_after}};
        report["passed"] = passed;

        if (json) {
            std::cout << report.dump(2) << std::endl;
        } else {
            std::printf("player_load: %d clients for %.1f s on 127.0.0.1:%d, %d server threads, engine: %s\n", clients,
                        run_seconds, shared.port, server_threads, report["engine"].get<std::string>().c_str());
            std::printf("requests %llu (%.0f/s), %.1f MiB received, detects answered 409 (busy) %llu, errors %llu\n",
                        static_cast<unsigned long long>(total.requests), double(total.requests) / run_seconds,
                        mib(total.bytes), static_cast<unsigned long long>(total.busy),
                        static_cast<unsigned long long>(total.errors));
            for (const auto& e : total.first_errors) std::printf("  error: %s\n", e.c_str());
            std::printf("%-20s %9s %9s %9s %9s %9s\n", "latency (ms)", "count", "p50", "p90", "p99", "max");
            auto row = [](const char* name, const LatencyHistogram& h) {
                std::printf("%-20s %9llu %9.2f %9.2f %9.2f %9.2f\n", name, static_cast<unsigned long long>(h.count()),
                            h.percentile_ms(0.5), h.percentile_ms(0.9), h.percentile_ms(0.99), h.max_ms());
            };
            for (std::size_t i = 0; i < call_names.size(); ++i) row(call_names[i], total.latency[i]);
            row("all", all);
            std::printf(
                "RSS MiB: start %.1f, after %.1f s warm-up %.1f, peak %.1f, end %.1f; growth after warm-up "
                "%.1f (limit %.1f)\n",
                mib(rss.front().bytes), warmup, mib(baseline), mib(peak), mib(rss.back().bytes), growth,
                max_growth_mib);
            std::printf("open file descriptors: %d before the clients, %d after\n", fds_before, fds_after);
            std::printf("%s\n", passed ? "PASSED" : "FAILED");
        }
        if (!passed) {
            if (total.errors)
                std::fprintf(stderr, "player_load: %llu errors\n", static_cast<unsigned long long>(total.errors));
            if (!memory_ok)
                std::fprintf(stderr, "player_load: resident memory grew %.1f MiB after the warm-up (limit %.1f)\n",
                             growth, max_growth_mib);
            if (!fds_ok)
                std::fprintf(stderr, "player_load: %d file descriptors left open (%d before)\n", fds_after, fds_before);
        }
        return passed ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "player_load: error: %s\n", e.what());
        return 2;
    }
}

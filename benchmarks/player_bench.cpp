// player_bench: how fast fer-play's pipeline runs on the demo clip at 640x480. Per frame: capture (decode),
// face detection, crop + resize, and inference on that one crop; then the time from look() to a chosen
// song (N face frames, one batched forward, the pick). Reports the median and the 90th percentile.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <string>
#include <vector>

#include "fer/model_file.hpp"
#include "fer/player/emotion_decider.hpp"
#include "fer/player/face_detector.hpp"
#include "fer/player/frame_source.hpp"
#include "fer/player/local_engine.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double milliseconds_since(clock_type::time_point start) {
    return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

struct Summary {
    double median = 0, p90 = 0;
};

Summary summarise(std::vector<double> values) {
    if (values.empty()) return {};
    std::sort(values.begin(), values.end());
    auto at = [&](double q) {
        return values[std::min(values.size() - 1, std::size_t(q * double(values.size() - 1) + 0.5))];
    };
    return {at(0.5), at(0.9)};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"player_bench: per-frame and per-decision timings of fer-play on the demo clip"};
    std::string clip = "data/demo/clip.avi", model_path = "data/models/five_layer.fer", music = "data/demo/music",
                mood_map = "data/mood-map.conf";
    int frames = 300, looks = 10, threads = 0;
    fer::player::DetectorOptions detector_options;
    app.add_option("--clip", clip, "video to read (looped)")->capture_default_str();
    app.add_option("--model", model_path, "model file")->capture_default_str();
    app.add_option("--music", music, "music folder")->capture_default_str();
    app.add_option("--mood-map", mood_map, "mood map")->capture_default_str();
    app.add_option("--frames", frames, "frames to time")->capture_default_str();
    app.add_option("--looks", looks, "look() calls to time")->capture_default_str();
    app.add_option("--threads", threads, "threads for OpenCV and inference (0 = all cores)")->capture_default_str();
    app.add_option("--scale-factor", detector_options.scale_factor, "detector scale step")->capture_default_str();
    app.add_option("--min-face", detector_options.min_face, "smallest face, pixels")->capture_default_str();
    app.add_option("--detect-width", detector_options.detect_width, "detection width (0 = full frame)")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);

    try {
        if (threads > 0) cv::setNumThreads(threads);
        fer::player::SourceOptions source_options;
        source_options.loop = true;
        auto source = fer::player::open_video(clip, source_options);
        fer::player::FaceDetector detector(detector_options);
        fer::LoadedModel model = fer::load_model(model_path);
        fer::Network& net = model.network;
        const fer::Context ctx = fer::Context::eval(fer::RunOptions{threads});
        const fer::InputSpec& in = net.input();
        fer::Tensor input(fer::Shape{1, 1, in.height, in.width});

        std::vector<double> capture, detect, crop, infer, total;
        int faces = 0;
        cv::Mat frame;
        for (int i = 0; i < frames; ++i) {
            const auto start = clock_type::now();
            if (!source->next(frame)) break;
            capture.push_back(milliseconds_since(start));
            auto step = clock_type::now();
            const cv::Mat grey = fer::player::to_grey(frame);
            const auto box = detector.largest_face(grey);
            detect.push_back(milliseconds_since(step));
            if (box) {
                ++faces;
                step = clock_type::now();
                const fer::GreyImage face = fer::player::crop_face(grey, *box, 0.1, in.width, in.height);
                for (std::size_t p = 0; p < face.pixels.size(); ++p) input[p] = in.normalize(face.pixels[p]);
                crop.push_back(milliseconds_since(step));
                step = clock_type::now();
                net.forward(input, ctx);
                infer.push_back(milliseconds_since(step));
            }
            total.push_back(milliseconds_since(start));
        }
        std::printf("%s, %dx%d, %d frames, face in %d; model %s; detector scale %.2f, min face %d, detect width %d\n",
                    clip.c_str(), frame.cols, frame.rows, int(total.size()), faces, model_path.c_str(),
                    detector_options.scale_factor, detector_options.min_face, detector_options.detect_width);
        std::printf("%-28s %10s %10s\n", "per frame (ms)", "median", "p90");
        const std::pair<const char*, std::vector<double>*> rows[] = {{"capture", &capture},
                                                                     {"detect", &detect},
                                                                     {"crop + resize", &crop},
                                                                     {"infer (batch 1)", &infer},
                                                                     {"total", &total}};
        for (const auto& [name, values] : rows) {
            const Summary s = summarise(*values);
            std::printf("%-28s %10.2f %10.2f\n", name, s.median, s.p90);
        }
        const Summary frame_time = summarise(total);
        std::printf("frames/s at the median: %.1f (p90: %.1f)\n", 1000 / frame_time.median, 1000 / frame_time.p90);

        std::vector<fer::Network> networks;
        networks.push_back(std::move(model.network));
        fer::player::DecisionOptions decision;
        decision.threads = threads;
        fer::player::LocalEngine engine(
            std::move(source), std::move(detector), fer::player::EmotionDecider(std::move(networks), decision),
            fer::player::MusicLibrary::scan(music), fer::player::MoodMap::load(mood_map), 1);
        std::vector<double> look_times;
        for (int i = 0; i < looks; ++i) {
            const auto start = clock_type::now();
            const fer::player::Decision d = engine.look();
            look_times.push_back(milliseconds_since(start));
            if (!d.track)
                std::fprintf(stderr, "player_bench: warning: look %d chose no track (%s)\n", i, d.event.c_str());
        }
        const Summary look = summarise(look_times);
        std::printf("look() -> chosen song, %d face frames: median %.1f ms, p90 %.1f ms\n", decision.frames,
                    look.median, look.p90);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "player_bench: error: %s\n", e.what());
        return 1;
    }
}

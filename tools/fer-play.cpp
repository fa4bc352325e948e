// fer-play: the emotion-based music player. Watches a camera (or a video or a folder of images), decides
// the emotion over N face frames and picks a song of that mood; serves the web page, or with --headless
// prints one JSON line per decision. docs/player.md has the details.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <string>
#include <vector>

#include "fer/ensemble.hpp"
#include "fer/model_file.hpp"
#include "fer/player/emotion_decider.hpp"
#include "fer/player/face_detector.hpp"
#include "fer/player/frame_source.hpp"
#include "fer/player/headless.hpp"
#include "fer/player/local_engine.hpp"
#include "fer/player/mood_map.hpp"
#include "fer/player/music_library.hpp"
#include "fer/player/web_server.hpp"

namespace player = fer::player;

int main(int argc, char** argv) {
    CLI::App app{"fer-play: plays music that fits the emotion on your face"};
    app.set_version_flag("--version", std::string("fer-play ") + FER_VERSION);
    std::string camera, video, images, music = "data/demo/music", cascade, mood_map_path = "data/mood-map.conf";
    std::vector<std::string> model_paths;
    player::DecisionOptions decision;
    player::DetectorOptions detector;
    player::HeadlessOptions headless_options;
    player::WebOptions web;
    bool headless = false, loop = false, no_loop = false;
    std::uint64_t seed = std::uint64_t(std::chrono::system_clock::now().time_since_epoch().count());

    auto* sources = app.add_option_group("source", "where the frames come from (give exactly one)");
    sources->add_option("--camera", camera, "camera index or device, e.g. 0 or /dev/video0 (V4L2)");
    sources->add_option("--video", video, "a video file, e.g. data/demo/clip.avi");
    sources->add_option("--images", images, "a folder of images, read in file-name order");
    sources->require_option(1);
    app.add_flag("--loop", loop, "restart a video or image folder at its end (the default for the web page)");
    app.add_flag("--no-loop", no_loop, "stop at the end of a video or image folder (the default for --headless)");
    app.add_option("--model", model_paths,
                   "model file; repeat for a soft-voting ensemble, or one ensemble file NAME.txt (default: "
                   "data/models/ensemble.txt, else every data/models/*.fer)");
    app.add_option("--music", music, "music folder, scanned recursively")->capture_default_str();
    app.add_option("--mood-map", mood_map_path, "emotion -> genres map")->capture_default_str();
    app.add_option("--cascade", cascade, "Haar face cascade (default: found in opencv-data or $FER_CASCADE)");
    app.add_option("--frames", decision.frames, "face frames per decision")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_option("--timeout", decision.timeout_seconds, "seconds to find the faces before 'no_face'")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--min-confidence", decision.min_confidence,
                   "below this averaged probability the decision is 'low_confidence' and the mood is kept")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--margin", decision.margin, "face crop margin, a fraction of the box per side")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--min-face", detector.min_face, "smallest face in pixels")
        ->capture_default_str()
        ->check(CLI::Range(24, 4096));
    app.add_flag("--headless", headless, "no web page: print one JSON line per decision");
    app.add_flag("--once", headless_options.once, "with --headless: stop after one decision");
    app.add_option("--play-cmd", headless_options.play_command,
                   "with --headless: play each track with this command, {} = the quoted path (e.g. 'aplay -q {}')");
    app.add_option("--interval", headless_options.interval_seconds,
                   "with --headless and no --play-cmd: seconds between looks (default: the track's length)");
    app.add_option("--port", web.port, "web server port")->capture_default_str()->check(CLI::Range(0, 65535));
    app.add_option("--host", web.host, "web server address (127.0.0.1: this machine only)")->capture_default_str();
    app.add_option("--web-root", web.web_root, "serve the page from this folder instead of the built-in copy");
    app.add_option("--threads", decision.threads, "inference threads (0 = all cores)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--seed", seed, "seed for the track choice (default: the clock)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "fer-play: error: %s (see --help)\n", e.what());
        return 2;
    }
    // OpenCV's own warnings (a camera that cannot be opened) would duplicate our one-line errors.
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);

    try {
        if (loop && no_loop) throw std::invalid_argument("--loop and --no-loop contradict each other");
        const fer::EnsembleSpec ensemble = fer::ensemble_from_arguments(model_paths, {}, "data/models");
        model_paths = ensemble.model_paths;
        decision.weights = ensemble.weights;
        decision.tta = decision.tta || ensemble.tta;
        if (model_paths.empty())
            throw std::invalid_argument("no model: pass --model FILE (there is no data/models/*.fer here)");
        if (decision.threads > 0) cv::setNumThreads(decision.threads);

        // Cheap checks first, so that a typo fails before the models load.
        player::MusicLibrary library = player::MusicLibrary::scan(music);
        for (const auto& warning : library.warnings()) std::fprintf(stderr, "fer-play: warning: %s\n", warning.c_str());
        detector.cascade_path = cascade;
        player::FaceDetector face_detector(detector);

        std::vector<fer::Network> networks;
        for (const auto& path : model_paths) networks.push_back(fer::load_model(path).network);
        player::EmotionDecider decider(std::move(networks), decision);
        player::MoodMap mood_map = player::MoodMap::load(mood_map_path, decider.classes());
        for (const auto& emotion : decider.classes())
            if (mood_map.genres(emotion).empty())
                std::fprintf(stderr, "fer-play: warning: %s maps no genres for '%s'; it will fall back\n",
                             mood_map_path.c_str(), emotion.c_str());

        player::SourceOptions source_options;
        // A page should never run out of frames; a headless run over a file ends with the file.
        source_options.loop = loop || (!headless && !no_loop);
        std::unique_ptr<player::FrameSource> source = !camera.empty() ? player::open_camera(camera, source_options)
                                                      : !video.empty()
                                                          ? player::open_video(video, source_options)
                                                          : player::open_image_folder(images, source_options);

        player::LocalEngine engine(std::move(source), std::move(face_detector), std::move(decider), std::move(library),
                                   std::move(mood_map), seed);
        if (headless) {
            headless_options.track_seconds = [&engine](const player::Track& track) {
                return engine.library().seconds(track.id);
            };
            return player::run_headless(engine, headless_options, std::cout, std::cerr);
        }
        player::run_web_server(engine, web);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fer-play: error: %s\n", e.what());
        return 1;
    }
}

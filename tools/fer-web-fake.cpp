// fer-web-fake: TEST-ONLY. fer-play's web server over a FakeEngine (generated WAV tracks, scripted
// emotions), so the page can be driven in a browser without a camera or a model. Used by tests/e2e/run.sh.
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "../tests/player/fake_engine.hpp"
#include "fer/player/web_server.hpp"

int main(int argc, char** argv) {
    CLI::App app{"fer-web-fake: TEST-ONLY web server over a fake engine (no camera, no model)"};
    app.set_version_flag("--version", std::string("fer-web-fake ") + FER_VERSION);
    fer::player::WebOptions options;
    options.port = 0;
    std::string music, script = "happy,sad,surprise,no_face,neutral";
    double seconds = 2.0;
    int look_ms = 600;
    app.add_option("--host", options.host, "address to listen on")->capture_default_str();
    app.add_option("--port", options.port, "port (0 = any free port; the address is printed)")->capture_default_str();
    app.add_option("--web-root", options.web_root, "serve the page from this folder instead of the embedded copy");
    app.add_option("--music", music, "folder to write the generated WAV tracks into")->required();
    app.add_option("--seconds", seconds, "length of each generated track")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 600.0));
    app.add_option("--look-ms", look_ms, "how long each fake look takes")
        ->capture_default_str()
        ->check(CLI::Range(0, 60000));
    app.add_option("--script", script,
                   "comma-separated emotions the fake engine decides in turn ('no_face' and 'source_lost' too)")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        std::vector<std::string> emotions;
        std::stringstream list(script);
        for (std::string emotion; std::getline(list, emotion, ',');) {
            if (!emotion.empty()) emotions.push_back(emotion);
        }
        fer::player::testing::FakeEngine engine(fer::player::testing::write_fake_library(music, seconds), emotions,
                                                std::chrono::milliseconds(look_ms));
        fer::player::run_web_server(engine, options);
    } catch (const std::exception& e) {
        std::cerr << "fer-web-fake: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

// Shared pieces of the player tests: where the demo data and a trained model are, a tiny untrained
// network of the right shape, scripted frame sources, a WAV writer.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fer/architecture.hpp"
#include "fer/network.hpp"
#include "fer/player/frame_source.hpp"

#ifndef FER_SOURCE_DIR
#define FER_SOURCE_DIR "."
#endif
#ifndef FER_BINARY_DIR
#define FER_BINARY_DIR "build"
#endif

namespace fer::player::testing {

inline std::string source_path(const std::string& relative) {
    return std::string(FER_SOURCE_DIR) + "/" + relative;
}
inline std::string demo_clip() {
    return source_path("data/demo/clip.avi");
}
inline std::string demo_music() {
    return source_path("data/demo/music");
}

// A trained model for the checks that need real predictions: $FER_PLAYER_TEST_MODEL, else the shipped
// data/models/five_layer.fer. None: the caller skips those checks and says why.
inline std::optional<std::string> trained_model() {
    if (const char* env = std::getenv("FER_PLAYER_TEST_MODEL"); env && *env) return std::string(env);
    const std::string shipped = source_path("data/models/five_layer.fer");
    if (std::filesystem::is_regular_file(shipped)) return shipped;
    return std::nullopt;
}

// 48x48 grey in, 7 FER2013 classes out; untrained (random weights), so only the plumbing is tested.
inline Network tiny_network(std::uint64_t seed) {
    Architecture arch = parse_architecture(R"(input channels=1 height=48 width=48
conv2d filters=2 kernel=3 stride=1 padding=same bias=true
relu
maxpool2d size=4 stride=4 padding=valid
flatten
dense units=7 bias=true
softmax
)",
                                           "tiny.arch");
    Network net(std::move(arch.layers), InputSpec{},
                {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"});
    net.init(seed);
    return net;
}

// Plays the given frames once (or a blank frame forever when frames is empty and endless is set).
class ScriptedSource : public FrameSource {
public:
    ScriptedSource(std::vector<cv::Mat> frames, bool endless) : frames_(std::move(frames)), endless_(endless) {}
    bool next(cv::Mat& frame) override {
        if (position_ < frames_.size()) {
            frame = frames_[position_++];
        } else if (endless_) {
            frame = cv::Mat(480, 640, CV_8UC3, cv::Scalar(90, 120, 140));
        } else {
            return false;
        }
        ++delivered_;
        return true;
    }
    const std::string& name() const override { return name_; }
    std::uint64_t frames_delivered() const override { return delivered_; }

private:
    std::vector<cv::Mat> frames_;
    bool endless_;
    std::size_t position_ = 0;
    std::uint64_t delivered_ = 0;
    std::string name_ = "scripted";
};

// 8-bit mono PCM WAV of a sine tone, no tags.
inline void write_test_wav(const std::string& path, double seconds = 0.5, int rate = 8000) {
    const std::uint32_t samples = std::uint32_t(seconds * rate);
    std::ofstream out(path, std::ios::binary);
    auto u32 = [&](std::uint32_t v) {
        for (int i = 0; i < 4; ++i) out.put(char((v >> (8 * i)) & 0xFF));
    };
    auto u16 = [&](std::uint16_t v) {
        out.put(char(v & 0xFF));
        out.put(char(v >> 8));
    };
    out.write("RIFF", 4);
    u32(36 + samples + (samples % 2));
    out.write("WAVEfmt ", 8);
    u32(16), u16(1), u16(1), u32(std::uint32_t(rate)), u32(std::uint32_t(rate)), u16(1), u16(8);
    out.write("data", 4);
    u32(samples);
    for (std::uint32_t i = 0; i < samples; ++i) out.put(char(128 + int(100 * std::sin(0.3 * i))));
    if (samples % 2) out.put(0);
}

template <typename Action>
std::string error_message(Action&& action) {
    try {
        action();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

}  // namespace fer::player::testing

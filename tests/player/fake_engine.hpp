// A stand-in Engine for testing the web server and page without a camera, a model or OpenCV: a few
// generated WAV tracks and a scripted sequence of decisions. Used by tests/player/test_web_server.cpp
// and by the test-only tool tools/fer-web-fake.cpp (the browser end-to-end test's server).
#pragma once

#include <time.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fer/player/engine.hpp"

namespace fer::player::testing {

inline const std::vector<std::string>& fake_classes() {
    static const std::vector<std::string> classes{"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
    return classes;
}

inline void append_le(std::vector<std::uint8_t>& out, std::uint32_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

inline void append_be32(std::vector<std::uint8_t>& out, std::uint32_t value) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// 16-bit mono PCM at 8 kHz: a quiet tone, so a track is audible if a person listens and tiny on disk.
inline std::vector<std::uint8_t> make_wav(double seconds, double frequency_hz) {
    const std::uint32_t rate = 8000;
    const auto samples = static_cast<std::uint32_t>(seconds * rate);
    std::vector<std::uint8_t> wav;
    wav.insert(wav.end(), {'R', 'I', 'F', 'F'});
    append_le(wav, 36 + samples * 2, 4);
    wav.insert(wav.end(), {'W', 'A', 'V', 'E', 'f', 'm', 't', ' '});
    append_le(wav, 16, 4);        // fmt chunk size
    append_le(wav, 1, 2);         // PCM
    append_le(wav, 1, 2);         // mono
    append_le(wav, rate, 4);      // sample rate
    append_le(wav, rate * 2, 4);  // byte rate
    append_le(wav, 2, 2);         // block align
    append_le(wav, 16, 2);        // bits per sample
    wav.insert(wav.end(), {'d', 'a', 't', 'a'});
    append_le(wav, samples * 2, 4);
    for (std::uint32_t i = 0; i < samples; ++i) {
        const double t = static_cast<double>(i) / rate;
        const auto sample = static_cast<std::int16_t>(1500.0 * std::sin(2.0 * 3.14159265358979 * frequency_hz * t));
        append_le(wav, static_cast<std::uint16_t>(sample), 2);
    }
    return wav;
}

inline std::uint32_t png_crc32(const std::uint8_t* data, std::size_t size) {
    std::uint32_t crc = 0xffffffffu;
    for (std::size_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

inline void append_png_chunk(std::vector<std::uint8_t>& png, const char* type, const std::vector<std::uint8_t>& data) {
    append_be32(png, static_cast<std::uint32_t>(data.size()));
    const std::size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    append_be32(png, png_crc32(png.data() + start, png.size() - start));
}

// A grey PNG with uncompressed (stored) deflate blocks: valid for every decoder, no zlib needed.
inline std::vector<std::uint8_t> encode_grey_png(int width, int height, const std::vector<std::uint8_t>& pixels) {
    std::vector<std::uint8_t> raw;
    for (int y = 0; y < height; ++y) {
        raw.push_back(0);  // filter: none
        raw.insert(raw.end(), pixels.begin() + y * width, pixels.begin() + (y + 1) * width);
    }
    std::vector<std::uint8_t> zlib{0x78, 0x01};
    for (std::size_t offset = 0; offset < raw.size(); offset += 65535) {
        const std::size_t block = std::min<std::size_t>(65535, raw.size() - offset);
        zlib.push_back(offset + block == raw.size() ? 1 : 0);
        append_le(zlib, static_cast<std::uint32_t>(block), 2);
        append_le(zlib, static_cast<std::uint32_t>(~block & 0xffffu), 2);
        zlib.insert(zlib.end(), raw.begin() + static_cast<std::ptrdiff_t>(offset),
                    raw.begin() + static_cast<std::ptrdiff_t>(offset + block));
    }
    std::uint32_t a = 1, b = 0;
    for (std::uint8_t byte : raw) a = (a + byte) % 65521, b = (b + a) % 65521;
    append_be32(zlib, (b << 16) | a);

    std::vector<std::uint8_t> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    std::vector<std::uint8_t> header;
    append_be32(header, static_cast<std::uint32_t>(width));
    append_be32(header, static_cast<std::uint32_t>(height));
    header.insert(header.end(), {8, 0, 0, 0, 0});  // 8-bit greyscale, deflate, no filter, no interlace
    append_png_chunk(png, "IHDR", header);
    append_png_chunk(png, "IDAT", zlib);
    append_png_chunk(png, "IEND", {});
    return png;
}

// A 48x48 cartoon face, smiling or frowning, standing in for the camera's crop.
inline std::vector<std::uint8_t> make_face_png(bool smiling) {
    const int size = 48;
    std::vector<std::uint8_t> pixels(size * size);
    for (int y = 0; y < size; ++y) {
        for (int x = 0; x < size; ++x) {
            const double dx = (x - 23.5) / 17.0, dy = (y - 24.0) / 21.0;
            std::uint8_t value = dx * dx + dy * dy < 1.0 ? 190 : 40;
            const double eye_l = std::hypot(x - 17.0, y - 18.0), eye_r = std::hypot(x - 30.0, y - 18.0);
            if (eye_l < 2.6 || eye_r < 2.6) value = 30;
            // Image y grows downwards: a smile's corners are higher (smaller y) than its middle.
            const double mouth_y = 33.0 + (smiling ? -0.03 : 0.03) * (x - 23.5) * (x - 23.5);
            if (x >= 16 && x <= 31 && std::abs(y - mouth_y) < 1.2) value = 40;
            pixels[y * size + x] = value;
        }
    }
    return encode_grey_png(size, size, pixels);
}

inline std::string utc_now_iso8601() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

// Writes one short WAV per mood into `folder` and returns the library, ids in path order.
inline std::vector<Track> write_fake_library(const std::string& folder, double seconds) {
    struct Song {
        const char* file;
        const char* title;
        const char* artist;
        const char* genre;
        double frequency_hz;
    };
    const std::array<Song, 4> songs{{{"a_sunny_morning.wav", "Sunny Morning", "The Test Tones", "happy", 523.25},
                                     {"b_rainy_window.wav", "Rainy Window", "The Test Tones", "sad", 220.0},
                                     {"c_quiet_room.wav", "Quiet Room", "Sine Quartet", "neutral", 329.63},
                                     {"d_big_news.wav", "Big News!", "Sine Quartet", "surprise", 659.25}}};
    std::filesystem::create_directories(folder);
    std::vector<Track> tracks;
    for (const Song& song : songs) {
        const std::string path = (std::filesystem::path(folder) / song.file).string();
        const std::vector<std::uint8_t> wav = make_wav(seconds, song.frequency_hz);
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(wav.data()), static_cast<std::streamsize>(wav.size()));
        if (!out) throw std::runtime_error("fake library: cannot write " + path);
        tracks.push_back(Track{tracks.size(), song.title, song.artist, song.genre, path});
    }
    return tracks;
}

// Decisions follow `script` in a loop: an emotion name, "no_face", or "source_lost" (the camera failed:
// source_unavailable until the next look that is not source_lost). The track is the first one whose
// genre is the emotion, else track (look number mod library size) with a warning; no_face and
// source_lost keep the previous decision's track (none before the first), like the real engine.
class FakeEngine : public Engine {
public:
    FakeEngine(std::vector<Track> tracks, std::vector<std::string> script,
               std::chrono::milliseconds look_delay = std::chrono::milliseconds(0))
        : tracks_(std::move(tracks)), script_(std::move(script)), look_delay_(look_delay) {
        if (script_.empty()) throw std::invalid_argument("FakeEngine: the script of emotions is empty");
    }

    const std::vector<Track>& tracks() const override { return tracks_; }

    Decision look() override {
        std::lock_guard lock(look_mutex_);
        if (look_delay_.count() > 0) std::this_thread::sleep_for(look_delay_);
        const std::size_t number = looks_++;
        const std::string& emotion = script_[number % script_.size()];
        Decision decision;
        decision.time = utc_now_iso8601();
        decision.classes = fake_classes();
        decision.probabilities.assign(decision.classes.size(), 0.0f);
        std::unique_lock source_lock(source_mutex_);
        if (emotion == "source_lost") {
            if (source_.available)
                source_ = SourceStatus{false, "camera 0: no frames after 3 reopen attempts", decision.time, 0, 0};
            ++source_.failed_attempts;
            source_.retry_seconds = 1.0;
            decision.event = "source_unavailable";
            decision.source = source_;
            decision.track = last_track_;
            return decision;
        }
        source_ = SourceStatus{};
        source_lock.unlock();
        if (emotion == "no_face") {
            decision.event = "no_face";
            decision.warnings.push_back("no face seen before the timeout");
        } else {
            decision.event = "decision";
            decision.emotion = emotion;
            decision.faces = 5;
            for (std::size_t c = 0; c < decision.classes.size(); ++c) {
                decision.probabilities[c] = decision.classes[c] == emotion ? 0.64f : 0.06f;
            }
            decision.confidence = 0.64;
            decision.face_png = make_face_png(emotion == "happy" || emotion == "surprise");
        }
        if (decision.event == "no_face") {
            decision.track = last_track_;  // like the real engine: the current mood continues
            return decision;
        }
        for (const Track& track : tracks_) {
            if (track.genre == emotion) {
                decision.track = track;
                break;
            }
        }
        if (!decision.track && !tracks_.empty()) {
            decision.track = tracks_[number % tracks_.size()];
            decision.warnings.push_back("no track for '" + emotion + "'; playing '" + decision.track->title + "'");
        }
        last_track_ = decision.track;
        return decision;
    }

    std::size_t looks() const {
        std::lock_guard lock(look_mutex_);
        return looks_;
    }

    // Its own mutex, as in the real engine: the page's state must not wait for a look.
    SourceStatus source_status() const override {
        std::lock_guard lock(source_mutex_);
        return source_;
    }

private:
    std::vector<Track> tracks_;
    std::vector<std::string> script_;
    std::chrono::milliseconds look_delay_;
    mutable std::mutex look_mutex_;
    std::size_t looks_ = 0;
    std::optional<Track> last_track_;
    mutable std::mutex source_mutex_;
    SourceStatus source_;
};

}  // namespace fer::player::testing

// The Engine that runs on this machine: a frame source, the face detector, the emotion decider, the
// music library and the mood map, joined into look(). One mutex serialises look() (the camera, the
// cascade and the networks are single-user), so the web server may call it from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fer/player/emotion_decider.hpp"
#include "fer/player/engine.hpp"
#include "fer/player/face_detector.hpp"
#include "fer/player/frame_source.hpp"
#include "fer/player/mood_map.hpp"
#include "fer/player/music_library.hpp"

namespace fer::player {

// How a source that fails mid-run is retried: the pause after the n-th failed attempt in a row is
// first_delay * 2^(n-1), at most max_delay. look() calls in a pause return at once (source_unavailable)
// without touching the device.
struct SourceRetryOptions {
    std::chrono::milliseconds first_delay{1000};
    std::chrono::milliseconds max_delay{30000};
    // The outage beginning and ending (once each, not every attempt). Empty: printed to stderr.
    std::function<void(const std::string&)> warn;
};

class LocalEngine : public Engine {
public:
    // seed drives the track picker only. Throws std::invalid_argument when source is null.
    LocalEngine(std::unique_ptr<FrameSource> source, FaceDetector detector, EmotionDecider decider,
                MusicLibrary library, MoodMap mood_map, std::uint64_t seed, SourceRetryOptions retry = {});

    const std::vector<Track>& tracks() const override { return library_.tracks(); }

    // Collects faces and decides; see Decision. Events: "decision"; "low_confidence" (the averaged
    // confidence is below DecisionOptions::min_confidence: the guess is reported but the mood is kept,
    // or taken from the guess when there is no mood yet); "no_face" (too few faces before the timeout:
    // the track continues the current mood, none before the first decision); "source_unavailable" (the
    // source failed after delivering frames, or is still in its retry pause: the decision's source says
    // why and when the next attempt is; the track continues the mood). Throws EndOfStream when a finite
    // source ends without enough faces, and SourceUnavailable when a source fails before it ever delivered
    // a frame (an input error, not an outage).
    Decision look() override;
    SourceStatus source_status() const override;

    const MusicLibrary& library() const { return library_; }
    const FrameSource& source() const { return *source_; }
    std::string current_mood() const;

private:
    using Clock = std::chrono::steady_clock;
    // look_time: when the failing look began, which is when the outage is said to start.
    void record_source_failure(const std::string& error, const std::string& look_time);
    void record_source_recovery();
    void warn(const std::string& message) const;
    Decision unavailable_decision(Decision decision);

    mutable std::mutex mutex_;
    std::unique_ptr<FrameSource> source_;
    FaceDetector detector_;
    EmotionDecider decider_;
    MusicLibrary library_;
    TrackPicker picker_;
    std::string mood_;  // the emotion of the last confident decision; empty before it
    SourceRetryOptions retry_;

    mutable std::mutex status_mutex_;  // guards the two below; not held while looking, so the page's
    SourceStatus status_;              // state requests never wait for a look
    Clock::time_point next_attempt_{};
    Clock::time_point outage_start_{};
};

// Now as ISO 8601 UTC to the second, e.g. "2026-11-24T21:41:29Z".
std::string utc_timestamp();

}  // namespace fer::player

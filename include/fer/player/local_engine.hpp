// The Engine that runs on this machine: a frame source, the face detector, the emotion decider, the
// music library and the mood map, joined into look(). One mutex serialises look() (the camera, the
// cascade and the networks are single-user), so the web server may call it from any thread.
#pragma once

#include <cstdint>
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

class LocalEngine : public Engine {
public:
    // seed drives the track picker only. Throws std::invalid_argument when source is null.
    LocalEngine(std::unique_ptr<FrameSource> source, FaceDetector detector, EmotionDecider decider,
                MusicLibrary library, MoodMap mood_map, std::uint64_t seed);

    const std::vector<Track>& tracks() const override { return library_.tracks(); }

    // Collects faces and decides; see Decision. Events: "decision"; "low_confidence" (the averaged
    // confidence is below DecisionOptions::min_confidence: the guess is reported but the mood is kept,
    // or taken from the guess when there is no mood yet); "no_face" (too few faces before the timeout:
    // the track continues the current mood, none before the first decision). Throws EndOfStream when a
    // finite source ends without enough faces, and std::runtime_error when the source fails.
    Decision look() override;

    const MusicLibrary& library() const { return library_; }
    const FrameSource& source() const { return *source_; }
    std::string current_mood() const;

private:
    mutable std::mutex mutex_;
    std::unique_ptr<FrameSource> source_;
    FaceDetector detector_;
    EmotionDecider decider_;
    MusicLibrary library_;
    TrackPicker picker_;
    std::string mood_;  // the emotion of the last confident decision; empty before it
};

// Now as ISO 8601 UTC to the second, e.g. "2026-11-24T21:41:29Z".
std::string utc_timestamp();

}  // namespace fer::player

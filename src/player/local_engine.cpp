#include "fer/player/local_engine.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <opencv2/imgcodecs.hpp>
#include <stdexcept>

namespace fer::player {

std::string utc_timestamp() {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

LocalEngine::LocalEngine(std::unique_ptr<FrameSource> source, FaceDetector detector, EmotionDecider decider,
                         MusicLibrary library, MoodMap mood_map, std::uint64_t seed)
    : source_(std::move(source)),
      detector_(std::move(detector)),
      decider_(std::move(decider)),
      library_(std::move(library)),
      picker_(library_.tracks(), std::move(mood_map), seed) {
    if (!source_) throw std::invalid_argument("LocalEngine: no frame source");
}

std::string LocalEngine::current_mood() const {
    std::lock_guard lock(mutex_);
    return mood_;
}

Decision LocalEngine::look() {
    std::lock_guard lock(mutex_);
    Decision decision;
    decision.time = utc_timestamp();
    decision.classes = decider_.classes();
    FaceCollection collection = decider_.collect_faces(*source_, detector_);
    decision.faces = int(collection.faces.size());

    std::string play_mood;
    if (!decider_.enough_faces(collection)) {
        if (collection.stream_ended) throw EndOfStream(source_->name() + ": end of stream");
        decision.event = "no_face";
        play_mood = mood_;
    } else {
        std::vector<GreyImage> crops;
        crops.reserve(collection.faces.size());
        for (FaceSample& sample : collection.faces) crops.push_back(std::move(sample.face));
        EmotionEstimate estimate = decider_.classify(crops);
        decision.emotion = estimate.emotion;
        decision.confidence = estimate.confidence;
        decision.probabilities = std::move(estimate.probabilities);
        const GreyImage& last = crops.back();
        const cv::Mat face(last.height, last.width, CV_8UC1, const_cast<std::uint8_t*>(last.pixels.data()));
        cv::imencode(".png", face, decision.face_png);

        const double threshold = decider_.options().min_confidence;
        if (threshold > 0 && decision.confidence < threshold) {
            decision.event = "low_confidence";
            char note[160];
            std::snprintf(note, sizeof note, "confidence %.2f below the minimum %.2f; ", decision.confidence,
                          threshold);
            if (mood_.empty()) {
                decision.warnings.push_back(std::string(note) + "no mood yet, so playing for '" + decision.emotion +
                                            "'");
                play_mood = decision.emotion;
            } else {
                decision.warnings.push_back(std::string(note) + "keeping the mood '" + mood_ + "'");
                play_mood = mood_;
            }
        } else {
            decision.event = "decision";
            mood_ = decision.emotion;
            play_mood = mood_;
        }
    }

    if (!play_mood.empty()) {
        TrackChoice choice = picker_.pick(play_mood);
        if (choice.id) decision.track = library_.tracks()[*choice.id];
        for (auto& warning : choice.warnings) decision.warnings.push_back(std::move(warning));
    }
    return decision;
}

}  // namespace fer::player

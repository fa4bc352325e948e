#include "fer/player/local_engine.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
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

namespace {

double seconds_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

std::string whole_seconds(double seconds) {
    return std::to_string(static_cast<long long>(std::ceil(seconds))) + " s";
}

}  // namespace

LocalEngine::LocalEngine(std::unique_ptr<FrameSource> source, FaceDetector detector, EmotionDecider decider,
                         MusicLibrary library, MoodMap mood_map, std::uint64_t seed, SourceRetryOptions retry)
    : source_(std::move(source)),
      detector_(std::move(detector)),
      decider_(std::move(decider)),
      library_(std::move(library)),
      picker_(library_.tracks(), std::move(mood_map), seed),
      retry_(std::move(retry)) {
    if (!source_) throw std::invalid_argument("LocalEngine: no frame source");
    if (retry_.first_delay.count() <= 0 || retry_.max_delay < retry_.first_delay)
        throw std::invalid_argument("LocalEngine: the retry delays must be positive, the longest at least the first");
}

std::string LocalEngine::current_mood() const {
    std::lock_guard lock(mutex_);
    return mood_;
}

SourceStatus LocalEngine::source_status() const {
    std::lock_guard lock(status_mutex_);
    SourceStatus status = status_;
    if (!status.available) status.retry_seconds = std::max(0.0, seconds_between(Clock::now(), next_attempt_));
    return status;
}

void LocalEngine::record_source_failure(const std::string& error, const std::string& look_time) {
    std::string news;
    {
        std::lock_guard lock(status_mutex_);
        const bool outage_begins = status_.available;
        if (outage_begins) {
            status_.available = false;
            status_.since = look_time;
            status_.failed_attempts = 0;
            outage_start_ = Clock::now();
        }
        status_.error = error;
        ++status_.failed_attempts;
        // Doubling pauses: a brief glitch is retried soon, a camera unplugged for good is not polled hard.
        auto pause = retry_.first_delay;
        for (int n = 1; n < status_.failed_attempts && pause < retry_.max_delay; ++n) pause *= 2;
        pause = std::min(pause, retry_.max_delay);
        next_attempt_ = Clock::now() + pause;
        if (outage_begins)
            news = error + "; retrying in " + whole_seconds(std::chrono::duration<double>(pause).count()) +
                   ", then less often (at least every " +
                   whole_seconds(std::chrono::duration<double>(retry_.max_delay).count()) + ")";
    }
    if (!news.empty()) warn(news);
}

void LocalEngine::record_source_recovery() {
    std::string news;
    {
        std::lock_guard lock(status_mutex_);
        if (status_.available) return;
        news = "frame source " + source_->name() + " works again after " +
               whole_seconds(seconds_between(outage_start_, Clock::now())) + " (" +
               std::to_string(status_.failed_attempts) + " failed attempts)";
        status_ = SourceStatus{};
    }
    warn(news);
}

void LocalEngine::warn(const std::string& message) const {
    if (retry_.warn)
        retry_.warn(message);
    else
        std::fprintf(stderr, "fer-play: warning: %s\n", message.c_str());
}

Decision LocalEngine::unavailable_decision(Decision decision) {
    decision.event = "source_unavailable";
    decision.source = source_status();
    // The music goes on in the current mood while there is nothing to look at.
    if (!mood_.empty()) {
        TrackChoice choice = picker_.pick(mood_);
        if (choice.id) decision.track = library_.tracks()[*choice.id];
        for (auto& warning : choice.warnings) decision.warnings.push_back(std::move(warning));
    }
    return decision;
}

Decision LocalEngine::look() {
    std::lock_guard lock(mutex_);
    Decision decision;
    decision.time = utc_timestamp();
    decision.classes = decider_.classes();
    bool pausing;
    {
        std::lock_guard status_lock(status_mutex_);
        pausing = !status_.available && Clock::now() < next_attempt_;
    }
    if (pausing) return unavailable_decision(std::move(decision));
    FaceCollection collection;
    try {
        collection = decider_.collect_faces(*source_, detector_);
    } catch (const SourceUnavailable& error) {
        // A source that never delivered a frame is misconfigured rather than interrupted: an input error.
        if (source_->frames_delivered() == 0) throw;
        record_source_failure(error.what(), decision.time);
        return unavailable_decision(std::move(decision));
    }
    record_source_recovery();
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

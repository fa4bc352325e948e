// The decision rule (the paper's steps 4-5): collect N face crops from consecutive frames, classify them
// in one batch with the model or a soft-voting ensemble, average the class probabilities over the
// crops, and take the most probable emotion. Averaging over several frames smooths out blinks, motion
// blur and single-frame misreadings that a one-snapshot player would act on.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <span>
#include <string>
#include <vector>

#include "fer/image.hpp"
#include "fer/network.hpp"
#include "fer/player/face_detector.hpp"
#include "fer/player/frame_source.hpp"

namespace fer::player {

struct DecisionOptions {
    int frames = 10;               // N: face crops per decision
    int min_faces = 0;             // faces needed at the timeout for a decision anyway; 0 means (N + 1) / 2
    double timeout_seconds = 10;   // give up collecting after this long (event no_face)
    double min_confidence = 0;     // below it the decision is flagged low_confidence; 0 disables
    double margin = 0.1;           // crop margin around the detected box, a fraction of its size per side
    int threads = 0;               // inference threads; 0 means all cores
    std::vector<float> weights{};  // one per ensemble member; empty: equal (data/models/ensemble.txt gives them)
    bool tta = false;              // average each face with its mirror
};

struct FaceSample {
    GreyImage face;           // model input size, as the model sees it (before normalisation)
    cv::Rect box;             // the detected box in the frame
    std::uint64_t frame = 0;  // the source's frame number (1-based count of frames delivered)
};

struct FaceCollection {
    std::vector<FaceSample> faces;
    std::uint64_t frames_read = 0;
    bool stream_ended = false;  // a finite source ran out before N faces or the timeout
    bool timed_out = false;
};

struct EmotionEstimate {
    std::string emotion;
    double confidence = 0;             // averaged probability of emotion
    std::vector<float> probabilities;  // averaged over the faces, indexed like the model's classes
    int faces = 0;
};

class EmotionDecider {
public:
    // Takes the ensemble members; they must share the class list and a one-channel input size.
    // Throws std::invalid_argument (no model, mismatched members, bad options).
    EmotionDecider(std::vector<Network> networks, const DecisionOptions& options);

    // Reads frames until N faces (the largest face of each frame), the timeout, or the end of a finite
    // source. Frames without a face are skipped.
    FaceCollection collect_faces(FrameSource& source, FaceDetector& detector);

    // faces are (H,W) crops at the model's input size. One batched forward per member; probabilities
    // averaged over members (soft voting), then over faces. Throws std::invalid_argument for no faces
    // or a wrong size.
    EmotionEstimate classify(std::span<const GreyImage> faces);

    // Enough faces for a decision: N, or at least min_faces when collection stopped early.
    bool enough_faces(const FaceCollection& collection) const;

    const std::vector<std::string>& classes() const { return networks_.front().class_names(); }
    const InputSpec& input() const { return networks_.front().input(); }
    const DecisionOptions& options() const { return options_; }

private:
    std::vector<Network> networks_;
    DecisionOptions options_;
};

}  // namespace fer::player

#include "fer/player/emotion_decider.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "fer/dataset.hpp"
#include "fer/evaluate.hpp"

namespace fer::player {

EmotionDecider::EmotionDecider(std::vector<Network> networks, const DecisionOptions& options)
    : networks_(std::move(networks)), options_(options) {
    if (networks_.empty()) throw std::invalid_argument("emotion decider: no model given");
    if (options_.frames < 1) throw std::invalid_argument("emotion decider: --frames must be >= 1");
    if (options_.min_faces <= 0) options_.min_faces = (options_.frames + 1) / 2;
    options_.min_faces = std::min(options_.min_faces, options_.frames);
    if (!(options_.timeout_seconds > 0)) throw std::invalid_argument("emotion decider: --timeout must be > 0");
    if (options_.min_confidence < 0 || options_.min_confidence > 1)
        throw std::invalid_argument("emotion decider: --min-confidence must be in [0, 1]");
    if (!options_.weights.empty() && options_.weights.size() != networks_.size())
        throw std::invalid_argument("emotion decider: " + std::to_string(options_.weights.size()) + " weights for " +
                                    std::to_string(networks_.size()) + " models");
    const Network& first = networks_.front();
    for (const Network& net : networks_) {
        if (net.input().channels != 1)
            throw std::invalid_argument("emotion decider: models must take one grey channel");
        if (net.input().height != first.input().height || net.input().width != first.input().width)
            throw std::invalid_argument("emotion decider: ensemble members have different input sizes");
        if (net.class_names() != first.class_names())
            throw std::invalid_argument("emotion decider: ensemble members have different class lists");
    }
}

FaceCollection EmotionDecider::collect_faces(FrameSource& source, FaceDetector& detector) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(
                                             std::chrono::duration<double>(options_.timeout_seconds));
    FaceCollection collection;
    cv::Mat frame;
    while (int(collection.faces.size()) < options_.frames) {
        if (clock::now() >= deadline) {
            collection.timed_out = true;
            break;
        }
        if (!source.next(frame)) {
            collection.stream_ended = true;
            break;
        }
        ++collection.frames_read;
        const cv::Mat grey = to_grey(frame);
        std::optional<cv::Rect> box = detector.largest_face(grey);
        if (!box) continue;
        collection.faces.push_back(
            {crop_face(grey, *box, options_.margin, input().width, input().height), *box, source.frames_delivered()});
    }
    return collection;
}

bool EmotionDecider::enough_faces(const FaceCollection& collection) const {
    const int faces = int(collection.faces.size());
    return faces >= options_.frames || (faces > 0 && faces >= options_.min_faces);
}

EmotionEstimate EmotionDecider::classify(std::span<const GreyImage> faces) {
    if (faces.empty()) throw std::invalid_argument("emotion decider: no faces to classify");
    Dataset batch;
    batch.height = input().height;
    batch.width = input().width;
    batch.classes = classes();
    batch.pixels.reserve(faces.size() * batch.image_size());
    for (const GreyImage& face : faces) {
        if (face.width != batch.width || face.height != batch.height)
            throw std::invalid_argument("emotion decider: a " + std::to_string(face.width) + "x" +
                                        std::to_string(face.height) + " crop for a model of " +
                                        std::to_string(batch.width) + "x" + std::to_string(batch.height));
        batch.pixels.insert(batch.pixels.end(), face.pixels.begin(), face.pixels.end());
    }
    batch.labels.assign(faces.size(), 0);
    batch.sources.assign(faces.size(), "camera");

    std::vector<Network*> members;
    for (Network& net : networks_) members.push_back(&net);
    PredictOptions predict;
    predict.threads = options_.threads;
    predict.batch = int(faces.size());
    predict.tta = options_.tta;
    const std::vector<float> per_face = predict_probabilities(members, options_.weights, batch, predict);

    const std::size_t k = classes().size();
    EmotionEstimate estimate;
    estimate.faces = int(faces.size());
    estimate.probabilities.assign(k, 0.0f);
    for (std::size_t i = 0; i < faces.size(); ++i)
        for (std::size_t c = 0; c < k; ++c) estimate.probabilities[c] += per_face[i * k + c];
    for (float& p : estimate.probabilities) p /= float(faces.size());
    const std::size_t best =
        std::size_t(std::max_element(estimate.probabilities.begin(), estimate.probabilities.end()) -
                    estimate.probabilities.begin());
    estimate.emotion = classes()[best];
    estimate.confidence = estimate.probabilities[best];
    return estimate;
}

}  // namespace fer::player

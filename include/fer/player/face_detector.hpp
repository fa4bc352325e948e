// Finding the face in a frame (OpenCV's Haar cascade) and turning it into model input. crop_face is the
// player's one preprocessing step, and it ends in fer::resize_area, the same area resampling that
// prepared the training images, so the live crops and the training crops cannot drift apart.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fer/image.hpp"

namespace fer::player {

struct DetectorOptions {
    std::string cascade_path;   // empty: find_face_cascade() looks in the usual places
    double scale_factor = 1.2;  // 1.1 finds a few more faces at a third of the speed (docs/player.md)
    int min_neighbors = 5;
    int min_face = 80;  // smallest face, in pixels of the full frame
    // Frames wider than this are shrunk to it before detection and the boxes scaled back: detection cost
    // falls with the square of the width, and a face of min_face pixels is still well above the
    // cascade's 24-pixel window. 0 detects at full size.
    int detect_width = 320;
};

// Where find_face_cascade looks, in order: $FER_CASCADE, then the Debian opencv-data folders.
std::vector<std::string> face_cascade_candidates();
// explicit_path when not empty (it must exist), else the first candidate that exists. Throws
// std::runtime_error naming every path tried.
std::string find_face_cascade(const std::string& explicit_path = "");

// 8-bit, one channel. BGR (or BGRA) frames are converted with OpenCV's luma weights; grey ones shared.
cv::Mat to_grey(const cv::Mat& frame);

class FaceDetector {
public:
    // Throws std::runtime_error naming the cascade file when it cannot be loaded.
    explicit FaceDetector(const DetectorOptions& options = {});

    // grey is (H,W) 8-bit. Faces in frame coordinates, largest first.
    std::vector<cv::Rect> detect(const cv::Mat& grey);
    std::optional<cv::Rect> largest_face(const cv::Mat& grey);

    const std::string& cascade_path() const { return cascade_path_; }
    const DetectorOptions& options() const { return options_; }

private:
    DetectorOptions options_;
    std::string cascade_path_;
    cv::CascadeClassifier cascade_;
    cv::Mat small_, equalized_;  // scratch, reused across frames
};

// The face box grown by margin (a fraction of its width and height on every side) and clamped to the frame.
cv::Rect expand_face_box(const cv::Rect& face, double margin, const cv::Size& frame);

// grey is (H,W) 8-bit; face a box in it. The box grown by margin, clamped, copied out and resized to
// width x height with fer::resize_area. Throws std::invalid_argument when the box misses the frame.
GreyImage crop_face(const cv::Mat& grey, const cv::Rect& face, double margin, int width, int height);

}  // namespace fer::player

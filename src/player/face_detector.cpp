#include "fer/player/face_detector.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace fer::player {

std::vector<std::string> face_cascade_candidates() {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("FER_CASCADE"); env && *env) candidates.emplace_back(env);
    candidates.emplace_back("/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml");
    candidates.emplace_back("/usr/share/opencv/haarcascades/haarcascade_frontalface_default.xml");
    return candidates;
}

std::string find_face_cascade(const std::string& explicit_path) {
    std::error_code ec;
    if (!explicit_path.empty()) {
        if (!std::filesystem::is_regular_file(explicit_path, ec))
            throw std::runtime_error("face cascade " + explicit_path + ": no such file");
        return explicit_path;
    }
    std::string tried;
    for (const auto& path : face_cascade_candidates()) {
        if (std::filesystem::is_regular_file(path, ec)) return path;
        tried += (tried.empty() ? "" : ", ") + path;
    }
    throw std::runtime_error("no face cascade found (tried " + tried +
                             "); install opencv-data, set FER_CASCADE or pass --cascade");
}

cv::Mat to_grey(const cv::Mat& frame) {
    if (frame.empty()) throw std::invalid_argument("to_grey: empty frame");
    if (frame.depth() != CV_8U) throw std::invalid_argument("to_grey: frames must be 8-bit");
    if (frame.channels() == 1) return frame;
    cv::Mat grey;
    cv::cvtColor(frame, grey, frame.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    return grey;
}

FaceDetector::FaceDetector(const DetectorOptions& options)
    : options_(options), cascade_path_(find_face_cascade(options.cascade_path)) {
    if (!(options_.scale_factor > 1.0)) throw std::invalid_argument("face detector: scale factor must be > 1");
    if (options_.min_face < 1) throw std::invalid_argument("face detector: minimum face size must be >= 1");
    bool loaded = false;
    try {
        loaded = cascade_.load(cascade_path_) && !cascade_.empty();
    } catch (const cv::Exception&) {
        // OpenCV throws for a malformed XML file and returns false for a well-formed non-cascade.
    }
    if (!loaded) throw std::runtime_error("face cascade " + cascade_path_ + ": not a cascade OpenCV can load");
}

std::vector<cv::Rect> FaceDetector::detect(const cv::Mat& grey) {
    if (grey.empty() || grey.type() != CV_8UC1)
        throw std::invalid_argument("FaceDetector::detect: need an 8-bit grey frame");
    double shrink = 1.0;
    const cv::Mat* search = &grey;
    if (options_.detect_width > 0 && grey.cols > options_.detect_width) {
        shrink = double(options_.detect_width) / grey.cols;
        cv::resize(grey, small_, cv::Size(), shrink, shrink, cv::INTER_AREA);
        search = &small_;
    }
    // Equalising only the detector's copy makes it robust to dim webcams; the crop for the model comes
    // from the untouched frame, because the training faces were not equalised.
    cv::equalizeHist(*search, equalized_);
    const int min_face = std::max(1, int(std::lround(options_.min_face * shrink)));
    std::vector<cv::Rect> found;
    cascade_.detectMultiScale(equalized_, found, options_.scale_factor, options_.min_neighbors, 0,
                              cv::Size(min_face, min_face));
    std::vector<cv::Rect> faces;
    faces.reserve(found.size());
    const cv::Rect frame(0, 0, grey.cols, grey.rows);
    for (const cv::Rect& box : found) {
        cv::Rect scaled(int(std::lround(box.x / shrink)), int(std::lround(box.y / shrink)),
                        int(std::lround(box.width / shrink)), int(std::lround(box.height / shrink)));
        scaled &= frame;
        if (scaled.area() > 0) faces.push_back(scaled);
    }
    std::stable_sort(faces.begin(), faces.end(),
                     [](const cv::Rect& a, const cv::Rect& b) { return a.area() > b.area(); });
    return faces;
}

std::optional<cv::Rect> FaceDetector::largest_face(const cv::Mat& grey) {
    std::vector<cv::Rect> faces = detect(grey);
    if (faces.empty()) return std::nullopt;
    return faces.front();
}

cv::Rect expand_face_box(const cv::Rect& face, double margin, const cv::Size& frame) {
    const int grow_x = int(std::lround(face.width * margin)), grow_y = int(std::lround(face.height * margin));
    cv::Rect grown(face.x - grow_x, face.y - grow_y, face.width + 2 * grow_x, face.height + 2 * grow_y);
    return grown & cv::Rect(0, 0, frame.width, frame.height);
}

GreyImage crop_face(const cv::Mat& grey, const cv::Rect& face, double margin, int width, int height) {
    if (grey.empty() || grey.type() != CV_8UC1) throw std::invalid_argument("crop_face: need an 8-bit grey frame");
    if (margin < 0) throw std::invalid_argument("crop_face: margin must be >= 0");
    const cv::Rect box = expand_face_box(face, margin, grey.size());
    if (box.area() <= 0)
        throw std::invalid_argument("crop_face: face box (" + std::to_string(face.x) + "," + std::to_string(face.y) +
                                    " " + std::to_string(face.width) + "x" + std::to_string(face.height) +
                                    ") lies outside the " + std::to_string(grey.cols) + "x" +
                                    std::to_string(grey.rows) + " frame");
    GreyImage region;
    region.width = box.width;
    region.height = box.height;
    region.pixels.resize(std::size_t(box.width) * std::size_t(box.height));
    for (int y = 0; y < box.height; ++y) {
        const std::uint8_t* row = grey.ptr<std::uint8_t>(box.y + y) + box.x;
        std::copy(row, row + box.width, region.pixels.begin() + std::ptrdiff_t(y) * box.width);
    }
    return resize_area(region, width, height);
}

}  // namespace fer::player

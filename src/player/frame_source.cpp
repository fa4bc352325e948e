#include "fer/player/frame_source.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <thread>
#include <vector>

namespace fer::player {
namespace {

namespace fs = std::filesystem;

void report(const SourceOptions& options, const std::string& message) {
    if (options.warn)
        options.warn(message);
    else
        std::fprintf(stderr, "fer-play: warning: %s\n", message.c_str());
}

bool is_all_digits(const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Camera and video file: both are cv::VideoCapture, differing in how they open and in what a failed
// read means (a file ends; a camera has failed).
class CaptureSource : public FrameSource {
public:
    CaptureSource(std::string name, bool is_camera, SourceOptions options)
        : name_(std::move(name)), is_camera_(is_camera), options_(std::move(options)) {
        if (!is_camera_) {
            std::error_code ec;
            if (!fs::is_regular_file(name_, ec)) throw std::runtime_error("video " + name_ + ": no such file");
        }
        if (!open())
            throw std::runtime_error(is_camera_ ? "cannot open camera " + name_ + " (V4L2): no such device, or busy"
                                                : "video " + name_ + ": cannot be opened or decoded");
    }

    bool next(cv::Mat& frame) override {
        int failures = 0;
        for (;;) {
            if (capture_.read(frame) && !frame.empty()) {
                ++delivered_;
                ++since_open_;
                return true;
            }
            // A file that delivered frames since it was opened has simply ended.
            if (!is_camera_ && since_open_ > 0) {
                if (!options_.loop) return false;
                if (open()) continue;
            }
            if (failures++ >= options_.reopen_attempts)
                throw std::runtime_error((is_camera_ ? "camera " : "video ") + name_ + ": no frames after " +
                                         std::to_string(options_.reopen_attempts) + " reopen attempts");
            report(options_, (is_camera_ ? "camera " : "video ") + name_ + ": no frame; reopening (attempt " +
                                 std::to_string(failures) + " of " + std::to_string(options_.reopen_attempts) + ")");
            std::this_thread::sleep_for(options_.reopen_delay);
            open();
        }
    }

    const std::string& name() const override { return name_; }
    std::uint64_t frames_delivered() const override { return delivered_; }

private:
    bool open() {
        capture_.release();
        since_open_ = 0;
        // FFmpeg reads every common format; OpenCV's own MJPEG reader is the fallback for builds without
        // it. Not CAP_ANY: its other back ends (GStreamer, image sequences) print alarming noise when
        // handed a file that is not a video.
        if (!is_camera_) return capture_.open(name_, cv::CAP_FFMPEG) || capture_.open(name_, cv::CAP_OPENCV_MJPEG);
        bool opened =
            is_all_digits(name_) ? capture_.open(std::stoi(name_), cv::CAP_V4L2) : capture_.open(name_, cv::CAP_V4L2);
        if (opened) {
            capture_.set(cv::CAP_PROP_FRAME_WIDTH, options_.camera_width);
            capture_.set(cv::CAP_PROP_FRAME_HEIGHT, options_.camera_height);
        }
        return opened;
    }

    std::string name_;
    bool is_camera_;
    SourceOptions options_;
    cv::VideoCapture capture_;
    std::uint64_t delivered_ = 0, since_open_ = 0;
};

bool is_image_file(const fs::path& path) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

class ImageFolderSource : public FrameSource {
public:
    ImageFolderSource(std::string folder, SourceOptions options)
        : name_(std::move(folder)), options_(std::move(options)) {
        std::error_code ec;
        if (!fs::is_directory(name_, ec)) throw std::runtime_error("image folder " + name_ + ": no such folder");
        for (const auto& entry : fs::directory_iterator(name_))
            if (entry.is_regular_file() && is_image_file(entry.path())) files_.push_back(entry.path().string());
        if (files_.empty()) throw std::runtime_error("image folder " + name_ + ": no png/jpg/jpeg/bmp files");
        std::sort(files_.begin(), files_.end());
    }

    bool next(cv::Mat& frame) override {
        // Bounded so that a looping folder of nothing but unreadable files ends in an error, not a hang.
        for (std::size_t tries = 0; tries < files_.size(); ++tries) {
            if (position_ == files_.size()) {
                if (!options_.loop) return false;
                position_ = 0;
            }
            const std::string& path = files_[position_++];
            // ANYCOLOR keeps grey files grey (no copy into three channels) and drops alpha; depth becomes 8-bit.
            frame = cv::imread(path, cv::IMREAD_ANYCOLOR);
            if (!frame.empty()) {
                ++delivered_;
                return true;
            }
            report(options_, path + ": cannot be decoded; skipped");
        }
        if (position_ == files_.size() && !options_.loop) return false;
        throw std::runtime_error("image folder " + name_ + ": none of its images can be decoded");
    }

    const std::string& name() const override { return name_; }
    std::uint64_t frames_delivered() const override { return delivered_; }

private:
    std::string name_;
    SourceOptions options_;
    std::vector<std::string> files_;
    std::size_t position_ = 0;
    std::uint64_t delivered_ = 0;
};

}  // namespace

std::unique_ptr<FrameSource> open_camera(const std::string& device, const SourceOptions& options) {
    return std::make_unique<CaptureSource>(device, true, options);
}

std::unique_ptr<FrameSource> open_video(const std::string& path, const SourceOptions& options) {
    return std::make_unique<CaptureSource>(path, false, options);
}

std::unique_ptr<FrameSource> open_image_folder(const std::string& folder, const SourceOptions& options) {
    return std::make_unique<ImageFolderSource>(folder, options);
}

}  // namespace fer::player

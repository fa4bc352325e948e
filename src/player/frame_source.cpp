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
        // Closed after an outage: one attempt per call, so that the caller paces the retries.
        if (!capture_.isOpened() && !open())
            throw SourceUnavailable(kind() + name_ +
                                    (is_camera_ ? ": cannot be opened (unplugged, or busy?)"
                                                : ": cannot be opened (deleted, or not a video any more?)"));
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
            if (failures++ >= options_.reopen_attempts) {
                capture_.release();
                throw SourceUnavailable(kind() + name_ + ": no frames after " +
                                        std::to_string(options_.reopen_attempts) + " reopen attempts");
            }
            report(options_, kind() + name_ + ": no frame; reopening (attempt " + std::to_string(failures) + " of " +
                                 std::to_string(options_.reopen_attempts) + ")");
            std::this_thread::sleep_for(options_.reopen_delay);
            open();
        }
    }

    const std::string& name() const override { return name_; }
    std::uint64_t frames_delivered() const override { return delivered_; }

private:
    std::string kind() const { return is_camera_ ? "camera " : "video "; }

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
        files_ = list_images();
        if (files_.empty()) throw std::runtime_error("image folder " + name_ + ": no png/jpg/jpeg/bmp files");
    }

    bool next(cv::Mat& frame) override {
        // Bounded so that a looping folder of nothing but unreadable files is reported, not a hang.
        std::size_t failed = 0;
        for (;;) {
            if (position_ == files_.size()) {
                if (!options_.loop) return false;
                files_ = list_images();
                position_ = 0;
                if (files_.empty())
                    throw SourceUnavailable("image folder " + name_ + ": no png/jpg/jpeg/bmp files any more");
            }
            if (failed >= files_.size())
                throw SourceUnavailable("image folder " + name_ + ": none of its images can be read or decoded");
            const std::string& path = files_[position_++];
            // ANYCOLOR keeps grey files grey (no copy into three channels) and drops alpha; depth becomes 8-bit.
            // A file deleted since the listing is not handed to imread, which would log its own warning.
            std::error_code ec;
            frame = fs::is_regular_file(path, ec) ? cv::imread(path, cv::IMREAD_ANYCOLOR) : cv::Mat();
            if (!frame.empty()) {
                ++delivered_;
                return true;
            }
            ++failed;
            report(options_, path + ": cannot be read or decoded; skipped");
        }
    }

    const std::string& name() const override { return name_; }
    std::uint64_t frames_delivered() const override { return delivered_; }

private:
    // Sorted; error codes rather than exceptions, since the folder may change while it is listed.
    std::vector<std::string> list_images() const {
        std::error_code ec;
        if (!fs::is_directory(name_, ec))
            throw SourceUnavailable("image folder " + name_ + ": no such folder any more");
        std::vector<std::string> files;
        for (fs::directory_iterator it(name_, ec), end; !ec && it != end; it.increment(ec)) {
            std::error_code type_error;
            if (it->is_regular_file(type_error) && is_image_file(it->path())) files.push_back(it->path().string());
        }
        if (ec) throw SourceUnavailable("image folder " + name_ + ": cannot be listed: " + ec.message());
        std::sort(files.begin(), files.end());
        return files;
    }

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

// Where the player's frames come from: a camera (V4L2), a video file, or a folder of images, behind one
// interface. A camera or video that stops delivering frames mid-run is reopened a few times before the
// source reports itself unavailable (SourceUnavailable, naming the device or file); it stays usable, and
// each later call to next() tries again, so the caller decides how often to retry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>

namespace fer::player {

// A finite source (video or image folder without looping) has no more frames.
class EndOfStream : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The source cannot deliver frames now: a camera unplugged, a video or image folder deleted, emptied or
// unreadable. Not the end of a finite stream (next() returns false for that).
class SourceUnavailable : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SourceOptions {
    bool loop = false;        // files only: restart at the end instead of ending the stream
    int reopen_attempts = 3;  // a camera or video that fails mid-run is reopened this many times
    std::chrono::milliseconds reopen_delay{500};
    int camera_width = 640, camera_height = 480;  // asked of a camera; it may choose otherwise
    // Non-fatal problems (an unreadable image in a folder, a reopened camera). Empty: printed to stderr.
    std::function<void(const std::string&)> warn;
};

class FrameSource {
public:
    virtual ~FrameSource() = default;
    // The next frame (BGR or grey, 8-bit) into frame. Returns false at the end of a finite stream.
    // Throws SourceUnavailable naming the device or file when frames cannot be had even after reopening;
    // calling again retries (a camera or video is reopened, a looping image folder is listed again).
    virtual bool next(cv::Mat& frame) = 0;
    // The device or path, for messages.
    virtual const std::string& name() const = 0;
    // Frames delivered since the source was opened (counting across loops): lets a caller say which
    // frames a decision was made from.
    virtual std::uint64_t frames_delivered() const = 0;
};

// device: "0" (an index) or a device path such as "/dev/video0". Opens through V4L2.
std::unique_ptr<FrameSource> open_camera(const std::string& device, const SourceOptions& options);
// Anything OpenCV's video reader decodes (the demo clip is MJPG in AVI).
std::unique_ptr<FrameSource> open_video(const std::string& path, const SourceOptions& options);
// The folder's png/jpg/jpeg/bmp files (extension case-insensitive), in file-name order. With loop, the
// folder is listed again at the start of every pass, so images added or removed meanwhile count.
std::unique_ptr<FrameSource> open_image_folder(const std::string& folder, const SourceOptions& options);

}  // namespace fer::player

#include <doctest/doctest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "fer/image.hpp"
#include "fer/player/face_detector.hpp"
#include "fer/player/frame_source.hpp"
#include "fer/rng.hpp"
#include "player_test_support.hpp"
#include "temp_dir.hpp"

using namespace fer::player;
using fer::player::testing::error_message;

namespace {

cv::Mat random_grey_frame(int width, int height, std::uint64_t seed) {
    fer::Rng rng(seed);
    cv::Mat frame(height, width, CV_8UC1);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) frame.at<std::uint8_t>(y, x) = std::uint8_t(rng.below(256));
    return frame;
}

// The reference: copy the region pixel by pixel, then fer::resize_area.
fer::GreyImage region_resized(const cv::Mat& grey, const cv::Rect& region, int width, int height) {
    fer::GreyImage image;
    image.width = region.width;
    image.height = region.height;
    for (int y = region.y; y < region.y + region.height; ++y)
        for (int x = region.x; x < region.x + region.width; ++x) image.pixels.push_back(grey.at<std::uint8_t>(y, x));
    return fer::resize_area(image, width, height);
}

}  // namespace

TEST_CASE("expand_face_box grows the box by the margin on every side and clamps it to the frame") {
    CHECK(expand_face_box({50, 40, 60, 60}, 0.1, {200, 160}) == cv::Rect(44, 34, 72, 72));
    CHECK(expand_face_box({50, 40, 60, 60}, 0.0, {200, 160}) == cv::Rect(50, 40, 60, 60));
    CHECK(expand_face_box({2, 3, 60, 60}, 0.1, {200, 160}) == cv::Rect(0, 0, 68, 69));
    CHECK(expand_face_box({150, 110, 60, 60}, 0.1, {200, 160}) == cv::Rect(144, 104, 56, 56));
}

TEST_CASE("crop_face equals resize_area of the same region of a hand-made frame") {
    const cv::Mat grey = random_grey_frame(200, 160, 7);
    SUBCASE("inside the frame") {
        const fer::GreyImage crop = crop_face(grey, {50, 40, 60, 60}, 0.1, 48, 48);
        CHECK(crop.width == 48);
        CHECK(crop.height == 48);
        CHECK(crop.pixels == region_resized(grey, {44, 34, 72, 72}, 48, 48).pixels);
        // The margin matters: without it the crop is a different image.
        CHECK(crop.pixels != region_resized(grey, {50, 40, 60, 60}, 48, 48).pixels);
    }
    SUBCASE("clamped at the corner") {
        const fer::GreyImage crop = crop_face(grey, {150, 110, 60, 60}, 0.1, 48, 48);
        CHECK(crop.pixels == region_resized(grey, {144, 104, 56, 56}, 48, 48).pixels);
    }
    SUBCASE("a box that misses the frame is an error") {
        CHECK(error_message([&] {
                  crop_face(grey, {300, 300, 20, 20}, 0.1, 48, 48);
              }).find("outside the 200x160 frame") != std::string::npos);
    }
}

TEST_CASE("to_grey converts BGR with OpenCV's luma weights and passes grey frames through") {
    cv::Mat bgr(1, 2, CV_8UC3);
    bgr.at<cv::Vec3b>(0, 0) = {0, 0, 255};  // red
    bgr.at<cv::Vec3b>(0, 1) = {100, 100, 100};
    const cv::Mat grey = to_grey(bgr);
    REQUIRE(grey.type() == CV_8UC1);
    CHECK(int(grey.at<std::uint8_t>(0, 0)) == 76);
    CHECK(int(grey.at<std::uint8_t>(0, 1)) == 100);
    const cv::Mat already = random_grey_frame(4, 3, 1);
    CHECK(to_grey(already).data == already.data);
}

TEST_CASE("the face cascade is found automatically, and a wrong --cascade names the path") {
    CHECK(face_cascade_candidates().back().find("haarcascade_frontalface_default.xml") != std::string::npos);
    CHECK(find_face_cascade().find("haarcascade_frontalface_default.xml") != std::string::npos);
    CHECK(error_message([] { find_face_cascade("/nonexistent/cascade.xml"); }) ==
          "face cascade /nonexistent/cascade.xml: no such file");
    fer::TempDir dir;
    std::ofstream(dir.file("bad.xml")) << "<not a cascade/>";
    DetectorOptions options;
    options.cascade_path = dir.file("bad.xml");
    CHECK(error_message([&] { FaceDetector detector(options); }).find(dir.file("bad.xml")) != std::string::npos);
}

TEST_CASE("the detector finds the face in every frame of the demo clip, where it was drawn") {
    auto source = open_video(fer::player::testing::demo_clip(), {});
    FaceDetector detector;
    cv::Mat frame;
    int frames = 0, found = 0;
    while (source->next(frame)) {
        ++frames;
        CHECK(frame.cols == 640);
        CHECK(frame.rows == 480);
        const auto face = detector.largest_face(to_grey(frame));
        if (!face) continue;
        ++found;
        // fer-make-demo draws a 200-px face centred 20 px above the middle, drifting by at most 12 px.
        const cv::Point centre = (face->tl() + face->br()) / 2;
        CHECK(std::abs(centre.x - 320) < 40);
        CHECK(std::abs(centre.y - 220) < 40);
        CHECK(face->width > 100);
        CHECK(face->width < 240);
    }
    CHECK(frames == 100);
    CHECK(found >= 98);
}

TEST_CASE("video sources end, loop, and name the file when it cannot be read") {
    SUBCASE("looping restarts at the end") {
        SourceOptions options;
        options.loop = true;
        auto source = open_video(fer::player::testing::demo_clip(), options);
        cv::Mat frame;
        for (int i = 0; i < 130; ++i) REQUIRE(source->next(frame));
        CHECK(source->frames_delivered() == 130);
    }
    SUBCASE("a missing file") {
        CHECK(error_message([] { open_video("/nonexistent/clip.avi", {}); }) ==
              "video /nonexistent/clip.avi: no such file");
    }
    SUBCASE("a file that is not a video") {
        fer::TempDir dir;
        std::ofstream(dir.file("junk.avi")) << "this is not a video";
        const std::string message = error_message([&] { open_video(dir.file("junk.avi"), {}); });
        CHECK(message.find(dir.file("junk.avi")) != std::string::npos);
    }
    SUBCASE("a camera that does not exist") {
        const std::string message = error_message([] { open_camera("/dev/video99", {}); });
        CHECK(message.find("cannot open camera /dev/video99") != std::string::npos);
    }
}

TEST_CASE("image folders are read in file-name order, skipping unreadable files with a warning") {
    fer::TempDir dir;
    for (int value : {30, 10, 20}) {
        cv::Mat image(8, 8, CV_8UC1, cv::Scalar(value));
        cv::imwrite(dir.file("frame" + std::to_string(value) + ".png"), image);
    }
    std::ofstream(dir.file("frame15.jpg")) << "broken";
    std::ofstream(dir.file("notes.txt")) << "ignored";
    std::vector<std::string> warnings;
    SourceOptions options;
    options.warn = [&](const std::string& message) { warnings.push_back(message); };
    auto source = open_image_folder(dir.path.string(), options);
    std::vector<int> seen;
    cv::Mat frame;
    while (source->next(frame)) seen.push_back(frame.at<std::uint8_t>(0, 0));
    CHECK(seen == std::vector<int>{10, 20, 30});
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("frame15.jpg") != std::string::npos);
    CHECK(error_message([] { open_image_folder("/nonexistent/frames", {}); }) ==
          "image folder /nonexistent/frames: no such folder");
    fer::TempDir empty;
    CHECK(error_message([&] { open_image_folder(empty.path.string(), {}); }).find("no png/jpg/jpeg/bmp files") !=
          std::string::npos);
}

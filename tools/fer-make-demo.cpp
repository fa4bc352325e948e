// fer-make-demo: builds the player's demo data. A 640x480 MJPG clip of FER2013 test faces, each scaled up
// and shown on a gradient background for a run of frames, with clip.txt saying which emotion is in which
// frames; and short generated melodies, one folder per genre, as tiny 8-bit WAV files. Everything is
// computed from the inputs alone, so the same images give byte-identical files.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fer/dataset.hpp"
#include "fer/evaluate.hpp"
#include "fer/image.hpp"
#include "fer/model_file.hpp"
#include "fer/player/face_detector.hpp"
#include "fer/rng.hpp"

namespace {

namespace fs = std::filesystem;
using fer::player::FaceDetector;

constexpr int kFrameWidth = 640, kFrameHeight = 480;

struct ClipOptions {
    int face_size = 200;       // the 48x48 face is shown at this size
    int frames_per_face = 20;  // >= 12: enough for one 10-frame decision with misses to spare
    double fps = 15;
    int jpeg_quality = 60;  // keeps the committed clip small
};

// A calm blue-grey vertical gradient: plain enough for the detector, not a flat colour.
cv::Mat background() {
    cv::Mat frame(kFrameHeight, kFrameWidth, CV_8UC3);
    for (int y = 0; y < kFrameHeight; ++y) {
        const double t = double(y) / (kFrameHeight - 1);
        const cv::Vec3b colour(std::uint8_t(120 + 70 * t), std::uint8_t(100 + 60 * t), std::uint8_t(80 + 50 * t));
        for (int x = 0; x < kFrameWidth; ++x) frame.at<cv::Vec3b>(y, x) = colour;
    }
    return frame;
}

// Frame `index` of a face's run: the face drifts a few pixels like a person in front of a webcam.
cv::Mat render_frame(const cv::Mat& face_large, int index) {
    cv::Mat frame = background();
    const int x = (kFrameWidth - face_large.cols) / 2 + int(std::lround(12 * std::sin(0.35 * index)));
    const int y = (kFrameHeight - face_large.rows) / 2 - 20 + int(std::lround(6 * std::cos(0.5 * index)));
    cv::Mat face_bgr;
    cv::cvtColor(face_large, face_bgr, cv::COLOR_GRAY2BGR);
    face_bgr.copyTo(frame(cv::Rect(x, y, face_large.cols, face_large.rows)));
    return frame;
}

cv::Mat load_large_face(const std::string& path, int size) {
    const fer::GreyImage face = fer::decode_image_file(path);
    const cv::Mat small(face.height, face.width, CV_8UC1, const_cast<std::uint8_t*>(face.pixels.data()));
    cv::Mat large;
    cv::resize(small, large, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
    return large;
}

// Fraction of a face's frames in which the detector finds it, and the crops the player would take.
double detection_rate(const cv::Mat& face_large, int frames, FaceDetector& detector, std::vector<fer::GreyImage>& crops,
                      int crop_size) {
    int found = 0;
    for (int i = 0; i < frames; ++i) {
        const cv::Mat grey = fer::player::to_grey(render_frame(face_large, i));
        if (auto box = detector.largest_face(grey)) {
            ++found;
            crops.push_back(fer::player::crop_face(grey, *box, 0.1, crop_size, crop_size));
        }
    }
    return double(found) / frames;
}

// Mean probability of class `label` over the crops under the model.
double model_confidence(fer::Network& net, const std::vector<fer::GreyImage>& crops, int label) {
    fer::Dataset batch;
    batch.height = net.input().height;
    batch.width = net.input().width;
    batch.classes = net.class_names();
    for (const auto& crop : crops) batch.pixels.insert(batch.pixels.end(), crop.pixels.begin(), crop.pixels.end());
    batch.labels.assign(crops.size(), 0);
    batch.sources.assign(crops.size(), "demo");
    fer::Network* members[] = {&net};
    const std::vector<float> p = fer::predict_probabilities(members, {}, batch, fer::PredictOptions{});
    const std::size_t k = batch.classes.size();
    double sum = 0;
    for (std::size_t i = 0; i < crops.size(); ++i) {
        const float* row = p.data() + i * k;
        // Only crops the model gets right count: the demo must show emotions it recognises.
        if (std::max_element(row, row + k) - row == label) sum += row[label];
    }
    return crops.empty() ? 0 : sum / double(crops.size());
}

// ---- music -------------------------------------------------------------------------------------

struct Style {
    std::string genre;
    std::vector<std::string> titles;
    double bpm;
    std::vector<int> scale;  // semitones above the root
    double root_hz;
    double note_beats;  // melody note length in beats
};

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += char((v >> (8 * i)) & 0xFF);
}
void put_u16(std::string& out, std::uint16_t v) {
    out += char(v & 0xFF);
    out += char(v >> 8);
}

// RIFF INFO sub-chunk (zero-terminated, padded to even length).
void put_info(std::string& out, const char* id, const std::string& text) {
    std::string value = text + '\0';
    if (value.size() % 2) value += '\0';
    out += id;
    put_u32(out, std::uint32_t(text.size() + 1));
    out += value;
}

// 8-bit unsigned mono PCM with title/artist/genre in a LIST INFO chunk (TagLib reads these).
void write_wav(const std::string& path, const std::vector<std::uint8_t>& samples, int rate, const std::string& title,
               const std::string& genre) {
    std::string info = "INFO";
    put_info(info, "INAM", title);
    put_info(info, "IART", "fer demo");
    put_info(info, "IGNR", genre);
    std::string body = "WAVE";
    body += "fmt ";
    put_u32(body, 16);
    put_u16(body, 1);  // PCM
    put_u16(body, 1);  // mono
    put_u32(body, std::uint32_t(rate));
    put_u32(body, std::uint32_t(rate));  // bytes per second
    put_u16(body, 1);                    // block align
    put_u16(body, 8);                    // bits per sample
    body += "data";
    put_u32(body, std::uint32_t(samples.size()));
    body.append(samples.begin(), samples.end());
    if (samples.size() % 2) body += '\0';
    body += "LIST";
    put_u32(body, std::uint32_t(info.size()));
    body += info;
    std::string file = "RIFF";
    put_u32(file, std::uint32_t(body.size()));
    file += body;
    std::ofstream out(path, std::ios::binary);
    out.write(file.data(), std::streamsize(file.size()));
    if (!out) throw std::runtime_error(path + ": cannot be written");
}

// A melody over a bass root: random steps through the scale, each note with a short attack and a decay so
// that notes do not click.
std::vector<std::uint8_t> melody(const Style& style, std::uint64_t seed, double seconds, int rate) {
    fer::Rng rng(seed);
    const double beat = 60.0 / style.bpm, note = beat * style.note_beats;
    const std::size_t total = std::size_t(seconds * rate);
    std::vector<double> mix(total, 0.0);
    int degree = 0;
    for (double start = 0; start < seconds; start += note) {
        degree = std::clamp(degree + int(rng.below(5)) - 2, 0, int(style.scale.size()) + 3);
        const int octave = degree / int(style.scale.size());
        const int semis = style.scale[std::size_t(degree) % style.scale.size()] + 12 * octave;
        const double hz = style.root_hz * 2 * std::pow(2.0, semis / 12.0);
        const std::size_t first = std::size_t(start * rate), count = std::size_t(note * rate);
        for (std::size_t i = 0; i < count && first + i < total; ++i) {
            const double t = double(i) / rate;
            const double envelope = std::min(1.0, t / 0.01) * std::exp(-3.0 * t / note);
            mix[first + i] += 0.45 * envelope * std::sin(2 * M_PI * hz * t);
        }
    }
    for (double start = 0; start < seconds; start += 2 * beat) {  // bass on every other beat
        const std::size_t first = std::size_t(start * rate), count = std::size_t(2 * beat * rate);
        for (std::size_t i = 0; i < count && first + i < total; ++i) {
            const double t = double(i) / rate;
            const double envelope = std::min(1.0, t / 0.02) * std::exp(-2.0 * t / (2 * beat));
            mix[first + i] += 0.3 * envelope * std::sin(2 * M_PI * style.root_hz / 2 * t);
        }
    }
    std::vector<std::uint8_t> samples(total);
    for (std::size_t i = 0; i < total; ++i) {
        const double fade = std::min(1.0, double(total - i) / (0.05 * rate));  // no click at the end
        samples[i] = std::uint8_t(std::clamp(128.0 + 127.0 * fade * mix[i], 0.0, 255.0));
    }
    return samples;
}

void make_music(const std::string& folder, double seconds, int rate) {
    const std::vector<int> major = {0, 2, 4, 5, 7, 9, 11}, minor = {0, 2, 3, 5, 7, 8, 10}, blues = {0, 3, 5, 6, 7, 10},
                           pentatonic = {0, 2, 4, 7, 9};
    const std::vector<Style> styles = {
        {"pop", {"bright-morning", "sunny-steps"}, 132, major, 261.63, 0.5},
        {"dance", {"neon-floor", "pulse-run"}, 128, pentatonic, 220.00, 0.5},
        {"calm", {"still-water", "slow-clouds"}, 66, major, 196.00, 2.0},
        {"blues", {"rainy-window", "grey-street"}, 76, blues, 220.00, 1.0},
        {"jazz", {"late-cafe", "brass-corner"}, 100, minor, 233.08, 1.0},
    };
    std::uint64_t seed = 1;
    for (const Style& style : styles) {
        const fs::path genre_folder = fs::path(folder) / style.genre;
        fs::create_directories(genre_folder);
        for (const std::string& title : style.titles)
            write_wav((genre_folder / (title + ".wav")).string(), melody(style, seed++, seconds, rate), rate, title,
                      style.genre);
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fer-make-demo: the player's demo clip (FER2013 test faces) and generated music"};
    app.set_version_flag("--version", std::string("fer-make-demo ") + FER_VERSION);
    std::string fer2013, out = "data/demo", model_path, cascade;
    std::vector<std::string> images;
    std::vector<std::string> pick_classes;
    int pick_per_class = 0;
    double min_confidence = 0.6, music_seconds = 4;
    int sample_rate = 11025;
    ClipOptions clip;
    app.add_option("--fer2013", fer2013, "FER2013 as folders: the folder holding test/<class>/*.png")->required();
    app.add_option("--image", images, "CLASS/FILE.png under test/, in clip order; repeat")->delimiter(',');
    app.add_option("--pick", pick_classes, "instead of --image: list candidates of these classes")->delimiter(',');
    app.add_option("--pick-count", pick_per_class, "candidates to list per class with --pick")->capture_default_str();
    app.add_option("--model", model_path, "with --pick: keep faces this model gets right with confidence");
    app.add_option("--min-confidence", min_confidence, "with --pick --model")->capture_default_str();
    app.add_option("--out", out, "output folder")->capture_default_str();
    app.add_option("--cascade", cascade, "Haar cascade (default: found automatically)");
    app.add_option("--frames-per-face", clip.frames_per_face, "frames each face is shown")
        ->capture_default_str()
        ->check(CLI::Range(12, 300));
    app.add_option("--music-seconds", music_seconds, "length of each track")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 30.0));
    app.add_option("--sample-rate", sample_rate, "audio sample rate")
        ->capture_default_str()
        ->check(CLI::Range(8000, 48000));
    CLI11_PARSE(app, argc, argv);
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);

    try {
        fer::player::DetectorOptions detector_options;
        detector_options.cascade_path = cascade;
        FaceDetector detector(detector_options);
        const fs::path test_root = fs::path(fer2013) / "test";

        if (!pick_classes.empty()) {
            std::optional<fer::LoadedModel> model;
            if (!model_path.empty()) model = fer::load_model(model_path);
            for (const std::string& cls : pick_classes) {
                std::vector<fs::path> files;
                for (const auto& entry : fs::directory_iterator(test_root / cls)) files.push_back(entry.path());
                std::sort(files.begin(), files.end());
                int listed = 0;
                for (const fs::path& file : files) {
                    if (listed >= pick_per_class) break;
                    std::vector<fer::GreyImage> crops;
                    const double rate = detection_rate(load_large_face(file.string(), clip.face_size),
                                                       clip.frames_per_face, detector, crops, 48);
                    if (rate < 1.0) continue;
                    double confidence = 1;
                    if (model) {
                        const auto& names = model->network.class_names();
                        const int label = int(std::find(names.begin(), names.end(), cls) - names.begin());
                        confidence = model_confidence(model->network, crops, label);
                        if (confidence < min_confidence) continue;
                    }
                    std::printf("%s/%s %.3f\n", cls.c_str(), file.filename().c_str(), confidence);
                    ++listed;
                }
            }
            return 0;
        }
        if (images.empty()) throw std::invalid_argument("give --image CLASS/FILE (repeat) or --pick CLASSES");

        fs::create_directories(out);
        const std::string clip_path = (fs::path(out) / "clip.avi").string();
        cv::VideoWriter writer;
        // OpenCV's own MJPEG writer, not FFmpeg's: no library version or timestamp ends up in the file.
        if (!writer.open(clip_path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), clip.fps,
                         cv::Size(kFrameWidth, kFrameHeight), true))
            throw std::runtime_error(clip_path + ": cannot open a video writer");
        writer.set(cv::VIDEOWRITER_PROP_QUALITY, clip.jpeg_quality);
        std::ostringstream listing;
        listing << "# clip.avi: " << kFrameWidth << "x" << kFrameHeight << ", MJPG, " << clip.fps << " frames/s, "
                << images.size() * std::size_t(clip.frames_per_face) << " frames; made by scripts/make-demo.sh\n"
                << "# first_frame last_frame emotion source (frames counted from 1)\n";
        int frame_number = 0;
        for (const std::string& image : images) {
            const std::string cls = fs::path(image).parent_path().string();
            const cv::Mat face = load_large_face((test_root / image).string(), clip.face_size);
            for (int i = 0; i < clip.frames_per_face; ++i) writer.write(render_frame(face, i));
            listing << frame_number + 1 << " " << frame_number + clip.frames_per_face << " " << cls << " fer2013/test/"
                    << image << "\n";
            frame_number += clip.frames_per_face;
        }
        writer.release();
        std::ofstream(fs::path(out) / "clip.txt") << listing.str();
        make_music((fs::path(out) / "music").string(), music_seconds, sample_rate);
        std::printf("fer-make-demo: wrote %s (%d frames), clip.txt and music/ in %s\n", clip_path.c_str(), frame_number,
                    out.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fer-make-demo: error: %s\n", e.what());
        return 1;
    }
}

// Writes the fuzz targets' seed inputs into tests/fuzz/seeds/<target>/: tiny valid model files of every
// layer kind, small images in each format the decoder reads, fer2013.csv fragments, mood maps and HTTP
// requests. Small on purpose: libFuzzer mutates them, and ctest replays them on every build.
//   cmake --build build --target fer_fuzz_make_seeds && build/tests/fuzz/fer_fuzz_make_seeds tests/fuzz/seeds
#include <stb_image_write.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fer/architecture.hpp"
#include "fer/image.hpp"
#include "fer/model_file.hpp"

namespace {

namespace fs = std::filesystem;

void write_bytes(const fs::path& path, std::string_view bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) throw std::runtime_error(path.string() + ": cannot write");
}

void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
    write_bytes(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// ---- model files ----------------------------------------------------------------------------------

struct ModelSeed {
    const char* file;
    const char* architecture;
    std::vector<std::string> classes;
};

void write_models(const fs::path& folder) {
    const std::vector<ModelSeed> seeds = {
        {"conv_dense.fer",
         R"(input channels=1 height=8 width=8
conv2d filters=2 kernel=3 stride=1 padding=same bias=true
relu
maxpool2d size=2 stride=2 padding=valid
flatten
dense units=3 bias=true
softmax
)",
         {"a", "b", "c"}},
        {"residual_se.fer",
         R"(input channels=1 height=6 width=6
conv2d filters=4 kernel=3 stride=1 padding=same bias=false
batchnorm momentum=0.9 epsilon=0.001
relu
residual relu=true {
  conv2d filters=4 kernel=3 stride=2 padding=same bias=false
  batchnorm momentum=0.99 epsilon=0.001
  squeeze_excite reduction=2
} shortcut {
  conv2d filters=4 kernel=1 stride=2 padding=same bias=false
}
global_avg_pool
dropout rate=0.5 seed=3
dense units=2 bias=false
softmax
)",
         {"yes", "no"}},
        {"gap.fer",
         R"(input channels=2 height=5 width=7
conv2d filters=7 kernel=2x3 stride=1x2 padding=valid bias=true
sigmoid
avgpool2d size=2 stride=1 padding=same
residual relu=false {
  relu
}
global_avg_pool
softmax
)",
         {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}},
    };
    for (const ModelSeed& seed : seeds) {
        fer::Architecture arch = fer::parse_architecture(seed.architecture, seed.file);
        fer::Network net(std::move(arch.layers), fer::InputSpec{arch.input.c, arch.input.h, arch.input.w},
                         seed.classes);
        net.init(1);
        fer::ModelMetadata meta{"seed", "fer_fuzz_make_seeds", {{"epochs", "1"}, {"note", "fuzz seed"}}};
        write_bytes(folder / seed.file, fer::serialize_model(net, meta));
    }
}

// ---- images ---------------------------------------------------------------------------------------

// A smooth pattern with an edge, so the compressors produce ordinary streams.
std::vector<std::uint8_t> pattern(int width, int height, int channels) {
    std::vector<std::uint8_t> pixels(std::size_t(width) * std::size_t(height) * std::size_t(channels));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < channels; ++c)
                pixels[(std::size_t(y) * std::size_t(width) + std::size_t(x)) * std::size_t(channels) +
                       std::size_t(c)] = std::uint8_t((x * 9 + y * 5 + c * 80 + (x > width / 2 ? 100 : 0)) & 0xff);
    return pixels;
}

void append(std::vector<std::uint8_t>* out, const void* data, int size) {
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
}

void write_stb(const fs::path& path, int (*encode)(stbi_write_func*, void*, int, int, int, const void*), int width,
               int height, int channels) {
    std::vector<std::uint8_t> encoded;
    const std::vector<std::uint8_t> pixels = pattern(width, height, channels);
    if (!encode([](void* context, void* data,
                   int size) { append(static_cast<std::vector<std::uint8_t>*>(context), data, size); },
                &encoded, width, height, channels, pixels.data()))
        throw std::runtime_error(path.string() + ": cannot encode");
    write_bytes(path, encoded);
}

void write_images(const fs::path& folder) {
    const auto png = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) {
        return stbi_write_png_to_func(f, c, w, h, n, d, w * n);
    };
    const auto jpg = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) {
        return stbi_write_jpg_to_func(f, c, w, h, n, d, 80);
    };
    const auto bmp = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) {
        return stbi_write_bmp_to_func(f, c, w, h, n, d);
    };
    const auto tga = [](stbi_write_func* f, void* c, int w, int h, int n, const void* d) {
        return stbi_write_tga_to_func(f, c, w, h, n, d);
    };
    write_stb(folder / "grey_48x48.png", png, 48, 48, 1);
    write_stb(folder / "rgb_20x12.png", png, 20, 12, 3);
    write_stb(folder / "grey_alpha_5x9.png", png, 5, 9, 2);
    write_stb(folder / "rgba_1x1.png", png, 1, 1, 4);
    write_stb(folder / "grey_16x16.jpg", jpg, 16, 16, 1);
    write_stb(folder / "rgb_24x8.jpg", jpg, 24, 8, 3);
    write_stb(folder / "rgb_7x5.bmp", bmp, 7, 5, 3);
    write_stb(folder / "rgba_3x3.tga", tga, 3, 3, 4);
    // Formats stb reads but cannot write: binary PGM, and the smallest GIF (1x1, one colour).
    std::string pgm = "P5\n6 4\n255\n";
    for (std::uint8_t value : pattern(6, 4, 1)) pgm += char(value);
    write_bytes(folder / "grey_6x4.pgm", pgm);
    write_bytes(folder / "white_1x1.gif",
                std::string_view("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
                                 "\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;",
                                 43));
}

// ---- fer2013.csv ----------------------------------------------------------------------------------

std::string pixel_row(int shift) {
    std::string row;
    for (int i = 0; i < 48 * 48; ++i) row += (i ? " " : "") + std::to_string((i * 7 + shift) % 256);
    return row;
}

void write_csv(const fs::path& folder) {
    write_bytes(folder / "two_rows.csv",
                "emotion,pixels,Usage\n3," + pixel_row(0) + ",Training\n0," + pixel_row(1) + ",PrivateTest\n");
    write_bytes(folder / "bom_crlf_quoted.csv",
                "\xEF\xBB\xBF\"emotion\",\"pixels\",\"Usage\"\r\n\"6\",\"" + pixel_row(2) + "\",\"PublicTest\"\r\n");
    write_bytes(folder / "reordered_no_usage.csv", "pixels , Emotion\n" + pixel_row(3) + " , 5\n\n");
    write_bytes(folder / "header_only.csv", "emotion,pixels,Usage\n");
}

// ---- mood maps ------------------------------------------------------------------------------------

void write_mood_maps(const fs::path& folder) {
    write_bytes(folder / "shipped.conf", R"(# emotion = genre, genre, ...
angry    = calm, ambient, classical
disgust  = jazz, lounge, calm
fear     = calm, ambient, classical
happy    = pop, dance, upbeat
sad      = blues, acoustic, ballad
surprise = dance, pop, electronic
neutral  = jazz, lounge, acoustic
)");
    write_bytes(folder / "partial.conf", "HAPPY = Pop, POP , rock # loud\r\n\r\nneutral=jazz\n");
    write_bytes(folder / "tracks_missing.conf", "sad = opera\nfear=\tSad\n");
}

// ---- HTTP requests --------------------------------------------------------------------------------

void write_requests(const fs::path& folder) {
    const std::vector<std::pair<const char*, std::string>> requests = {
        {"get_page.http", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"},
        {"get_script.http", "GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, br\r\n\r\n"},
        {"get_library.http", "GET /api/library HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
        {"detect.http", "POST /api/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"},
        {"face.http", "POST /api/detect HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /api/face.png?t=1 HTTP/1.1\r\n\r\n"},
        {"state.http",
         "POST /api/state HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
         "{\"emotion_mode\": true, \"now_playing\": 1}"},
        {"state_chunked.http",
         "POST /api/state HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         "15\r\n{\"now_playing\": null}\r\n0\r\n\r\n"},
        {"audio_range.http", "GET /api/audio/2 HTTP/1.1\r\nRange: bytes=10-99\r\n\r\n"},
        {"audio_suffix.http", "GET /api/audio/0 HTTP/1.1\r\nRange: bytes=-16\r\n\r\n"},
        {"audio_open_range.http", "GET /api/audio/3 HTTP/1.1\r\nRange: bytes=700-\r\n\r\n"},
        {"head_audio.http", "HEAD /api/audio/1 HTTP/1.1\r\n\r\n"},
        {"traversal.http", "GET /../secret.txt HTTP/1.1\r\n\r\nGET /%2e%2e/secret.txt HTTP/1.1\r\n\r\n"},
        {"pipelined.http", "GET /api/state HTTP/1.1\r\n\r\nGET /style.css HTTP/1.1\r\nRange: bytes=0-3\r\n\r\n"},
        {"http10.http", "GET /index.html HTTP/1.0\r\n\r\n"},
    };
    for (const auto& [file, text] : requests) write_bytes(folder / file, text);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s SEEDS_FOLDER (tests/fuzz/seeds)\n", argv[0]);
        return 2;
    }
    try {
        const fs::path seeds = argv[1];
        write_models(seeds / "model_file");
        write_images(seeds / "image");
        write_csv(seeds / "csv");
        write_mood_maps(seeds / "mood_map");
        write_requests(seeds / "http");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fer_fuzz_make_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}

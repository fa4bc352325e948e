// Model files: CRC-32, exact round trips, the documented size, and rejection of every kind of damage.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fer/architecture.hpp"
#include "fer/checksum.hpp"
#include "fer/model_file.hpp"
#include "fer/model_zoo.hpp"
#include "gradcheck.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

const char* kSmallArchitecture = R"(input channels=1 height=8 width=8
conv2d filters=4 kernel=3 stride=1 padding=same bias=true
batchnorm momentum=0.9 epsilon=0.001
relu
residual relu=true {
  conv2d filters=4 kernel=3 stride=1 padding=same bias=false
  batchnorm momentum=0.9 epsilon=0.001
  squeeze_excite reduction=2
}
maxpool2d size=2 stride=2 padding=valid
flatten
dropout rate=0.25 seed=5
dense units=3 bias=true
softmax
)";

fer::Network small_network(std::uint64_t seed) {
    fer::Architecture arch = fer::parse_architecture(kSmallArchitecture, "small.arch");
    fer::Network net(std::move(arch.layers), fer::InputSpec{1, 8, 8, 1.0f / 255.0f, 0.5f, 0.25f}, {"x", "y", "z"});
    net.init(seed);
    return net;
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// The message of the std::runtime_error that loading `path` throws ("" when it loads).
std::string load_error(const std::string& path) {
    try {
        fer::load_model(path);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

void put_u32(std::vector<std::uint8_t>& bytes, std::size_t offset, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) bytes[offset + std::size_t(i)] = std::uint8_t(value >> (8 * i));
}

// Rewrites the trailing CRC so that a deliberate edit gets past the checksum.
void fix_checksum(std::vector<std::uint8_t>& bytes) {
    std::size_t body = bytes.size() - 4;
    put_u32(bytes, body, fer::crc32(std::span(bytes.data(), body)));
}

std::size_t find(const std::vector<std::uint8_t>& bytes, const std::string& text) {
    auto it = std::search(bytes.begin(), bytes.end(), text.begin(), text.end());
    REQUIRE(it != bytes.end());
    return std::size_t(it - bytes.begin());
}

}  // namespace

TEST_CASE("crc32: standard check value and incremental use") {
    const std::string check = "123456789";
    std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(check.data()), check.size());
    CHECK(fer::crc32(bytes) == 0xCBF43926u);
    CHECK(fer::crc32(bytes.first(4), 0) != fer::crc32(bytes));
    CHECK(fer::crc32(bytes.subspan(4), fer::crc32(bytes.first(4))) == 0xCBF43926u);
    CHECK(fer::crc32({}) == 0u);
}

TEST_CASE("model file: save then load reproduces the network bit for bit") {
    fer::TempDir folder("model_roundtrip");
    fer::Network net = fer::build_model("gap", 21);
    // A training forward moves the BatchNorm running statistics away from their initial values.
    fer::Tensor batch = fer::testing::random_tensor({4, 1, 48, 48}, 2);
    net.forward(batch, fer::Context{true, 2, 1});
    std::vector<float> state(net.state().begin(), net.state().end());
    REQUIRE(std::any_of(state.begin(), state.end(), [](float v) { return v != 0.0f && v != 1.0f; }));

    fer::ModelMetadata meta{"gap-test", "fer tests", {{"epochs", "3"}, {"note", "key=value with spaces"}}};
    std::string path = folder.file("gap.fer");
    fer::save_model(path, net, meta);
    fer::LoadedModel loaded = fer::load_model(path);

    CHECK(loaded.metadata == meta);
    CHECK(loaded.network.class_names() == net.class_names());
    CHECK(loaded.network.input() == net.input());
    CHECK(loaded.network.architecture() == net.architecture());
    CHECK(std::equal(net.params().begin(), net.params().end(), loaded.network.params().begin(),
                     loaded.network.params().end()));
    CHECK(std::equal(net.state().begin(), net.state().end(), loaded.network.state().begin(),
                     loaded.network.state().end()));
    fer::Context eval{false, 2, 0};
    fer::Tensor expected = net.forward(batch, eval);
    fer::Tensor actual = loaded.network.forward(batch, eval);
    CHECK(std::memcmp(expected.data(), actual.data(), expected.size() * sizeof(float)) == 0);

    // No temporary file is left beside the model.
    CHECK(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 1);
}

TEST_CASE("model file: the size is the one docs/model-format.md gives") {
    fer::TempDir folder("model_size");
    fer::Network net = small_network(1);
    fer::ModelMetadata meta{"small", "me", {{"a", "bc"}}};
    std::string path = folder.file("small.fer");
    fer::save_model(path, net, meta);

    std::size_t expected = 8 + 4;               // magic, version
    expected += 8 + net.architecture().size();  // architecture
    expected += 4;                              // class count
    for (const auto& name : net.class_names()) expected += 8 + name.size();
    expected += 6 * 4;                                // input spec
    expected += 8 + 5 + 8 + 2 + 4 + (8 + 1 + 8 + 2);  // metadata: name, created_by, one extra pair
    expected += 8 + 4 * net.trainable_count();        // parameters
    expected += 8 + 4 * net.state_count();            // state
    expected += 4;                                    // CRC-32
    CHECK(fs::file_size(path) == expected);

    std::vector<std::uint8_t> bytes = read_bytes(path);
    CHECK(std::string(bytes.begin(), bytes.begin() + 8) == "FERMODEL");
    CHECK(bytes[8] == 1);
    CHECK(bytes[9] == 0);
    CHECK(fer::serialize_model(net, meta) == bytes);
}

TEST_CASE("model file: damaged files are rejected with a message naming the file") {
    fer::TempDir folder("model_damage");
    fer::Network net = small_network(2);
    std::string good_path = folder.file("good.fer");
    fer::save_model(good_path, net, {"small", "tests", {}});
    const std::vector<std::uint8_t> good = read_bytes(good_path);
    REQUIRE(load_error(good_path).empty());
    std::string path = folder.file("damaged.fer");

    SUBCASE("truncated") {
        std::size_t architecture_start = 12;
        std::size_t parameters_start = find(good, "tests") + 5 + 4;
        std::vector<std::pair<std::size_t, const char*>> cuts = {
            {0, "the magic"},
            {5, "the magic"},
            {10, "the format version"},
            {architecture_start + 3, "the architecture section"},
            {architecture_start + 30, "the architecture section"},
            {find(good, "tests") + 2, "the metadata section"},
            {parameters_start + 20, "the parameters section"},
            {good.size() - 4 - 4 * net.state_count() + 3, "the state section"},
            {good.size() - 1, "the checksum"},
        };
        for (auto [cut, section] : cuts) {
            CAPTURE(cut);
            write_bytes(path, std::vector<std::uint8_t>(good.begin(), good.begin() + std::ptrdiff_t(cut)));
            std::string message = load_error(path);
            CHECK(message.find(path) != std::string::npos);
            CHECK(message.find("truncated") != std::string::npos);
            CHECK(message.find(section) != std::string::npos);
        }
    }
    SUBCASE("a flipped byte anywhere after the header is caught") {
        for (std::size_t offset : {std::size_t(40), good.size() / 2, good.size() - 20, good.size() - 2}) {
            CAPTURE(offset);
            std::vector<std::uint8_t> bytes = good;
            bytes[offset] ^= 0x10;
            write_bytes(path, bytes);
            std::string message = load_error(path);
            CHECK(message.find(path) != std::string::npos);
            CHECK(message.find("corrupt") != std::string::npos);
        }
    }
    SUBCASE("wrong magic") {
        std::vector<std::uint8_t> bytes = good;
        bytes[0] = 'P';
        write_bytes(path, bytes);
        CHECK(load_error(path) == path + ": not a fer model file (it does not start with 'FERMODEL')");
        write_bytes(path, {'P', 'K', 3, 4});
        CHECK(load_error(path).find("not a fer model file") != std::string::npos);
    }
    SUBCASE("unsupported version") {
        std::vector<std::uint8_t> bytes = good;
        put_u32(bytes, 8, 99);
        fix_checksum(bytes);
        write_bytes(path, bytes);
        std::string message = load_error(path);
        CHECK(message.find(path) != std::string::npos);
        CHECK(message.find("version 99") != std::string::npos);
        CHECK(message.find("reads version 1") != std::string::npos);
    }
    SUBCASE("trailing bytes") {
        std::vector<std::uint8_t> bytes = good;
        bytes.push_back(0);
        write_bytes(path, bytes);
        CHECK(load_error(path).find("corrupt") != std::string::npos);
    }
    SUBCASE("architecture that needs a different parameter count") {
        std::vector<std::uint8_t> bytes = good;
        // Same length, so every offset stays valid, and same shapes: a 5x5 instead of a 3x3 first kernel.
        const std::string first_conv = "conv2d filters=4 kernel=3";
        bytes[find(bytes, first_conv) + first_conv.size() - 1] = '5';
        fix_checksum(bytes);
        write_bytes(path, bytes);
        std::string edited_text = kSmallArchitecture;
        edited_text[edited_text.find(first_conv) + first_conv.size() - 1] = '5';
        fer::Architecture edited = fer::parse_architecture(edited_text, "edited");
        fer::Network needs(std::move(edited.layers), net.input(), net.class_names());
        REQUIRE(needs.trainable_count() != net.trainable_count());
        CHECK(load_error(path) == path + ": wrong architecture: file has " + std::to_string(net.trainable_count()) +
                                      " parameters, architecture needs " + std::to_string(needs.trainable_count()));
    }
    SUBCASE("architecture that does not parse") {
        std::vector<std::uint8_t> bytes = good;
        std::size_t at = find(bytes, "flatten");
        std::memcpy(bytes.data() + at, "flatxen", 7);
        fix_checksum(bytes);
        write_bytes(path, bytes);
        std::string message = load_error(path);
        CHECK(message.find(path) != std::string::npos);
        CHECK(message.find("(architecture):11: unknown layer kind 'flatxen'") != std::string::npos);
    }
    SUBCASE("missing file") {
        CHECK(load_error(folder.file("absent.fer")).find(folder.file("absent.fer")) != std::string::npos);
    }
}

TEST_CASE("model file: a failed save leaves nothing behind") {
    fer::TempDir folder("model_failed_save");
    fer::Network net = small_network(3);

    SUBCASE("missing folder") {
        std::string path = folder.file("no/such/folder/model.fer");
        CHECK_THROWS_WITH_AS(fer::save_model(path, net), doctest::Contains(path.c_str()), std::runtime_error);
        CHECK(fs::is_empty(folder.path));
    }
    SUBCASE("the target is a folder, so the final rename fails") {
        std::string path = folder.file("model.fer");
        fs::create_directories(fs::path(path) / "inside");
        CHECK_THROWS_WITH_AS(fer::save_model(path, net), doctest::Contains(path.c_str()), std::runtime_error);
        CHECK(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 1);
        CHECK(fs::is_directory(fs::path(path) / "inside"));
    }
    SUBCASE("read-only folder") {
        if (::geteuid() == 0) return;  // root writes anywhere; nothing to test
        std::string path = folder.file("model.fer");
        fer::save_model(path, net);
        std::vector<std::uint8_t> before = read_bytes(path);
        fer::Network other = small_network(4);
        fs::permissions(folder.path, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                        fs::perm_options::remove);
        CHECK_THROWS_WITH_AS(fer::save_model(path, other), doctest::Contains(path.c_str()), std::runtime_error);
        fs::permissions(folder.path, fs::perms::owner_all, fs::perm_options::add);
        CHECK(std::distance(fs::directory_iterator(folder.path), fs::directory_iterator()) == 1);
        CHECK(read_bytes(path) == before);
    }
}

#include "fer/model_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "fer/architecture.hpp"
#include "fer/atomic_file.hpp"
#include "fer/binary_io.hpp"
#include "fer/checksum.hpp"

namespace fer {

namespace {

std::string hex32(std::uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08X", value);
    return text;
}

void write_string_map(ByteWriter& writer, const std::map<std::string, std::string>& entries) {
    writer.u32(std::uint32_t(entries.size()));
    for (const auto& [key, value] : entries) {
        writer.string(key);
        writer.string(value);
    }
}

InputSpec read_input_spec(ByteReader& reader) {
    const char* section = "the input-spec section";
    InputSpec spec;
    std::uint32_t channels = reader.u32(section), height = reader.u32(section), width = reader.u32(section);
    spec.scale = reader.f32(section);
    spec.mean = reader.f32(section);
    spec.std = reader.f32(section);
    // Sizes beyond 64k are certainly damage, and would overflow int arithmetic in the layers.
    constexpr std::uint32_t kMaxSide = 65536;
    if (channels == 0 || height == 0 || width == 0 || channels > kMaxSide || height > kMaxSide || width > kMaxSide ||
        !std::isfinite(spec.scale) || !std::isfinite(spec.mean) || !std::isfinite(spec.std) || spec.std == 0.0f)
        throw std::runtime_error(reader.source() + ": bad input spec (channels " + std::to_string(channels) +
                                 ", height " + std::to_string(height) + ", width " + std::to_string(width) +
                                 ", scale " + std::to_string(spec.scale) + ", mean " + std::to_string(spec.mean) +
                                 ", std " + std::to_string(spec.std) + ")");
    spec.channels = int(channels);
    spec.height = int(height);
    spec.width = int(width);
    return spec;
}

// The Network allocates its parameters (twice, with the gradients) as soon as it is built, so the counts
// the architecture needs are compared with the file's first, on a throwaway copy of the layers (setup runs
// once per layer): one line such as "dense units=100000000" would otherwise make a 1 KB file allocate
// 28 GB (found by fuzzing).
void check_parameter_counts(Architecture sizing, std::size_t params, std::size_t state, const std::string& source) {
    try {
        sizing.layers.setup(sizing.input);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(source + ": network: " + e.what());
    }
    if (params != sizing.layers.param_size())
        throw std::runtime_error(source + ": wrong architecture: file has " + std::to_string(params) +
                                 " parameters, architecture needs " + std::to_string(sizing.layers.param_size()));
    if (state != sizing.layers.state_size())
        throw std::runtime_error(source + ": wrong architecture: file has " + std::to_string(state) +
                                 " state values, architecture needs " + std::to_string(sizing.layers.state_size()));
}

}  // namespace

std::vector<std::uint8_t> serialize_model(const Network& net, const ModelMetadata& meta) {
    ByteWriter writer;
    for (char byte : kModelMagic) writer.u8(std::uint8_t(byte));
    writer.u32(kModelFormatVersion);
    writer.string(net.architecture());
    writer.u32(std::uint32_t(net.class_names().size()));
    for (const auto& name : net.class_names()) writer.string(name);
    const InputSpec& input = net.input();
    writer.u32(std::uint32_t(input.channels));
    writer.u32(std::uint32_t(input.height));
    writer.u32(std::uint32_t(input.width));
    writer.f32(input.scale);
    writer.f32(input.mean);
    writer.f32(input.std);
    writer.string(meta.name);
    writer.string(meta.created_by);
    write_string_map(writer, meta.extra);
    writer.floats(net.params());
    writer.floats(net.state());
    writer.u32(crc32(writer.bytes()));
    return std::move(writer.bytes());
}

void save_model(const std::string& path, const Network& net, const ModelMetadata& meta) {
    write_file_atomically(path, serialize_model(net, meta));
}

LoadedModel deserialize_model(std::span<const std::uint8_t> bytes, const std::string& source) {
    std::size_t magic_bytes = std::min(bytes.size(), sizeof kModelMagic);
    if (!std::equal(bytes.begin(), bytes.begin() + std::ptrdiff_t(magic_bytes),
                    reinterpret_cast<const std::uint8_t*>(kModelMagic)))
        throw std::runtime_error(source + ": not a fer model file (it does not start with 'FERMODEL')");

    ByteReader reader(bytes, source);
    reader.raw(sizeof kModelMagic, "the magic");
    std::uint32_t version = reader.u32("the format version");
    if (version != kModelFormatVersion)
        throw std::runtime_error(source + ": unsupported model format version " + std::to_string(version) +
                                 " (this build of fer reads version " + std::to_string(kModelFormatVersion) + ")");

    // Structure first, with every length bounds-checked against what is left; nothing is interpreted until
    // the checksum has confirmed the bytes.
    std::string architecture_text = reader.string("the architecture section");
    std::uint32_t class_count = reader.u32("the class-names section");
    std::vector<std::string> class_names;
    for (std::uint32_t i = 0; i < class_count; ++i) class_names.push_back(reader.string("the class-names section"));
    InputSpec input = read_input_spec(reader);
    ModelMetadata meta;
    meta.name = reader.string("the metadata section");
    meta.created_by = reader.string("the metadata section");
    std::uint32_t extra_count = reader.u32("the metadata section");
    for (std::uint32_t i = 0; i < extra_count; ++i) {
        std::string key = reader.string("the metadata section");
        meta.extra[key] = reader.string("the metadata section");
    }
    std::vector<float> params = reader.floats("the parameters section");
    std::vector<float> state = reader.floats("the state section");
    std::size_t checked_bytes = reader.position();
    std::uint32_t stored_crc = reader.u32("the checksum");
    if (reader.remaining() != 0)
        throw std::runtime_error(source + ": corrupt: " + std::to_string(reader.remaining()) +
                                 " unexpected bytes after the checksum");
    std::uint32_t computed_crc = crc32(bytes.first(checked_bytes));
    if (stored_crc != computed_crc)
        throw std::runtime_error(source + ": corrupt (checksum mismatch: stored " + hex32(stored_crc) + ", computed " +
                                 hex32(computed_crc) + ")");

    const auto parse = [&] {
        try {
            return parse_architecture(architecture_text, source + " (architecture)");
        } catch (const std::invalid_argument& e) {
            throw std::runtime_error(e.what());
        }
    };
    Architecture arch = parse();
    if (arch.input.c != input.channels || arch.input.h != input.height || arch.input.w != input.width)
        throw std::runtime_error(source + ": the architecture's input " + arch.input.str() +
                                 " does not match the input spec (" + std::to_string(input.channels) + "," +
                                 std::to_string(input.height) + "," + std::to_string(input.width) + ")");
    check_parameter_counts(parse(), params.size(), state.size(), source);
    LoadedModel loaded{[&] {
                           try {
                               return Network(std::move(arch.layers), input, std::move(class_names));
                           } catch (const std::invalid_argument& e) {
                               throw std::runtime_error(source + ": " + e.what());
                           }
                       }(),
                       std::move(meta)};
    Network& net = loaded.network;
    if (params.size() != net.trainable_count())
        throw std::runtime_error(source + ": wrong architecture: file has " + std::to_string(params.size()) +
                                 " parameters, architecture needs " + std::to_string(net.trainable_count()));
    if (state.size() != net.state_count())
        throw std::runtime_error(source + ": wrong architecture: file has " + std::to_string(state.size()) +
                                 " state values, architecture needs " + std::to_string(net.state_count()));
    std::copy(params.begin(), params.end(), net.params().begin());
    std::copy(state.begin(), state.end(), net.state().begin());
    return loaded;
}

LoadedModel load_model(const std::string& path) {
    std::string bytes = read_file(path);
    return deserialize_model(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), path);
}

std::vector<std::string> model_files_in(const std::string& folder) {
    std::vector<std::string> found;
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) return found;
    for (const auto& entry : std::filesystem::directory_iterator(folder, ec))
        if (entry.is_regular_file() && entry.path().extension() == ".fer") found.push_back(entry.path().string());
    std::sort(found.begin(), found.end());
    return found;
}

}  // namespace fer

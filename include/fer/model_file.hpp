// Model files: one self-contained, versioned, little-endian binary file per trained network, holding the
// architecture text, class names, input normalisation, free-form metadata, parameters and BatchNorm
// statistics, protected by a CRC-32. The byte layout is documented in docs/model-format.md.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "fer/network.hpp"

namespace fer {

inline constexpr char kModelMagic[8] = {'F', 'E', 'R', 'M', 'O', 'D', 'E', 'L'};
inline constexpr std::uint32_t kModelFormatVersion = 1;

// Free-form notes stored with a model.
struct ModelMetadata {
    std::string name;
    std::string created_by;
    std::map<std::string, std::string> extra;
    bool operator==(const ModelMetadata&) const = default;
};

struct LoadedModel {
    Network network;
    ModelMetadata metadata;
};

// Writes atomically (temp file beside the target, fsync, rename): on failure the target is untouched, no
// temp file is left and a std::runtime_error names the path.
void save_model(const std::string& path, const Network& net, const ModelMetadata& meta = {});

// Validates everything before trusting it; every problem (not a model file, unsupported version,
// truncation, checksum mismatch, bad architecture, parameter counts that do not fit the architecture) is a
// std::runtime_error naming the file.
LoadedModel load_model(const std::string& path);

// The same, in memory: the exact bytes save_model writes, and their reader (source names the data in
// messages).
std::vector<std::uint8_t> serialize_model(const Network& net, const ModelMetadata& meta);
LoadedModel deserialize_model(std::span<const std::uint8_t> bytes, const std::string& source);

// The model files (*.fer) in a folder, sorted by name: the shipped models in data/models/ are the
// default the tools use when no --model is given. Empty when the folder is missing.
std::vector<std::string> model_files_in(const std::string& folder);

}  // namespace fer

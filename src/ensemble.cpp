#include "fer/ensemble.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "fer/model_file.hpp"

namespace fer {

EnsembleSpec read_ensemble_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open the ensemble file");
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    EnsembleSpec spec;
    spec.source = path;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string where = path + ":" + std::to_string(number) + ": ";
        if (const std::size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        std::istringstream fields(line);
        std::string first, member, extra;
        if (!(fields >> first)) continue;
        if (first == "tta") {
            if (fields >> extra) throw std::runtime_error(where + "'tta' takes nothing after it");
            spec.tta = true;
            continue;
        }
        float weight = 0;
        std::size_t used = 0;
        try {
            weight = std::stof(first, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != first.size())
            throw std::runtime_error(where + "expected 'tta' or 'WEIGHT MODEL-FILE', got '" + first + "'");
        if (!(weight > 0) || !std::isfinite(weight))
            throw std::runtime_error(where + "the weight must be a positive number, got " + first);
        if (!(fields >> member)) throw std::runtime_error(where + "a weight without a model file");
        if (fields >> extra) throw std::runtime_error(where + "unexpected '" + extra + "' after the model file");
        const std::string member_path = (folder / member).string();
        if (!std::filesystem::is_regular_file(member_path))
            throw std::runtime_error(where + "model file " + member_path + " does not exist");
        spec.model_paths.push_back(member_path);
        spec.weights.push_back(weight);
    }
    if (in.bad()) throw std::runtime_error(path + ": read error");
    if (spec.model_paths.empty()) throw std::runtime_error(path + ": the ensemble names no model");
    return spec;
}

EnsembleSpec default_ensemble(const std::string& folder) {
    const std::string file = (std::filesystem::path(folder) / "ensemble.txt").string();
    if (std::filesystem::exists(file)) return read_ensemble_file(file);
    EnsembleSpec spec;
    spec.model_paths = model_files_in(folder);
    spec.source = folder;
    return spec;
}

EnsembleSpec ensemble_from_arguments(const std::vector<std::string>& models, const std::vector<float>& weights,
                                     const std::string& default_folder) {
    const auto is_ensemble_file = [](const std::string& name) { return name.ends_with(".txt"); };
    if (models.empty() || (models.size() == 1 && is_ensemble_file(models[0]))) {
        if (!weights.empty())
            throw std::invalid_argument("--weights needs --model files; an ensemble file sets its own weights");
        return models.empty() ? default_ensemble(default_folder) : read_ensemble_file(models[0]);
    }
    for (const auto& name : models)
        if (is_ensemble_file(name))
            throw std::invalid_argument("--model " + name +
                                        ": an ensemble file must be the only --model (its members are the ensemble)");
    if (!weights.empty() && weights.size() != models.size())
        throw std::invalid_argument(std::to_string(weights.size()) + " --weights for " + std::to_string(models.size()) +
                                    " --model files: give one weight per model");
    EnsembleSpec spec;
    spec.model_paths = models;
    spec.weights = weights;
    return spec;
}

}  // namespace fer

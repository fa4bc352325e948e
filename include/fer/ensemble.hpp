// The tools' default models: a soft-voting ensemble described by data/models/ensemble.txt (members,
// weights, test-time mirroring), or, without that file, every model file in the folder, equal weights.
//
// ensemble.txt (or any NAME.txt given to a tool's --model), one item per line ('#' starts a comment):
//   tta                     average each image with its mirror
//   WEIGHT PATH             a member: a positive weight and a model file relative to the ensemble file
#pragma once

#include <string>
#include <vector>

namespace fer {

struct EnsembleSpec {
    std::vector<std::string> model_paths;
    std::vector<float> weights;  // one per model; empty: equal
    bool tta = false;
    std::string source;  // the ensemble file, or the folder whose models were taken; empty for explicit models
};

// Throws std::runtime_error naming the file and line: unreadable, a bad weight, an unknown item, a
// member that does not exist, no member at all.
EnsembleSpec read_ensemble_file(const std::string& path);

// FOLDER/ensemble.txt when it exists, else every *.fer in FOLDER (sorted, equal weights, no mirroring);
// empty model_paths when there is neither.
EnsembleSpec default_ensemble(const std::string& folder);

// What a tool's repeated --model and its --weights name: nothing (default_ensemble(default_folder)), one
// ensemble file (a name ending in .txt, read_ensemble_file), or model files with no weights or one weight
// each. Throws std::invalid_argument for an ensemble file among other models, --weights beside an
// ensemble file, or a weight count that does not match the models.
EnsembleSpec ensemble_from_arguments(const std::vector<std::string>& models, const std::vector<float>& weights,
                                     const std::string& default_folder);

}  // namespace fer

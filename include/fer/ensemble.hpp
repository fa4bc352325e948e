// The tools' default models: a soft-voting ensemble described by data/models/ensemble.txt (members,
// weights, test-time mirroring), or, without that file, every model file in the folder, equal weights.
//
// ensemble.txt, one item per line ('#' starts a comment):
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
    std::string source;  // the ensemble file, or the folder whose models were taken
};

// Throws std::runtime_error naming the file and line: unreadable, a bad weight, an unknown item, a
// member that does not exist, no member at all.
EnsembleSpec read_ensemble_file(const std::string& path);

// FOLDER/ensemble.txt when it exists, else every *.fer in FOLDER (sorted, equal weights, no mirroring);
// empty model_paths when there is neither.
EnsembleSpec default_ensemble(const std::string& folder);

}  // namespace fer

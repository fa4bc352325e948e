// Running trained networks over a dataset: probabilities, soft-voting ensembles (the paper's
// ensemble: average the members' class probabilities, optionally weighted), test-time mirroring,
// and the evaluation report (accuracy, per-class metrics, confusion matrix) as text and JSON.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "fer/dataset.hpp"
#include "fer/metrics.hpp"
#include "fer/network.hpp"

namespace fer {

struct PredictOptions {
    int threads = 0;      // 0 = all cores
    int batch = 256;
    bool tta = false;     // average each image with its horizontal mirror
    Precision precision = Precision::fp32;
};

// Row-major (N x K) class probabilities. With several networks, the weighted mean of their
// probabilities (weights empty = equal; they are normalised to sum to 1). All networks must share
// the class list and the dataset's image size; each uses its own input normalisation.
std::vector<float> predict_probabilities(std::span<Network* const> networks, std::span<const float> weights,
                                         const Dataset& data, const PredictOptions& options);

struct Evaluation {
    ConfusionMatrix matrix;
    double loss = 0;  // mean negative log-likelihood of the true class under the (ensemble) probabilities
};

Evaluation evaluate_probabilities(std::span<const float> probabilities, const Dataset& data);

// One CSV row per image: source, true class, then the probability of each class (a header names them),
// for combining or inspecting models outside the tool (scripts/select-ensemble.py reads it).
std::string probabilities_csv(std::span<const float> probabilities, const Dataset& data);

// The report as JSON: accuracy, macro_f1, loss, images, classes, per_class {precision, recall, f1,
// support}, confusion (rows true, columns predicted, counts), confusion_percent, and `models`.
std::string evaluation_json(const Evaluation& evaluation, std::span<const std::string> class_names,
                            std::span<const std::string> model_paths);

}  // namespace fer

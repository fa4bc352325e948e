#include "fer/loss.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace fer {

namespace {

// The checks both losses share, their messages naming the function.
void check_loss_inputs(const char* name, const Tensor& logits, std::span<const int> labels,
                       std::span<const float> class_weights) {
    const Shape& shape = logits.shape();
    // Built only for a message: the training step allocates nothing.
    const auto prefix = [name] { return std::string(name) + ": "; };
    if (shape.h != 1 || shape.w != 1 || shape.c < 1)
        throw std::invalid_argument(prefix() + "logits must be (N,K,1,1) with K >= 1, got " + shape.str());
    const int batch = shape.n, classes = shape.c;
    if (labels.size() != std::size_t(batch))
        throw std::invalid_argument(prefix() + std::to_string(labels.size()) + " labels for " + std::to_string(batch) +
                                    " samples");
    if (!class_weights.empty() && class_weights.size() != std::size_t(classes))
        throw std::invalid_argument(prefix() + std::to_string(class_weights.size()) + " class weights for " +
                                    std::to_string(classes) + " classes");
    for (int i = 0; i < batch; ++i)
        if (labels[i] < 0 || labels[i] >= classes)
            throw std::invalid_argument(prefix() + "sample " + std::to_string(i) + " has label " +
                                        std::to_string(labels[i]) + ", expected 0.." + std::to_string(classes - 1));
}

}  // namespace

// logits is (N,K,1,1), labels (N), class_weights (K) or empty, dlogits (N,K,1,1)
LossResult softmax_cross_entropy(const Tensor& logits, std::span<const int> labels,
                                 std::span<const float> class_weights, Tensor* dlogits, float label_smoothing) {
    check_loss_inputs("softmax_cross_entropy", logits, labels, class_weights);
    const Shape& shape = logits.shape();
    const int batch = shape.n, classes = shape.c;
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
        throw std::invalid_argument("softmax_cross_entropy: label smoothing must be in [0, 1), got " +
                                    std::to_string(label_smoothing));
    if (dlogits) dlogits->resize(shape);
    const double smoothing = label_smoothing;
    const double off_target = smoothing / classes, on_target = 1.0 - smoothing + off_target;

    // Serial on purpose: N*K is a few hundred values, far below what an OpenMP region pays back,
    // and a serial sum keeps the loss independent of the thread count.
    double total = 0.0;
    std::size_t correct = 0;
    const double inv_batch = batch > 0 ? 1.0 / batch : 0.0;
    for (int i = 0; i < batch; ++i) {
        const float* row = logits.sample(i);
        const int label = labels[i];
        const double weight = class_weights.empty() ? 1.0 : double(class_weights[label]);
        const int arg_max = int(std::max_element(row, row + classes) - row);
        if (arg_max == label) ++correct;
        const double row_max = row[arg_max];
        double sum_exp = 0.0, sum_logits = 0.0;
        for (int k = 0; k < classes; ++k) {
            sum_exp += std::exp(double(row[k]) - row_max);
            sum_logits += double(row[k]);
        }
        const double log_sum_exp = row_max + std::log(sum_exp);
        // sum_k q_k = 1, so sum_k -q_k log p_k = log_sum_exp - (1-e) * logit_y - (e/K) * sum_k logit_k.
        const double target_logits = (1.0 - smoothing) * double(row[label]) + off_target * sum_logits;
        total += weight * (log_sum_exp - target_logits);
        if (dlogits) {
            float* grad = dlogits->sample(i);
            const double scale = weight * inv_batch;
            for (int k = 0; k < classes; ++k) {
                double probability = std::exp(double(row[k]) - log_sum_exp);
                grad[k] = float(scale * (probability - (k == label ? on_target : off_target)));
            }
        }
    }
    return {total * inv_batch, correct};
}

// logits is (N,K,1,1), labels (N), teacher (N,K), class_weights (K) or empty, dlogits (N,K,1,1)
LossResult distillation_cross_entropy(const Tensor& logits, std::span<const int> labels, std::span<const float> teacher,
                                      float teacher_weight, std::span<const float> class_weights, Tensor* dlogits) {
    check_loss_inputs("distillation_cross_entropy", logits, labels, class_weights);
    const Shape& shape = logits.shape();
    const int batch = shape.n, classes = shape.c;
    if (teacher.size() != std::size_t(batch) * std::size_t(classes))
        throw std::invalid_argument("distillation_cross_entropy: " + std::to_string(teacher.size()) +
                                    " teacher probabilities for " + std::to_string(batch) + " samples of " +
                                    std::to_string(classes) + " classes");
    if (!(teacher_weight >= 0.0f && teacher_weight <= 1.0f))
        throw std::invalid_argument("distillation_cross_entropy: the teacher's weight must be in [0, 1], got " +
                                    std::to_string(teacher_weight));
    if (dlogits) dlogits->resize(shape);
    const double a = teacher_weight;
    // Serial, as softmax_cross_entropy: a few hundred values, and a sum independent of the thread count.
    double total = 0.0;
    std::size_t correct = 0;
    const double inv_batch = batch > 0 ? 1.0 / batch : 0.0;
    for (int i = 0; i < batch; ++i) {
        const float* row = logits.sample(i);
        const float* soft = teacher.data() + std::size_t(i) * std::size_t(classes);
        const int label = labels[i];
        const double weight = class_weights.empty() ? 1.0 : double(class_weights[label]);
        const int arg_max = int(std::max_element(row, row + classes) - row);
        if (arg_max == label) ++correct;
        const double row_max = row[arg_max];
        double sum_exp = 0.0;
        for (int k = 0; k < classes; ++k) sum_exp += std::exp(double(row[k]) - row_max);
        const double log_sum_exp = row_max + std::log(sum_exp);
        // sum_k -q_k log p_k = sum_k q_k * (log_sum_exp - logit_k).
        double sample_loss = 0.0, target_sum = 0.0;
        for (int k = 0; k < classes; ++k) {
            const double target = a * double(soft[k]) + (k == label ? 1.0 - a : 0.0);
            sample_loss += target * (log_sum_exp - double(row[k]));
            target_sum += target;
        }
        total += weight * sample_loss;
        if (dlogits) {
            float* grad = dlogits->sample(i);
            const double scale = weight * inv_batch;
            for (int k = 0; k < classes; ++k) {
                const double target = a * double(soft[k]) + (k == label ? 1.0 - a : 0.0);
                grad[k] = float(scale * (std::exp(double(row[k]) - log_sum_exp) * target_sum - target));
            }
        }
    }
    return {total * inv_batch, correct};
}

std::vector<float> inverse_frequency_weights(std::span<const std::size_t> counts) {
    std::size_t largest = counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
    std::vector<float> weights(counts.size(), 0.0f);
    for (std::size_t j = 0; j < counts.size(); ++j)
        if (counts[j] > 0) weights[j] = float(double(largest) / double(counts[j]));
    return weights;
}

std::vector<float> balanced_weights(std::span<const std::size_t> counts) {
    double total = 0.0;
    for (std::size_t count : counts) total += double(count);
    std::vector<float> weights(counts.size(), 0.0f);
    for (std::size_t j = 0; j < counts.size(); ++j)
        if (counts[j] > 0) weights[j] = float(total / (double(counts.size()) * double(counts[j])));
    return weights;
}

ClassWeighting parse_class_weighting(const std::string& text) {
    if (text == "none") return ClassWeighting::none;
    if (text == "inverse") return ClassWeighting::inverse;
    if (text == "balanced") return ClassWeighting::balanced;
    throw std::invalid_argument("class weighting: unknown '" + text + "' (known: none, inverse, balanced)");
}

std::string to_string(ClassWeighting weighting) {
    switch (weighting) {
        case ClassWeighting::none:
            return "none";
        case ClassWeighting::inverse:
            return "inverse";
        case ClassWeighting::balanced:
            return "balanced";
    }
    throw std::invalid_argument("class weighting: invalid enum value");
}

std::vector<float> class_weights(ClassWeighting weighting, std::span<const std::size_t> counts) {
    switch (weighting) {
        case ClassWeighting::none:
            return std::vector<float>(counts.size(), 1.0f);
        case ClassWeighting::inverse:
            return inverse_frequency_weights(counts);
        case ClassWeighting::balanced:
            return balanced_weights(counts);
    }
    throw std::invalid_argument("class weighting: invalid enum value");
}

}  // namespace fer

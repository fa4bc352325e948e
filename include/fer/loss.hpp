// Softmax cross-entropy on logits, with optional per-class weights for FER2013's imbalance
// (disgust has ~15x fewer samples than happy).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "fer/tensor.hpp"

namespace fer {

struct LossResult {
    double loss;          // mean weighted loss over the batch
    std::size_t correct;  // samples whose arg-max logit is the label (first maximum on ties)
};

// logits is (N,K,1,1): the network's output before its final softmax; labels holds N values in [0,K);
// class_weights holds K values, or is empty for all ones; label_smoothing is e in [0,1).
// The target of sample i is q_i = (1-e) * onehot(y_i) + e/K (Szegedy et al. 2016: a net that may not
// push one probability to 1 keeps its logits small and is less sure of the faces it misreads):
//   loss = (1/N) * sum_i w[y_i] * sum_k -q_ik * log softmax(logits_i)[k]
// which is the plain cross-entropy at e = 0. This is Keras' class_weight semantics: a mean over
// samples, not divided by the sum of the weights.
// When dlogits is not null it is resized to (N,K,1,1) and ASSIGNED
//   dloss/dlogits_i = w[y_i] * (softmax_i - q_i) / N.
// Numerically stable (max-subtracted log-sum-exp, accumulated in double). Throws std::invalid_argument
// on a bad logits shape, a label count != N, a label out of range (naming the sample and the label),
// a weight count != K or a smoothing outside [0,1).
LossResult softmax_cross_entropy(const Tensor& logits, std::span<const int> labels,
                                 std::span<const float> class_weights, Tensor* dlogits, float label_smoothing = 0.0f);

// Knowledge distillation (Hinton, Vinyals and Dean 2015, at temperature 1): the same loss and gradient
// with the target of sample i q_i = (1-a) * onehot(y_i) + a * t_i, where t_i is row i of teacher (N rows
// of K class probabilities, e.g. an ensemble's on the same images) and a = teacher_weight in [0,1]:
//   loss = (1/N) * sum_i w[y_i] * sum_k -q_ik * log softmax(logits_i)[k],
//   dloss/dlogits_i = w[y_i] * (softmax_i * sum_k q_ik - q_i) / N   (ASSIGNED when dlogits is not null),
// which is softmax_i - q_i for rows summing to 1. The correct count is against the labels. Throws
// std::invalid_argument as softmax_cross_entropy does, and for a teacher of other than N*K values or a
// weight outside [0,1].
LossResult distillation_cross_entropy(const Tensor& logits, std::span<const int> labels, std::span<const float> teacher,
                                      float teacher_weight, std::span<const float> class_weights, Tensor* dlogits);

// Class weights from per-class sample counts. A class with no samples gets weight 0 (it never
// appears as a label, so its weight is never used) and causes no division by zero.
// n_max / n_j: the largest class gets 1.
std::vector<float> inverse_frequency_weights(std::span<const std::size_t> counts);
// n / (k * n_j) with n the total count and k = counts.size(): scikit-learn's 'balanced'.
std::vector<float> balanced_weights(std::span<const std::size_t> counts);

enum class ClassWeighting { none, inverse, balanced };

ClassWeighting parse_class_weighting(const std::string& text);  // "none" | "inverse" | "balanced", throws otherwise
std::string to_string(ClassWeighting weighting);
// none gives all ones (counts.size() of them).
std::vector<float> class_weights(ClassWeighting weighting, std::span<const std::size_t> counts);

}  // namespace fer

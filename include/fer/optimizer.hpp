// Optimizers over the network's flat parameter and gradient buffers, with PyTorch's update rules.
//
// With g the gradient, p the parameter, wd the weight decay (applied only where decay_mask[i] != 0:
// weights, not biases or BatchNorm) and lr the learning rate of this step:
//   sgd:   g' = g + wd*p;  v = momentum*v + g';  p -= lr * (nesterov ? g' + momentum*v : v)
//          (momentum 0 is plain SGD and keeps no slot; v starts at 0, so the first v is g')
//   adam:  g' = g + wd*p (coupled L2);  m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2;  t += 1;
//          p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//   adamw: p -= lr*wd*p (decoupled, before the update), then adam's update with g' = g.
// The bias-correction factors are computed in double. Each element is updated independently, so
// results are bit-identical whatever the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace fer {

// Everything needed to resume exactly: the kind (checked on restore), the step count and the
// per-element slots (sgd with momentum: {velocity}; adam and adamw: {m, v}; empty before the first step).
struct OptimizerState {
    std::string kind;
    std::uint64_t steps = 0;
    std::vector<std::vector<float>> slots;
};

class Optimizer {
public:
    virtual ~Optimizer() = default;

    virtual std::string kind() const = 0;  // "sgd", "adam", "adamw"
    // One update. params, grads and decay_mask have equal sizes (std::invalid_argument otherwise,
    // also when the size differs from the one the slots were sized for on the first step).
    virtual void step(std::span<float> params, std::span<const float> grads, std::span<const std::uint8_t> decay_mask,
                      float learning_rate) = 0;
    virtual OptimizerState state() const = 0;
    // Throws std::invalid_argument on a different kind, a wrong slot count or unequal slot sizes.
    virtual void set_state(const OptimizerState& state) = 0;
};

struct OptimizerSettings {
    std::string kind = "adam";                            // "sgd" | "adam" | "adamw"
    float momentum = 0.9f;                                // sgd only, in [0, 1)
    bool nesterov = false;                                // sgd only; needs momentum > 0
    float weight_decay = 0.0f;                            // >= 0
    float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;  // adam and adamw
    int threads = 1;  // OpenMP threads for the element-wise loops; 0 means all cores
};

// Throws std::invalid_argument on an unknown kind (listing the known ones) or an out-of-range setting.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerSettings& settings);

}  // namespace fer

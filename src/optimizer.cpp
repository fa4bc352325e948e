#include "fer/optimizer.hpp"

#include <cmath>
#include <stdexcept>

#include "fer/context.hpp"

namespace fer {

namespace {

// Below this many elements an OpenMP region costs more than the update itself.
constexpr std::ptrdiff_t kParallelThreshold = 1 << 15;

void check_step_sizes(const std::string& kind, std::size_t params, std::size_t grads, std::size_t mask) {
    if (grads != params || mask != params)
        throw std::invalid_argument(kind + " optimizer: " + std::to_string(params) + " params, " +
                                    std::to_string(grads) + " grads and " + std::to_string(mask) +
                                    " decay-mask entries must be equal");
}

// Sizes the slots on the first step; afterwards the parameter count must not change.
void prepare_slots(const std::string& kind, std::vector<std::vector<float>>& slots, std::size_t slot_count,
                   std::size_t size) {
    if (slots.empty()) {
        slots.assign(slot_count, std::vector<float>(size, 0.0f));
        return;
    }
    if (slots.front().size() != size)
        throw std::invalid_argument(kind + " optimizer: state is for " + std::to_string(slots.front().size()) +
                                    " parameters, step got " + std::to_string(size));
}

void check_restored_state(const std::string& kind, const OptimizerState& state, std::size_t slot_count) {
    if (state.kind != kind)
        throw std::invalid_argument(kind + " optimizer: cannot restore state of a '" + state.kind + "' optimizer");
    if (state.slots.empty()) return;  // saved before the first step
    if (state.slots.size() != slot_count)
        throw std::invalid_argument(kind + " optimizer: state has " + std::to_string(state.slots.size()) +
                                    " slots, expected " + std::to_string(slot_count));
    for (const auto& slot : state.slots)
        if (slot.size() != state.slots.front().size())
            throw std::invalid_argument(kind + " optimizer: state slots have unequal sizes");
}

class Sgd final : public Optimizer {
public:
    Sgd(float momentum, bool nesterov, float weight_decay, int threads)
        : momentum_(momentum), nesterov_(nesterov), weight_decay_(weight_decay), threads_(threads) {}

    std::string kind() const override { return "sgd"; }

    // params, grads, decay_mask and the velocity slot are all (P)
    void step(std::span<float> params, std::span<const float> grads, std::span<const std::uint8_t> decay_mask,
              float learning_rate) override {
        check_step_sizes(kind(), params.size(), grads.size(), decay_mask.size());
        const bool use_momentum = momentum_ != 0.0f;
        if (use_momentum) prepare_slots(kind(), slots_, 1, params.size());
        ++steps_;
        float* p = params.data();
        const float* g = grads.data();
        const std::uint8_t* mask = decay_mask.data();
        float* velocity = use_momentum ? slots_[0].data() : nullptr;
        const float lr = learning_rate, wd = weight_decay_, momentum = momentum_;
        const bool nesterov = nesterov_;
        const auto size = std::ptrdiff_t(params.size());
#pragma omp parallel for num_threads(threads_) schedule(static) if (size >= kParallelThreshold)
        for (std::ptrdiff_t i = 0; i < size; ++i) {
            float grad = mask[i] ? g[i] + wd * p[i] : g[i];
            if (velocity) {
                velocity[i] = momentum * velocity[i] + grad;
                grad = nesterov ? grad + momentum * velocity[i] : velocity[i];
            }
            p[i] -= lr * grad;
        }
    }

    OptimizerState state() const override {
        return {kind(), steps_, slots_};
    }
    void set_state(const OptimizerState& state) override {
        check_restored_state(kind(), state, momentum_ != 0.0f ? 1 : 0);
        steps_ = state.steps;
        slots_ = state.slots;
    }

private:
    float momentum_;
    bool nesterov_;
    float weight_decay_;
    int threads_;
    std::uint64_t steps_ = 0;
    std::vector<std::vector<float>> slots_;
};

// Adam and AdamW share everything except where weight decay enters.
class Adam final : public Optimizer {
public:
    Adam(bool decoupled, float beta1, float beta2, float epsilon, float weight_decay, int threads)
        : decoupled_(decoupled),
          beta1_(beta1),
          beta2_(beta2),
          epsilon_(epsilon),
          weight_decay_(weight_decay),
          threads_(threads) {}

    std::string kind() const override { return decoupled_ ? "adamw" : "adam"; }

    // params, grads, decay_mask and the m and v slots are all (P)
    void step(std::span<float> params, std::span<const float> grads, std::span<const std::uint8_t> decay_mask,
              float learning_rate) override {
        check_step_sizes(kind(), params.size(), grads.size(), decay_mask.size());
        prepare_slots(kind(), slots_, 2, params.size());
        ++steps_;
        // In double because 1 - 0.999^t loses most of its float digits for small t.
        const double correction1 = 1.0 - std::pow(double(beta1_), double(steps_));
        const double correction2 = 1.0 - std::pow(double(beta2_), double(steps_));
        const float step_size = float(double(learning_rate) / correction1);
        const float sqrt_correction2 = float(std::sqrt(correction2));
        const float coupled_decay = decoupled_ ? 0.0f : weight_decay_;
        const float decoupled_scale = decoupled_ ? 1.0f - learning_rate * weight_decay_ : 1.0f;
        const float beta1 = beta1_, beta2 = beta2_, epsilon = epsilon_;
        float* p = params.data();
        const float* g = grads.data();
        const std::uint8_t* mask = decay_mask.data();
        float* m = slots_[0].data();
        float* v = slots_[1].data();
        const auto size = std::ptrdiff_t(params.size());
#pragma omp parallel for num_threads(threads_) schedule(static) if (size >= kParallelThreshold)
        for (std::ptrdiff_t i = 0; i < size; ++i) {
            float grad = g[i];
            if (mask[i]) {
                grad += coupled_decay * p[i];
                p[i] *= decoupled_scale;
            }
            m[i] = beta1 * m[i] + (1.0f - beta1) * grad;
            v[i] = beta2 * v[i] + (1.0f - beta2) * grad * grad;
            // Grouped as PyTorch does: p -= step_size * (m / (sqrt(v) / sqrt(correction2) + eps)).
            p[i] -= step_size * (m[i] / (std::sqrt(v[i]) / sqrt_correction2 + epsilon));
        }
    }

    OptimizerState state() const override {
        return {kind(), steps_, slots_};
    }
    void set_state(const OptimizerState& state) override {
        check_restored_state(kind(), state, 2);
        steps_ = state.steps;
        slots_ = state.slots;
    }

private:
    bool decoupled_;
    float beta1_, beta2_, epsilon_, weight_decay_;
    int threads_;
    std::uint64_t steps_ = 0;
    std::vector<std::vector<float>> slots_;
};

void check_range(bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("make_optimizer: " + what);
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSettings& s) {
    const std::string& kind = s.kind;
    if (kind != "sgd" && kind != "adam" && kind != "adamw")
        throw std::invalid_argument("make_optimizer: unknown optimizer '" + kind + "' (known: sgd, adam, adamw)");
    check_range(s.weight_decay >= 0.0f, "weight_decay must be >= 0, got " + std::to_string(s.weight_decay));
    check_range(s.threads >= 0, "threads must be >= 0, got " + std::to_string(s.threads));
    const int threads = resolve_threads(RunOptions{s.threads});
    if (kind == "sgd") {
        check_range(s.momentum >= 0.0f && s.momentum < 1.0f,
                    "sgd momentum must be in [0, 1), got " + std::to_string(s.momentum));
        check_range(!s.nesterov || s.momentum > 0.0f, "sgd nesterov needs momentum > 0");
        return std::make_unique<Sgd>(s.momentum, s.nesterov, s.weight_decay, threads);
    }
    check_range(s.beta1 >= 0.0f && s.beta1 < 1.0f, kind + " beta1 must be in [0, 1), got " + std::to_string(s.beta1));
    check_range(s.beta2 >= 0.0f && s.beta2 < 1.0f, kind + " beta2 must be in [0, 1), got " + std::to_string(s.beta2));
    check_range(s.epsilon > 0.0f, kind + " epsilon must be > 0, got " + std::to_string(s.epsilon));
    return std::make_unique<Adam>(kind == "adamw", s.beta1, s.beta2, s.epsilon, s.weight_decay, threads);
}

}  // namespace fer

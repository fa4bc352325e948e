// Per-epoch learning-rate schedules.
//   constant: lr.
//   step:     lr * gamma^floor(epoch / step_size).
//   cosine:   with w = warmup_epochs and T = total_epochs: epochs e < w warm up linearly,
//             lr * (e + 1) / w; then min_lr + (lr - min_lr) * (1 + cos(pi * (e - w) / (T - w))) / 2,
//             which is lr at e = w and min_lr from e = T on (PyTorch's CosineAnnealingLR when w = 0).
//   plateau:  Keras' ReduceLROnPlateau (mode 'min', cooldown 0) with a relative threshold: an epoch
//             improves when its validation loss < best * (1 - 1e-4); after `patience` epochs in a row
//             without improvement the rate is multiplied by `factor` (never below min_lr) and the count
//             restarts.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace fer {

// The mutable part of a schedule, for checkpoints (empty for the schedules that are pure functions
// of the epoch).
struct ScheduleState {
    std::vector<double> values;
};

class LrSchedule {
public:
    virtual ~LrSchedule() = default;

    virtual std::string kind() const = 0;  // "constant", "step", "cosine", "plateau"
    // The learning rate to use during the 0-based `epoch`.
    virtual float learning_rate(int epoch) const = 0;
    // Called once after each epoch with that epoch's validation loss; only plateau reacts.
    virtual void on_epoch_end(int /*epoch*/, double /*validation_loss*/) {}
    // The default is for stateless schedules: an empty state, and set_state throws std::invalid_argument
    // unless it is given an empty one.
    virtual ScheduleState state() const;
    virtual void set_state(const ScheduleState& state);
};

struct ScheduleSettings {
    std::string kind = "constant";  // "constant" | "step" | "cosine" | "plateau"
    float learning_rate = 1e-3f;    // > 0
    int step_size = 10;             // step: >= 1
    float gamma = 0.1f;             // step: > 0
    int total_epochs = 50;          // cosine: > warmup_epochs
    int warmup_epochs = 0;          // cosine only: >= 0 (other kinds reject a non-zero value)
    float min_lr = 0.0f;            // cosine and plateau: in [0, learning_rate]
    float factor = 0.5f;            // plateau: in (0, 1)
    int patience = 5;               // plateau: >= 0
};

// Throws std::invalid_argument on an unknown kind (listing the known ones) or a bad value.
std::unique_ptr<LrSchedule> make_schedule(const ScheduleSettings& settings);

}  // namespace fer

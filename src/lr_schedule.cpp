#include "fer/lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace fer {

ScheduleState LrSchedule::state() const {
    return {};
}

void LrSchedule::set_state(const ScheduleState& state) {
    if (!state.values.empty())
        throw std::invalid_argument(kind() + " schedule: has no state, got " + std::to_string(state.values.size()) +
                                    " values");
}

namespace {

class ConstantSchedule final : public LrSchedule {
public:
    explicit ConstantSchedule(float learning_rate) : learning_rate_(learning_rate) {}
    std::string kind() const override { return "constant"; }
    float learning_rate(int /*epoch*/) const override { return learning_rate_; }

private:
    float learning_rate_;
};

class StepSchedule final : public LrSchedule {
public:
    StepSchedule(float learning_rate, int step_size, float gamma)
        : learning_rate_(learning_rate), step_size_(step_size), gamma_(gamma) {}
    std::string kind() const override { return "step"; }
    float learning_rate(int epoch) const override {
        int decays = std::max(epoch, 0) / step_size_;
        return float(double(learning_rate_) * std::pow(double(gamma_), decays));
    }

private:
    float learning_rate_;
    int step_size_;
    float gamma_;
};

class CosineSchedule final : public LrSchedule {
public:
    CosineSchedule(float learning_rate, float min_lr, int total_epochs, int warmup_epochs)
        : learning_rate_(learning_rate), min_lr_(min_lr), total_epochs_(total_epochs), warmup_epochs_(warmup_epochs) {}
    std::string kind() const override { return "cosine"; }
    float learning_rate(int epoch) const override {
        epoch = std::max(epoch, 0);
        if (epoch < warmup_epochs_) return float(double(learning_rate_) * (epoch + 1) / warmup_epochs_);
        if (epoch >= total_epochs_) return min_lr_;
        double progress = double(epoch - warmup_epochs_) / double(total_epochs_ - warmup_epochs_);
        double span = double(learning_rate_) - double(min_lr_);
        return float(double(min_lr_) + span * 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
    }

private:
    float learning_rate_, min_lr_;
    int total_epochs_, warmup_epochs_;
};

class PlateauSchedule final : public LrSchedule {
public:
    PlateauSchedule(float learning_rate, float factor, int patience, float min_lr)
        : factor_(factor), patience_(patience), min_lr_(min_lr), current_lr_(learning_rate) {}
    std::string kind() const override { return "plateau"; }
    float learning_rate(int /*epoch*/) const override { return float(current_lr_); }

    void on_epoch_end(int /*epoch*/, double validation_loss) override {
        // A NaN loss compares false and so counts as an epoch without improvement.
        if (!has_best_ || validation_loss < best_ - kRelativeThreshold * std::abs(best_)) {
            best_ = validation_loss;
            has_best_ = true;
            bad_epochs_ = 0;
            return;
        }
        if (++bad_epochs_ >= patience_) {
            current_lr_ = std::max(current_lr_ * double(factor_), double(min_lr_));
            bad_epochs_ = 0;
        }
    }

    // {current learning rate, best loss (0 before the first epoch), bad epochs, has best (0 or 1)};
    // a flag rather than an infinite best keeps every value finite for text checkpoints.
    ScheduleState state() const override {
        return {{current_lr_, has_best_ ? best_ : 0.0, double(bad_epochs_), has_best_ ? 1.0 : 0.0}};
    }
    void set_state(const ScheduleState& state) override {
        const auto& v = state.values;
        if (v.size() != 4)
            throw std::invalid_argument("plateau schedule: state has " + std::to_string(v.size()) +
                                        " values, expected 4");
        if (!(v[0] > 0.0) || v[2] < 0.0 || (v[3] != 0.0 && v[3] != 1.0))
            throw std::invalid_argument("plateau schedule: invalid state values");
        current_lr_ = v[0];
        best_ = v[1];
        bad_epochs_ = int(v[2]);
        has_best_ = v[3] != 0.0;
    }

private:
    static constexpr double kRelativeThreshold = 1e-4;

    float factor_;
    int patience_;
    float min_lr_;
    double current_lr_;
    double best_ = 0.0;
    bool has_best_ = false;
    int bad_epochs_ = 0;
};

void check_setting(bool ok, const std::string& kind, const std::string& what) {
    if (!ok) throw std::invalid_argument("make_schedule: " + kind + " schedule: " + what);
}

}  // namespace

std::unique_ptr<LrSchedule> make_schedule(const ScheduleSettings& s) {
    const std::string& kind = s.kind;
    if (kind != "constant" && kind != "step" && kind != "cosine" && kind != "plateau")
        throw std::invalid_argument("make_schedule: unknown schedule '" + kind +
                                    "' (known: constant, step, cosine, plateau)");
    check_setting(s.learning_rate > 0.0f && std::isfinite(s.learning_rate), kind,
                  "learning_rate must be > 0, got " + std::to_string(s.learning_rate));
    check_setting(kind == "cosine" || s.warmup_epochs == 0, kind, "warmup_epochs is only supported by cosine");
    if (kind == "constant") return std::make_unique<ConstantSchedule>(s.learning_rate);
    if (kind == "step") {
        check_setting(s.step_size >= 1, kind, "step_size must be >= 1, got " + std::to_string(s.step_size));
        check_setting(s.gamma > 0.0f, kind, "gamma must be > 0, got " + std::to_string(s.gamma));
        return std::make_unique<StepSchedule>(s.learning_rate, s.step_size, s.gamma);
    }
    check_setting(s.min_lr >= 0.0f && s.min_lr <= s.learning_rate, kind,
                  "min_lr must be in [0, learning_rate], got " + std::to_string(s.min_lr));
    if (kind == "cosine") {
        check_setting(s.warmup_epochs >= 0, kind, "warmup_epochs must be >= 0, got " + std::to_string(s.warmup_epochs));
        check_setting(s.total_epochs > s.warmup_epochs, kind,
                      "total_epochs (" + std::to_string(s.total_epochs) + ") must exceed warmup_epochs (" +
                          std::to_string(s.warmup_epochs) + ")");
        return std::make_unique<CosineSchedule>(s.learning_rate, s.min_lr, s.total_epochs, s.warmup_epochs);
    }
    check_setting(s.factor > 0.0f && s.factor < 1.0f, kind,
                  "factor must be in (0, 1), got " + std::to_string(s.factor));
    check_setting(s.patience >= 0, kind, "patience must be >= 0, got " + std::to_string(s.patience));
    return std::make_unique<PlateauSchedule>(s.learning_rate, s.factor, s.patience, s.min_lr);
}

}  // namespace fer

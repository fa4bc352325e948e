// The training loop behind fer-train: shuffled mini-batches with augmentation, class-weighted loss,
// an optimizer and a learning-rate schedule, validation after each epoch, the best model kept,
// early stopping, and checkpoints that resume a run exactly where it stopped.
//
// Reproducibility: every random choice is a pure function of the seed and a counter (the epoch's
// shuffle, each image's augmentation, each dropout mask), so a run with the same seed and thread
// count is bit-identical, and a run interrupted and resumed from a checkpoint ends where the
// uninterrupted run would have.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fer/augment.hpp"
#include "fer/dataset.hpp"
#include "fer/loss.hpp"
#include "fer/lr_schedule.hpp"
#include "fer/model_file.hpp"
#include "fer/network.hpp"
#include "fer/optimizer.hpp"

namespace fer {

struct TrainSettings {
    std::string arch = "five_layer";  // a model-zoo name, or a path to an architecture text file
    // Fine-tuning: start from this model file's parameters and batch-norm statistics (its architecture
    // and normalisation replace arch and input) instead of a fresh initialisation. Empty = from scratch.
    std::string init_from;
    int epochs = 30;
    int batch = 64;
    OptimizerSettings optimizer;
    ScheduleSettings schedule;
    AugmentSettings augment;
    bool augment_enabled = true;
    ClassWeighting class_weighting = ClassWeighting::none;
    float label_smoothing = 0.0f;  // e in [0,1): train on (1-e) * onehot + e/K (see loss.hpp); 0 = off
    // Mixup (Zhang et al. 2018) with Beta(alpha, alpha); 0 = off. Each batch is blended with a shuffle
    // of itself, lambda = max(l, 1 - l) for l drawn per step (from the seed and the step number, so a
    // resumed run draws the same), and the loss is lambda * loss(labels) + (1 - lambda) * loss(the
    // partners' labels). The training accuracy counts the dominant label.
    float mixup = 0.0f;
    // Knowledge distillation (loss.hpp: distillation_cross_entropy): teacher_probabilities holds a row of
    // class probabilities per training image, in the training set's order (teacher.hpp reads them), and
    // image i's target is (1 - teacher_weight) * onehot(label) + teacher_weight * row i; the augmented and
    // mirrored copies of an image keep its row. Empty = off. teacher_id names the teacher in the
    // fingerprint (fer-train: the file's CRC). Not combined with label smoothing or mixup.
    std::vector<float> teacher_probabilities;
    float teacher_weight = 0.5f;
    std::string teacher_id;
    std::uint64_t seed = 1;
    int threads = 0;            // 0 = all cores
    // Winograd's kernel for the convolutions it applies to (RunOptions::winograd); false: the direct and GEMM
    // kernels only (the arithmetic of the models trained before it; either way a run is reproducible).
    bool winograd = true;
    // What "best" means for the saved model and early stopping: "accuracy" or "macro_f1" (validation macro
    // F1, which a class-weighted run is after: it counts the rare classes as much as the common ones), or
    // "last" (no selection: the last epoch, as a weight-averaged run is often used).
    std::string select = "accuracy";
    // When set, every dropout layer of the network (fresh or from init_from) gets this rate: a fine-tune
    // can loosen a regularisation that made the first run underfit.
    std::optional<float> dropout;
    // Stochastic weight averaging (Izmailov et al. 2018) from this 1-based epoch on; 0 = off. From then on
    // the network validated and saved after each epoch is the mean of the parameters at the end of every
    // epoch since, with its batch-norm statistics recomputed over one pass of the training data; the
    // optimizer goes on training the unaveraged network. Wants a schedule that stays high (constant, or
    // the flat end of a cosine), so the averaged points differ.
    int average_from = 0;
    int patience = 0;           // early stopping: epochs without a better validation score; 0 = off
    std::string out;            // best model (by validation accuracy)
    std::string checkpoint;     // resumable state; default out + ".ckpt"
    double checkpoint_seconds = 300;  // also checkpoint mid-epoch this often (a kill loses at most this)
    InputSpec input;            // normalisation stored in the model

    // The settings that define the run: a checkpoint only resumes a run with the same ones.
    std::string fingerprint() const;
};

struct EpochRecord {
    int epoch = 0;  // 1-based
    double learning_rate = 0, train_loss = 0, train_accuracy = 0;
    double val_loss = 0, val_accuracy = 0, val_macro_f1 = 0;
    double seconds = 0, images_per_second = 0;
};

struct BatchProgress {
    int epoch;          // 1-based
    int epochs;
    std::size_t batch;  // 1-based, within the epoch
    std::size_t batches;
    double loss, accuracy;  // running means over the epoch so far
    double images_per_second;
    double elapsed_seconds;  // in this epoch
};

// Hooks for the tool's progress display; all optional.
struct TrainObserver {
    std::function<void(const std::string&)> message;
    std::function<void(const BatchProgress&)> batch;
    std::function<void(const EpochRecord&, bool improved)> epoch;
};

struct TrainResult {
    std::vector<EpochRecord> history;
    int best_epoch = 0;  // 1-based; 0 when no epoch finished
    double best_val_accuracy = 0;  // the best epoch's (by `select`)
    bool interrupted = false;   // stop was requested; a checkpoint was written
    bool stopped_early = false;  // patience ran out
};

// Trains on `train`, validates on `val` after every epoch. With resume_from, continues that
// checkpoint (its fingerprint must match settings, except paths, and epochs unless the schedule is cosine:
// a run of another schedule can be extended). Polls `stop` after each
// batch: when set, writes a checkpoint and returns with interrupted = true. Writes beside
// settings.out: the best model, `<stem>.metrics.csv` (one row per epoch) and `<stem>.curves.svg`.
// A non-finite loss throws std::runtime_error; the last checkpoint stays as it was.
TrainResult train_network(const TrainSettings& settings, const Dataset& train, const Dataset& val,
                          const TrainObserver& observer, const std::atomic<bool>& stop,
                          const std::string& resume_from = "");

// A fresh network: a model-zoo name or an architecture text file, initialised from seed.
Network build_network(const std::string& arch, std::uint64_t seed, const InputSpec& input,
                      const std::vector<std::string>& classes);

// The same network, parameters and state included, with every dropout layer's rate set to rate (in
// [0, 1)); its other layers, their settings and the dropout seeds are unchanged.
Network with_dropout_rate(const Network& net, float rate);

// Recomputes every batch-norm layer's running statistics as the plain mean of its batch statistics over
// data in `order`, `batch` images at a time (whole batches only), in train mode (dropout and the
// augmentation as in training, seeded by augment_seed); parameters are unchanged. What averaged weights
// need: the statistics the network was trained with belong to none of the points averaged.
void recompute_batch_norm_statistics(Network& net, const Dataset& data, std::span<const std::size_t> order,
                                     std::size_t batch, const AugmentSettings* augment, std::uint64_t augment_seed,
                                     int threads);

// A model to start from (fine-tuning, calibration): load_model, then a std::runtime_error naming the file
// when its classes are not data's.
LoadedModel load_starting_model(const std::string& path, const Dataset& data);

// Batch-norm calibration for inference: every batch-norm layer's running statistics become the plain mean
// of its batch statistics over all of data (in its order, `batch` images at a time, whole batches only),
// each image unwarped and mirrored with probability 1/2 (from seed), in train mode. The statistics a
// network trains with come from warped images, whose interpolation and edge-replicated borders are not
// what inference sees; mirroring stays because test-time mirroring feeds mirrored faces. Parameters are
// unchanged.
void calibrate_batch_norm(Network& net, const Dataset& data, std::size_t batch, std::uint64_t seed, int threads);

// Paths of the files written beside a model: "<dir>/<stem>.metrics.csv" and "<dir>/<stem>.curves.svg".
std::string metrics_log_path(const std::string& model_path);
std::string curves_plot_path(const std::string& model_path);

}  // namespace fer

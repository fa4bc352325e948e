// fer-train: trains a network on FER2013-style data (class folders or fer2013.csv).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <utility>

#include "fer/dataset.hpp"
#include "fer/evaluate.hpp"
#include "fer/model_file.hpp"
#include "fer/model_zoo.hpp"
#include "fer/teacher.hpp"
#include "fer/trainer.hpp"

namespace {

// Signal handlers can only reach a static; this flag is the one piece of process-wide state, and
// the training loop only reads it.
std::atomic<bool> stop_requested{false};

void request_stop(int signal_number) {
    stop_requested = true;
    std::signal(signal_number, SIG_DFL);  // a second Ctrl-C ends the process at once
}

std::string format_duration(double seconds) {
    int s = int(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%d:%02d", s / 60, s % 60);
    return buf;
}

// Validation accuracy without and with test-time mirroring, as "64.89 % (mirrored 65.39 %)".
std::string validation_accuracies(fer::Network& net, const fer::Dataset& validation, int threads) {
    fer::Network* members[] = {&net};
    char text[64];
    double accuracy[2];
    for (int mirrored = 0; mirrored < 2; ++mirrored) {
        const std::vector<float> probabilities =
            fer::predict_probabilities(members, {}, validation, fer::PredictOptions{threads, 256, mirrored == 1});
        accuracy[mirrored] = 100 * fer::evaluate_probabilities(probabilities, validation).matrix.accuracy();
    }
    std::snprintf(text, sizeof text, "%.2f %% (mirrored %.2f %%)", accuracy[0], accuracy[1]);
    return text;
}

void calibrate_model(const fer::TrainSettings& s, const fer::Dataset& train, const fer::Dataset& validation) {
    fer::LoadedModel model = fer::load_starting_model(s.init_from, train);
    std::fprintf(stderr, "validation accuracy before: %s\n",
                 validation_accuracies(model.network, validation, s.threads).c_str());
    fer::calibrate_batch_norm(model.network, train, std::size_t(s.batch), s.seed, s.threads);
    std::fprintf(stderr, "validation accuracy after:  %s\n",
                 validation_accuracies(model.network, validation, s.threads).c_str());
    model.metadata.created_by = "fer-train --calibrate-bn";
    model.metadata.extra["batch_norm_calibrated_from"] = s.init_from;
    model.metadata.extra["batch_norm_calibration_images"] = std::to_string(train.size());
    fer::save_model(s.out, model.network, model.metadata);
    std::fprintf(stderr, "saved to %s\n", s.out.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fer-train: train an emotion classifier on FER2013-style data"};
    app.set_version_flag("--version", std::string("fer-train ") + FER_VERSION);
    fer::TrainSettings s;
    std::string data, val, split = "Training", val_split = "PublicTest", resume;
    std::string class_weights = "none";
    bool no_augment = false, no_mirror = false, strict = false, quiet = false, calibrate_only = false;
    std::size_t limit = 0;

    std::string known_models;
    for (const auto& name : fer::model_names()) known_models += (known_models.empty() ? "" : ", ") + name;
    auto* arch_option = app.add_option("--arch", s.arch, "model: " + known_models + ", or an architecture file")->capture_default_str();
    app.add_option("--init", s.init_from, "fine-tune: start from this model file (its architecture and classes)")
        ->excludes(arch_option);
    app.add_option("--data", data,
                   "training data: a folder of class folders, a folder holding train/ val/, or fer2013.csv")
        ->required();
    app.add_option("--split", split, "training split of a csv or of a folder with splits")->capture_default_str();
    app.add_option("--val", val, "validation data (default: --data with --val-split)");
    app.add_option("--val-split", val_split, "validation split")->capture_default_str();
    app.add_option("--epochs", s.epochs, "epochs")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--batch", s.batch, "batch size")->capture_default_str()->check(CLI::Range(2, 1 << 16));
    app.add_option("--out", s.out, "output model file (the best epoch on validation)")->required();
    app.add_option("--optimizer", s.optimizer.kind, "sgd, adam or adamw")->capture_default_str();
    app.add_option("--lr", s.schedule.learning_rate, "learning rate")->capture_default_str();
    app.add_option("--momentum", s.optimizer.momentum, "SGD momentum")->capture_default_str();
    app.add_flag("--nesterov", s.optimizer.nesterov, "Nesterov momentum (SGD)");
    app.add_option("--weight-decay", s.optimizer.weight_decay, "weight decay (L2 for sgd/adam, decoupled for adamw)")
        ->capture_default_str();
    app.add_option("--schedule", s.schedule.kind, "constant, step, cosine or plateau")->capture_default_str();
    app.add_option("--step-size", s.schedule.step_size, "step schedule: epochs per decay")->capture_default_str();
    app.add_option("--gamma", s.schedule.gamma, "step schedule: decay factor")->capture_default_str();
    app.add_option("--warmup", s.schedule.warmup_epochs, "cosine schedule: linear warm-up epochs")
        ->capture_default_str();
    app.add_option("--min-lr", s.schedule.min_lr, "cosine/plateau: lowest learning rate")->capture_default_str();
    app.add_option("--lr-factor", s.schedule.factor, "plateau: factor on a plateau")->capture_default_str();
    app.add_option("--lr-patience", s.schedule.patience, "plateau: epochs without improvement")->capture_default_str();
    app.add_flag("--no-augment", no_augment, "turn all augmentation off");
    app.add_flag("--no-mirror", no_mirror, "no horizontal mirroring");
    app.add_option("--zoom", s.augment.zoom, "random zoom range (0.1 = +-10 %)")->capture_default_str();
    app.add_option("--rotation", s.augment.rotation_degrees, "random rotation range in degrees")->capture_default_str();
    app.add_option("--shift", s.augment.shift, "random shift range, fraction of the size")->capture_default_str();
    app.add_option("--class-weights", class_weights, "none, inverse (n_max/n_j) or balanced (n/(k n_j))")
        ->capture_default_str();
    app.add_option("--label-smoothing", s.label_smoothing,
                   "train on (1-e) * onehot + e/7 instead of the one-hot label (0 = off)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 0.999));
    app.add_option("--mixup", s.mixup,
                   "mixup: blend each batch with a shuffle of itself, weights from Beta(ALPHA, ALPHA) (0 = off)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    std::string teacher;
    auto* teacher_option =
        app.add_option("--teacher", teacher,
                       "distillation: a CSV of a teacher's class probabilities on the training images, as fer-eval "
                       "--probabilities writes it (e.g. an ensemble's, --split Training)");
    app.add_option("--teacher-weight", s.teacher_weight,
                   "distillation: train on (1-A) * onehot + A * the teacher's probabilities")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0))
        ->needs(teacher_option);
    app.add_option("--seed", s.seed, "random seed (same seed and threads: identical run)")->capture_default_str();
    app.add_option("--threads", s.threads, "threads (0 = all cores)")->capture_default_str();
    bool no_winograd = false;
    app.add_flag("--no-winograd", no_winograd,
                 "convolutions on the direct and GEMM kernels only (the default takes Winograd's kernel where it "
                 "applies: faster, within about 1e-5 of them)");
    app.add_option("--dropout", s.dropout, "set every dropout layer's rate (e.g. to loosen it for a fine-tune)")
        ->check(CLI::Range(0.0, 0.999));
    app.add_option("--select", s.select, "the best epoch by validation accuracy or macro_f1, or the last epoch")
        ->capture_default_str()
        ->check(CLI::IsMember({"accuracy", "macro_f1", "last"}));
    app.add_option("--average-from", s.average_from,
                   "weight averaging (SWA): from this epoch on, validate and save the mean of the epochs' parameters "
                   "(batch-norm statistics recomputed); 0 = off")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--patience", s.patience,
                   "early stopping after N epochs without a better validation accuracy (0 = off)")
        ->capture_default_str();
    app.add_option("--resume", resume, "continue from this checkpoint");
    app.add_option("--checkpoint", s.checkpoint, "checkpoint path (default: OUT.ckpt)");
    app.add_option("--checkpoint-every", s.checkpoint_seconds, "seconds between mid-epoch checkpoints")
        ->capture_default_str();
    app.add_option("--limit", limit, "train on a random subset of this many images (0 = all)");
    app.add_flag("--strict", strict, "an unreadable image is an error instead of being skipped");
    app.add_flag("--quiet", quiet, "no progress bar");
    app.add_flag("--calibrate-bn", calibrate_only,
                 "no training: recompute the --init model's batch-norm statistics over the training images, "
                 "unwarped and mirrored at random, and write it to --out")
        ->needs("--init");
    CLI11_PARSE(app, argc, argv);

    try {
        s.class_weighting = fer::parse_class_weighting(class_weights);
        s.schedule.total_epochs = s.epochs;
        s.augment_enabled = !no_augment;
        s.winograd = !no_winograd;
        if (no_mirror) s.augment.mirror = false;

        fer::LoadOptions load;
        load.strict = strict;
        load.threads = s.threads;
        auto load_reported = [&](const std::string& path, const std::string& which_split, const char* role) {
            fer::LoadReport report;
            fer::Dataset d = fer::load_dataset(path, which_split, load, &report);
            for (const auto& line : fer::load_warnings(report, role))
                std::fprintf(stderr, "warning: %s\n", line.c_str());
            return d;
        };
        fer::Dataset train = load_reported(data, split, "training data");
        fer::Dataset validation = load_reported(val.empty() ? data : val, val_split, "validation data");
        if (validation.sources == train.sources)
            throw std::invalid_argument("the validation data is the training data (" + data +
                                        "); give --val DIR, or a --data folder holding train/ and val/");
        if (limit > 0) train = fer::random_subset(train, limit, s.seed);
        if (!teacher.empty()) {
            fer::TeacherProbabilities probabilities = fer::load_teacher_probabilities(teacher, train);
            s.teacher_probabilities = std::move(probabilities.rows);
            s.teacher_id = "crc" + std::to_string(probabilities.crc);
            std::fprintf(stderr, "teacher: %s (weight %g)\n", teacher.c_str(), double(s.teacher_weight));
        }
        std::fprintf(stderr, "training images %zu, validation images %zu\n", train.size(), validation.size());
        if (calibrate_only) {
            calibrate_model(s, train, validation);
            return 0;
        }

        fer::TrainObserver observer;
        observer.message = [](const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); };
        const bool tty = isatty(fileno(stderr));
        if (!quiet) {
            observer.batch = [tty, last_tenth = std::size_t(0)](const fer::BatchProgress& p) mutable {
                double eta = p.elapsed_seconds / double(p.batch) * double(p.batches - p.batch);
                if (tty) {
                    const int width = 30;
                    int done = int(double(width) * double(p.batch) / double(p.batches));
                    std::fprintf(stderr, "\repoch %d/%d [%s%s] %zu/%zu ETA %s %.0f img/s loss %.4f acc %.2f%%  ",
                                 p.epoch, p.epochs, std::string(std::size_t(done), '=').c_str(),
                                 std::string(std::size_t(width - done), ' ').c_str(), p.batch, p.batches,
                                 format_duration(eta).c_str(), p.images_per_second, p.loss, 100 * p.accuracy);
                } else {
                    std::size_t tenth = p.batch * 10 / p.batches;
                    if (tenth == last_tenth) return;
                    last_tenth = tenth;
                    std::fprintf(stderr, "epoch %d/%d %3zu%% ETA %s %.0f img/s loss %.4f acc %.2f%%\n", p.epoch,
                                 p.epochs, tenth * 10, format_duration(eta).c_str(), p.images_per_second, p.loss,
                                 100 * p.accuracy);
                }
            };
        }
        observer.epoch = [tty, quiet](const fer::EpochRecord& r, bool improved) {
            if (tty && !quiet) std::fprintf(stderr, "\r\033[K");
            std::fprintf(stderr,
                         "epoch %d lr %.3g: loss %.4f acc %.2f%% | val loss %.4f acc %.2f%% macro-F1 %.4f | %s, %.0f "
                         "img/s%s\n",
                         r.epoch, r.learning_rate, r.train_loss, 100 * r.train_accuracy, r.val_loss,
                         100 * r.val_accuracy, r.val_macro_f1, format_duration(r.seconds).c_str(), r.images_per_second,
                         improved ? "  (best, saved)" : "");
        };

        std::signal(SIGINT, request_stop);
        std::signal(SIGTERM, request_stop);
        // Under a file-size limit (ulimit -f) a write then fails with a message naming the file, instead
        // of the process dying silently, and the last checkpoint is kept.
        std::signal(SIGXFSZ, SIG_IGN);
        fer::TrainResult result = fer::train_network(s, train, validation, observer, stop_requested, resume);
        if (result.interrupted) return 130;
        const std::string chosen = s.select == "last" ? "last epoch" : "best epoch by validation " + s.select;
        std::fprintf(stderr, "%s: %d (validation accuracy %.2f %%), saved to %s\n", chosen.c_str(), result.best_epoch,
                     100 * result.best_val_accuracy, s.out.c_str());
        std::fprintf(stderr, "metrics: %s, curves: %s\n", fer::metrics_log_path(s.out).c_str(),
                     fer::curves_plot_path(s.out).c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nfer-train: error: %s\n", e.what());
        return 1;
    }
}

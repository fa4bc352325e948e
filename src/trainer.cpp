#include "fer/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "config_text.hpp"
#include "fer/architecture.hpp"
#include "fer/atomic_file.hpp"
#include "fer/batch.hpp"
#include "fer/binary_io.hpp"
#include "fer/checksum.hpp"
#include "fer/evaluate.hpp"
#include "fer/model_file.hpp"
#include "fer/model_zoo.hpp"
#include "fer/rng.hpp"
#include "fer/svg_plot.hpp"

namespace fer {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

constexpr char kCheckpointMagic[8] = {'F', 'E', 'R', 'C', 'K', 'P', 'T', '\0'};
// Version 2 added the weight average; version 1 checkpoints (without one) still resume.
constexpr std::uint32_t kCheckpointVersion = 2;

// Where a run stands: enough to continue it bit-exactly.
struct RunState {
    int epoch = 0;                                                  // 0-based epoch in progress
    std::size_t next_batch = 0;                                     // first batch of that epoch not yet trained
    std::uint64_t step = 0;                                         // optimizer steps so far (drives dropout masks)
    double loss_sum = 0, correct = 0, seen = 0, epoch_seconds = 0;  // the epoch's running sums
    double best_val_score = -1;  // by TrainSettings::select
    int best_epoch = 0;
    int epochs_without_improvement = 0;
    std::vector<EpochRecord> history;
    // Stochastic weight averaging: the mean of the parameters at the end of each averaged epoch (P), empty
    // before the first; how many epochs it holds follows from `epoch` and TrainSettings::average_from.
    std::vector<float> average;
};

// Epochs in the weight average when (0-based) epoch `epoch` begins.
int epochs_averaged_before(int epoch, int average_from) {
    return average_from > 0 ? std::max(0, epoch + 1 - average_from) : 0;
}

std::vector<double> record_fields(const EpochRecord& r) {
    return {double(r.epoch), r.learning_rate, r.train_loss, r.train_accuracy,   r.val_loss,
            r.val_accuracy,  r.val_macro_f1,  r.seconds,    r.images_per_second};
}

EpochRecord record_from_fields(const std::vector<double>& f) {
    EpochRecord r;
    r.epoch = int(f[0]);
    r.learning_rate = f[1], r.train_loss = f[2], r.train_accuracy = f[3], r.val_loss = f[4];
    r.val_accuracy = f[5], r.val_macro_f1 = f[6], r.seconds = f[7], r.images_per_second = f[8];
    return r;
}

void save_checkpoint(const std::string& path, const std::string& fingerprint, const RunState& run, const Network& net,
                     const Optimizer& optimizer, const LrSchedule& schedule) {
    ByteWriter w;
    w.raw({reinterpret_cast<const std::uint8_t*>(kCheckpointMagic), sizeof kCheckpointMagic});
    w.u32(kCheckpointVersion);
    w.string(fingerprint);
    w.u64(std::uint64_t(run.epoch));
    w.u64(run.next_batch);
    w.u64(run.step);
    for (double v : {run.loss_sum, run.correct, run.seen, run.epoch_seconds, run.best_val_score}) w.f64(v);
    w.u64(std::uint64_t(run.best_epoch));
    w.u64(std::uint64_t(run.epochs_without_improvement));
    w.u64(run.history.size());
    for (const auto& record : run.history)
        for (double v : record_fields(record)) w.f64(v);
    OptimizerState opt = optimizer.state();
    w.string(opt.kind);
    w.u64(opt.steps);
    w.u64(opt.slots.size());
    for (const auto& slot : opt.slots) w.floats(slot);
    ScheduleState sched = schedule.state();
    w.u64(sched.values.size());
    for (double v : sched.values) w.f64(v);
    w.floats(run.average);
    std::vector<std::uint8_t> model = serialize_model(net, ModelMetadata{"checkpoint", "fer-train", {}});
    w.u64(model.size());
    w.raw(model);
    w.u32(crc32(w.bytes()));
    write_file_atomically(path, std::span<const std::uint8_t>(w.bytes()));
}

struct LoadedCheckpoint {
    std::string fingerprint;
    RunState run;
    OptimizerState optimizer;
    ScheduleState schedule;
    std::optional<LoadedModel> model;  // optional only because a Network has no empty state
};

LoadedCheckpoint load_checkpoint(const std::string& path) {
    std::string bytes = read_file(path);
    std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (data.size() < sizeof kCheckpointMagic + 8 ||
        !std::equal(kCheckpointMagic, kCheckpointMagic + sizeof kCheckpointMagic, data.begin()))
        throw std::runtime_error(path + ": not a fer-train checkpoint");
    ByteReader tail(data.subspan(data.size() - 4), path);
    if (crc32(data.first(data.size() - 4)) != tail.u32("checksum"))
        throw std::runtime_error(path + ": corrupt checkpoint (checksum mismatch)");
    ByteReader r(data.first(data.size() - 4), path);
    r.raw(sizeof kCheckpointMagic, "magic");
    std::uint32_t version = r.u32("version");
    if (version != 1 && version != kCheckpointVersion)
        throw std::runtime_error(path + ": checkpoint version " + std::to_string(version) +
                                 " is not supported (this build reads 1 to " + std::to_string(kCheckpointVersion) +
                                 ")");
    LoadedCheckpoint c;
    c.fingerprint = r.string("fingerprint");
    c.run.epoch = int(r.u64("epoch"));
    c.run.next_batch = r.u64("batch");
    c.run.step = r.u64("step");
    c.run.loss_sum = r.f64("progress");
    c.run.correct = r.f64("progress");
    c.run.seen = r.f64("progress");
    c.run.epoch_seconds = r.f64("progress");
    c.run.best_val_score = r.f64("progress");
    c.run.best_epoch = int(r.u64("progress"));
    c.run.epochs_without_improvement = int(r.u64("progress"));
    std::uint64_t records = r.u64("history");
    if (records > r.remaining() / (9 * 8)) throw std::runtime_error(path + ": corrupt checkpoint (history)");
    for (std::uint64_t i = 0; i < records; ++i) {
        std::vector<double> fields(9);
        for (double& f : fields) f = r.f64("history");
        c.run.history.push_back(record_from_fields(fields));
    }
    c.optimizer.kind = r.string("optimizer");
    c.optimizer.steps = r.u64("optimizer");
    std::uint64_t slots = r.u64("optimizer");
    if (slots > 16) throw std::runtime_error(path + ": corrupt checkpoint (optimizer slots)");
    for (std::uint64_t i = 0; i < slots; ++i) c.optimizer.slots.push_back(r.floats("optimizer"));
    std::uint64_t values = r.u64("schedule");
    if (values > 64) throw std::runtime_error(path + ": corrupt checkpoint (schedule)");
    for (std::uint64_t i = 0; i < values; ++i) c.schedule.values.push_back(r.f64("schedule"));
    if (version >= 2) c.run.average = r.floats("weight average");
    std::uint64_t model_size = r.u64("model");
    c.model.emplace(deserialize_model(r.raw(std::size_t(model_size), "model"), path + " (model)"));
    return c;
}

// order = 0..n-1 in a Fisher-Yates shuffle drawn from rng; the buffer is reused.
void shuffle_indices(std::size_t n, Rng& rng, std::vector<std::size_t>& order) {
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
}

// The epoch's order: a Fisher-Yates shuffle from a stream that depends only on (seed, epoch).
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, int epoch) {
    std::vector<std::size_t> order;
    Rng rng(mix64(seed ^ mix64(0x5348554646ull + std::uint64_t(epoch))));
    shuffle_indices(n, rng, order);
    return order;
}

std::string metrics_csv(const std::vector<EpochRecord>& history) {
    std::string csv =
        "epoch,learning_rate,train_loss,train_accuracy,val_loss,val_accuracy,val_macro_f1,seconds,images_per_second\n";
    char line[512];
    for (const auto& r : history) {
        std::snprintf(line, sizeof line, "%d,%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f,%.1f\n", r.epoch, r.learning_rate,
                      r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.val_macro_f1, r.seconds,
                      r.images_per_second);
        csv += line;
    }
    return csv;
}

std::string curves_svg(const std::vector<EpochRecord>& history) {
    Series train_loss{"train", "#1f77b4", {}}, val_loss{"validation", "#d62728", {}};
    Series train_acc{"train", "#1f77b4", {}}, val_acc{"validation", "#d62728", {}};
    for (const auto& r : history) {
        train_loss.values.push_back(r.train_loss);
        val_loss.values.push_back(r.val_loss);
        train_acc.values.push_back(r.train_accuracy);
        val_acc.values.push_back(r.val_accuracy);
    }
    return line_charts_svg({{"loss", {train_loss, val_loss}}, {"accuracy", {train_acc, val_acc}}});
}

}  // namespace

Network build_network(const std::string& arch_name, std::uint64_t seed, const InputSpec& input_spec,
                      const std::vector<std::string>& classes) {
    std::vector<std::string> names = model_names();
    if (std::find(names.begin(), names.end(), arch_name) != names.end())
        return build_model(arch_name, seed, input_spec, classes);
    if (!std::filesystem::is_regular_file(arch_name)) {
        std::string known;
        for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
        throw std::runtime_error("architecture '" + arch_name + "' is neither a known model (" + known +
                                 ") nor an architecture file");
    }
    Architecture arch = parse_architecture(read_file(arch_name), arch_name);
    InputSpec input = input_spec;
    input.channels = arch.input.c, input.height = arch.input.h, input.width = arch.input.w;
    Network net(std::move(arch.layers), input, classes);
    net.init(seed);
    return net;
}

namespace {

// A network built from `architecture` (text describing net's layers, perhaps with other settings), holding
// net's parameters and state.
Network rebuilt(const Network& net, const std::string& architecture, const std::string& what) {
    Architecture arch = parse_architecture(architecture, what);
    Network result(std::move(arch.layers), net.input(), net.class_names());
    std::copy(net.params().begin(), net.params().end(), result.params().begin());
    std::copy(net.state().begin(), net.state().end(), result.state().begin());
    return result;
}

// `architecture` with key=value on every line that describes a `kind` layer (the canonical text has one
// layer per line: "KIND key=value ...").
std::string with_layer_setting(const std::string& architecture, const std::string& kind, const std::string& key,
                               const std::string& value) {
    std::istringstream lines(architecture);
    std::ostringstream changed;
    const std::string head = kind + " ", field = key + "=";
    for (std::string line; std::getline(lines, line);) {
        const std::size_t start = line.find_first_not_of(' ');
        if (start != std::string::npos && line.compare(start, head.size(), head) == 0) {
            const std::size_t at = line.find(" " + field, start);
            if (at == std::string::npos) throw std::logic_error(kind + " line without " + key + ": " + line);
            const std::size_t end = line.find(' ', at + 1);
            line = line.substr(0, at + 1 + field.size()) + value + (end == std::string::npos ? "" : line.substr(end));
        }
        changed << line << '\n';
    }
    return changed.str();
}

}  // namespace

Network with_dropout_rate(const Network& net, float rate) {
    if (!(rate >= 0.0f && rate < 1.0f))
        throw std::invalid_argument("dropout rate must be in [0, 1), got " + config_text::number(rate));
    return rebuilt(net, with_layer_setting(net.architecture(), "dropout", "rate", config_text::number(rate)),
                   "the network with dropout " + config_text::number(rate));
}

void recompute_batch_norm_statistics(Network& net, const Dataset& data, std::span<const std::size_t> order,
                                     std::size_t batch, const AugmentSettings* augment, std::uint64_t augment_seed,
                                     int threads) {
    if (batch < 2 || order.size() < batch)
        throw std::invalid_argument("recompute_batch_norm_statistics: needs at least one batch of two or more images");
    if (net.state().empty()) return;  // no batch-norm layer: nothing to recompute, no pass over the data
    // BatchNorm's momentum at step t is min(momentum, t / (t + 1)): with momentum 1, from step 0, its
    // running statistics are the plain mean of every batch's.
    Network counting = rebuilt(net, with_layer_setting(net.architecture(), "batchnorm", "momentum", "1"),
                               "the network with plain-mean statistics");
    Tensor input;
    std::vector<int> labels;
    for (std::size_t b = 0; b + batch <= order.size(); b += batch) {
        make_batch(data, order.subspan(b, batch), counting.input(), augment, augment_seed, threads, input, labels);
        counting.forward_logits(input, Context::train(RunOptions{threads}, b / batch));
    }
    std::copy(counting.state().begin(), counting.state().end(), net.state().begin());
}

LoadedModel load_starting_model(const std::string& path, const Dataset& data) {
    LoadedModel model = load_model(path);
    if (model.network.class_names() != data.classes)
        throw std::runtime_error(path + ": the model's classes differ from the training data's");
    return model;
}

void calibrate_batch_norm(Network& net, const Dataset& data, std::size_t batch, std::uint64_t seed, int threads) {
    AugmentSettings mirror_only;
    mirror_only.zoom = 0.0f;
    mirror_only.rotation_degrees = 0.0f;
    mirror_only.shift = 0.0f;
    std::vector<std::size_t> order(data.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    recompute_batch_norm_statistics(net, data, order, batch, &mirror_only, seed, threads);
}

std::string TrainSettings::fingerprint() const {
    std::ostringstream f;
    f.precision(9);
    std::string arch_id = arch;
    if (std::filesystem::is_regular_file(arch)) {
        std::string text = read_file(arch);
        arch_id =
            "file with crc " + std::to_string(crc32({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}));
    }
    if (!init_from.empty()) {
        std::string bytes = read_file(init_from);
        arch_id = "fine-tuned from a model with crc " +
                  std::to_string(crc32({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}));
    }
    // Only a cosine schedule depends on the run's length (total=): other runs may be extended by resuming with
    // more epochs.
    f << "arch=" << arch_id << "\nbatch=" << batch << "\nseed=" << seed << "\noptimizer=" << optimizer.kind
      << " momentum=" << optimizer.momentum << " nesterov=" << optimizer.nesterov << " wd=" << optimizer.weight_decay
      << " betas=" << optimizer.beta1 << "," << optimizer.beta2 << " eps=" << optimizer.epsilon
      << "\nschedule=" << schedule.kind << " lr=" << schedule.learning_rate << " step=" << schedule.step_size
      << " gamma=" << schedule.gamma
      << (schedule.kind == "cosine" ? " total=" + std::to_string(schedule.total_epochs) : "")
      << " warmup=" << schedule.warmup_epochs << " min=" << schedule.min_lr << " factor=" << schedule.factor
      << " patience=" << schedule.patience << "\naugment=" << augment_enabled << " mirror=" << augment.mirror
      << " zoom=" << augment.zoom << " rotation=" << augment.rotation_degrees << " shift=" << augment.shift
      << "\nclass_weights=" << to_string(class_weighting)
      << (select == "accuracy" ? "" : " select=" + select)  // absent by default: older checkpoints still match
      << (dropout ? " dropout=" + std::to_string(*dropout) : "")
      << (average_from ? " average_from=" + std::to_string(average_from) : "")
      << (label_smoothing > 0.0f ? " label_smoothing=" + config_text::number(label_smoothing) : "")
      << (mixup > 0.0f ? " mixup=" + config_text::number(mixup) : "")
      << (teacher_probabilities.empty()
              ? ""
              : " teacher=" + teacher_id + " teacher_weight=" + config_text::number(teacher_weight))
      << "\ninput scale=" << input.scale << " mean=" << input.mean << " std=" << input.std << "\n";
    return f.str();
}

std::string metrics_log_path(const std::string& model_path) {
    std::filesystem::path p(model_path);
    return (p.parent_path() / (p.stem().string() + ".metrics.csv")).string();
}

std::string curves_plot_path(const std::string& model_path) {
    std::filesystem::path p(model_path);
    return (p.parent_path() / (p.stem().string() + ".curves.svg")).string();
}

TrainResult train_network(const TrainSettings& s, const Dataset& train, const Dataset& val,
                          const TrainObserver& observer, const std::atomic<bool>& stop,
                          const std::string& resume_from) {
    auto say = [&](const std::string& text) {
        if (observer.message) observer.message(text);
    };
    if (s.out.empty()) throw std::invalid_argument("no output model path given");
    if (s.epochs < 1) throw std::invalid_argument("epochs must be at least 1");
    if (s.select != "accuracy" && s.select != "macro_f1" && s.select != "last")
        throw std::invalid_argument("unknown selection metric '" + s.select + "' (accuracy, macro_f1, last)");
    if (!(s.label_smoothing >= 0.0f && s.label_smoothing < 1.0f))
        throw std::invalid_argument("label smoothing must be in [0, 1), got " + config_text::number(s.label_smoothing));
    if (!(s.mixup >= 0.0f && std::isfinite(s.mixup)))
        throw std::invalid_argument("mixup alpha must be >= 0 (0: off), got " + config_text::number(s.mixup));
    if (!s.teacher_probabilities.empty()) {
        if (s.teacher_probabilities.size() != train.size() * train.classes.size())
            throw std::invalid_argument("the teacher gives " + std::to_string(s.teacher_probabilities.size()) +
                                        " probabilities for " + std::to_string(train.size()) + " training images of " +
                                        std::to_string(train.classes.size()) + " classes");
        if (!(s.teacher_weight >= 0.0f && s.teacher_weight <= 1.0f))
            throw std::invalid_argument("the teacher's weight must be in [0, 1], got " +
                                        config_text::number(s.teacher_weight));
        if (s.label_smoothing > 0.0f || s.mixup > 0.0f)
            throw std::invalid_argument("distillation from a teacher does not combine with label smoothing or mixup");
    }
    if (s.batch < 2) throw std::invalid_argument("batch must be at least 2 (batch normalisation needs two samples)");
    if (train.size() < 2) throw std::invalid_argument("the training set needs at least two images");
    if (val.size() == 0) throw std::invalid_argument("the validation set is empty");
    if (s.average_from < 0 || s.average_from > s.epochs)
        throw std::invalid_argument("the first averaged epoch must be in [1, epochs] (or 0: no averaging), got " +
                                    std::to_string(s.average_from));
    if (train.classes != val.classes)
        throw std::invalid_argument("training and validation sets have different classes");
    const std::string checkpoint_path = s.checkpoint.empty() ? s.out + ".ckpt" : s.checkpoint;
    check_writable(s.out);
    check_writable(checkpoint_path);

    const int threads = resolve_threads(RunOptions{s.threads});
    OptimizerSettings optimizer_settings = s.optimizer;
    optimizer_settings.threads = threads;
    std::unique_ptr<Optimizer> optimizer = make_optimizer(optimizer_settings);
    std::unique_ptr<LrSchedule> schedule = make_schedule(s.schedule);
    const std::vector<float> weights = class_weights(s.class_weighting, train.class_counts());

    RunState run;
    std::optional<Network> net;
    const std::string fingerprint = s.fingerprint();
    if (!resume_from.empty()) {
        LoadedCheckpoint c = load_checkpoint(resume_from);
        if (c.fingerprint != fingerprint)
            throw std::runtime_error(resume_from + ": this checkpoint belongs to a run with other settings:\n" +
                                     c.fingerprint + "now:\n" + fingerprint);
        if (c.model->network.class_names() != train.classes)
            throw std::runtime_error(resume_from + ": the checkpoint's classes differ from the dataset's");
        const std::size_t average_size =
            epochs_averaged_before(c.run.epoch, s.average_from) > 0 ? c.model->network.params().size() : 0;
        if (c.run.average.size() != average_size)
            throw std::runtime_error(resume_from + ": corrupt checkpoint (a weight average of " +
                                     std::to_string(c.run.average.size()) + " values, expected " +
                                     std::to_string(average_size) + ")");
        run = c.run;
        optimizer->set_state(c.optimizer);
        schedule->set_state(c.schedule);
        net.emplace(std::move(c.model->network));
        say("resuming " + resume_from + " at epoch " + std::to_string(run.epoch + 1) + ", batch " +
            std::to_string(run.next_batch + 1));
    } else {
        if (s.init_from.empty()) {
            net.emplace(build_network(s.arch, s.seed, s.input, train.classes));
        } else {
            net.emplace(load_starting_model(s.init_from, train).network);
            say("fine-tuning " + s.init_from);
        }
        if (s.dropout) net = with_dropout_rate(*net, *s.dropout);
        say(net->summary());
    }

    // Reserve the run's peak disk need now instead of running out hours later: the model (with room for the
    // metrics and curves) and the checkpoint (the model again, up to two optimizer slots per parameter and
    // every epoch's record), each twice, as a replacement is written beside the old file before the rename.
    const std::uint64_t model_bytes = serialize_model(*net, ModelMetadata{}).size() + 64 * 1024;
    const std::uint64_t checkpoint_bytes = model_bytes + fingerprint.size() + 2 * sizeof(float) * net->params().size() +
                                           9 * sizeof(double) * std::uint64_t(s.epochs) +
                                           (s.average_from ? sizeof(float) * net->params().size() : 0) + 4096;
    const PlannedFile outputs[] = {{s.out, 2 * model_bytes}, {checkpoint_path, 2 * checkpoint_bytes}};
    check_writable(outputs);

    std::string weight_text;
    for (std::size_t c = 0; c < weights.size(); ++c) {
        char item[64];
        std::snprintf(item, sizeof item, "%s%s %.3f", c ? ", " : "", train.classes[c].c_str(), weights[c]);
        weight_text += item;
    }
    say("class weights (" + to_string(s.class_weighting) + "): " + weight_text);

    const std::size_t batch = std::min<std::size_t>(std::size_t(s.batch), train.size());
    // Whole batches only: a last batch of one image would break batch normalisation, and the
    // shuffle differs every epoch, so no image is left out for good.
    const std::size_t batches = train.size() / batch;
    const AugmentSettings* augment = s.augment_enabled && s.augment.enabled() ? &s.augment : nullptr;

    TrainResult result;
    result.history = run.history;
    result.best_epoch = run.best_epoch;
    if (run.best_epoch > 0) result.best_val_accuracy = run.history.at(std::size_t(run.best_epoch - 1)).val_accuracy;
    Tensor input, dlogits, mixed_input, partner_dlogits;
    std::vector<int> labels, partner_labels;
    std::vector<float> batch_teacher;
    const std::size_t classes = train.classes.size();
    std::vector<std::size_t> partners;
    auto last_checkpoint = Clock::now();

    for (; run.epoch < s.epochs; ++run.epoch, run.next_batch = 0) {
        const std::vector<std::size_t> order = epoch_order(train.size(), s.seed, run.epoch);
        const float lr = schedule->learning_rate(run.epoch);
        const std::uint64_t augment_seed = mix64(s.seed ^ mix64(0x41554721ull + std::uint64_t(run.epoch)));
        auto epoch_start = Clock::now();
        const double seconds_before = run.epoch_seconds;
        for (std::size_t b = run.next_batch; b < batches; ++b) {
            std::span<const std::size_t> indices(order.data() + b * batch, batch);
            make_batch(train, indices, net->input(), augment, augment_seed, threads, input, labels);
            const Context ctx = Context::train(RunOptions{threads, Precision::fp32, s.winograd}, run.step);
            float lambda = 1.0f;
            if (s.mixup > 0.0f) {
                Rng rng(mix64(s.seed ^ mix64(0x4D495855ull + run.step)));
                lambda = rng.beta(s.mixup, s.mixup);
                lambda = std::max(lambda, 1.0f - lambda);
                shuffle_indices(batch, rng, partners);
                partner_labels.resize(batch);
                for (std::size_t k = 0; k < batch; ++k) partner_labels[k] = labels[partners[k]];
                mix_batch(input, partners, lambda, mixed_input);
            }
            const Tensor& net_input = s.mixup > 0.0f ? mixed_input : input;
            net->zero_grads();
            const Tensor& logits = net->forward_logits(net_input, ctx);
            LossResult loss;
            if (s.teacher_probabilities.empty()) {
                loss = softmax_cross_entropy(logits, labels, weights, &dlogits, s.label_smoothing);
            } else {
                batch_teacher.resize(batch * classes);
                for (std::size_t k = 0; k < batch; ++k)
                    std::copy_n(s.teacher_probabilities.begin() + std::ptrdiff_t(indices[k] * classes), classes,
                                batch_teacher.begin() + std::ptrdiff_t(k * classes));
                loss = distillation_cross_entropy(logits, labels, batch_teacher, s.teacher_weight, weights, &dlogits);
            }
            if (s.mixup > 0.0f) {
                // The loss is linear in the target, so the blend of the two losses is the loss of the blend.
                const LossResult partner_loss =
                    softmax_cross_entropy(logits, partner_labels, weights, &partner_dlogits, s.label_smoothing);
                loss.loss = lambda * loss.loss + (1.0 - lambda) * partner_loss.loss;
                for (std::size_t i = 0; i < dlogits.size(); ++i)
                    dlogits[i] = lambda * dlogits[i] + (1.0f - lambda) * partner_dlogits[i];
            }
            if (!std::isfinite(loss.loss))
                throw std::runtime_error("epoch " + std::to_string(run.epoch + 1) + ", batch " + std::to_string(b + 1) +
                                         ": the loss is " + std::to_string(loss.loss) +
                                         "; stopping (lower the learning rate?). The last checkpoint, " +
                                         checkpoint_path + ", is kept.");
            net->backward(net_input, dlogits, ctx);
            optimizer->step(net->params(), net->grads(), net->decay_mask(), lr);
            ++run.step;
            run.next_batch = b + 1;
            run.loss_sum += loss.loss * double(batch);
            run.correct += double(loss.correct);
            run.seen += double(batch);
            run.epoch_seconds = seconds_before + seconds_since(epoch_start);
            if (observer.batch)
                observer.batch({run.epoch + 1, s.epochs, b + 1, batches, run.loss_sum / run.seen,
                                run.correct / run.seen, run.seen / std::max(run.epoch_seconds, 1e-9),
                                run.epoch_seconds});
            bool stopping = stop.load();
            if (stopping || seconds_since(last_checkpoint) >= s.checkpoint_seconds) {
                save_checkpoint(checkpoint_path, fingerprint, run, *net, *optimizer, *schedule);
                last_checkpoint = Clock::now();
                if (stopping) {
                    say("interrupted: checkpoint saved to " + checkpoint_path + " (resume with --resume " +
                        checkpoint_path + ")");
                    result.interrupted = true;
                    return result;
                }
            }
        }

        // With averaging, validate (and perhaps save) the running mean of the epochs' parameters instead.
        std::optional<Network> averaged;
        if (s.average_from > 0 && run.epoch + 1 >= s.average_from) {
            std::span<const float> params = std::as_const(*net).params();
            const int before = epochs_averaged_before(run.epoch, s.average_from);
            if (before == 0) run.average.assign(params.begin(), params.end());
            const float weight = 1.0f / float(before + 1);
            for (std::size_t i = 0; i < params.size(); ++i) run.average[i] += (params[i] - run.average[i]) * weight;
            averaged.emplace(rebuilt(*net, net->architecture(), "the averaged network"));
            std::copy(run.average.begin(), run.average.end(), averaged->params().begin());
            const std::vector<std::size_t> statistics_order =
                epoch_order(train.size(), s.seed ^ 0x535741ull, run.epoch);  // not the epoch's own order
            recompute_batch_norm_statistics(*averaged, train, statistics_order, batch, augment,
                                            mix64(augment_seed ^ 0x535741ull), threads);
        }
        Network& validated = averaged ? *averaged : *net;

        Network* members[] = {&validated};
        std::vector<float> probabilities = predict_probabilities(members, {}, val, PredictOptions{threads, 256, false});
        Evaluation evaluation = evaluate_probabilities(probabilities, val);
        EpochRecord record;
        record.epoch = run.epoch + 1;
        record.learning_rate = lr;
        record.train_loss = run.loss_sum / std::max(run.seen, 1.0);
        record.train_accuracy = run.correct / std::max(run.seen, 1.0);
        record.val_loss = evaluation.loss;
        record.val_accuracy = evaluation.matrix.accuracy();
        record.val_macro_f1 = evaluation.matrix.macro_f1();
        record.seconds = run.epoch_seconds;
        record.images_per_second = run.seen / std::max(run.epoch_seconds, 1e-9);
        run.history.push_back(record);
        run.loss_sum = run.correct = run.seen = run.epoch_seconds = 0;
        schedule->on_epoch_end(run.epoch, evaluation.loss);

        const double score = s.select == "macro_f1" ? record.val_macro_f1
                             : s.select == "last"   ? double(record.epoch)
                                                    : record.val_accuracy;
        const bool improved = score > run.best_val_score;
        if (improved) {
            run.best_val_score = score;
            run.best_epoch = record.epoch;
            run.epochs_without_improvement = 0;
            ModelMetadata meta{
                std::filesystem::path(s.out).stem().string(), std::string("fer-train ") + FER_VERSION, {}};
            meta.extra["arch"] = s.arch;
            meta.extra["epoch"] = std::to_string(record.epoch);
            meta.extra["val_accuracy"] = std::to_string(record.val_accuracy);
            meta.extra["val_macro_f1"] = std::to_string(record.val_macro_f1);
            meta.extra["seed"] = std::to_string(s.seed);
            if (averaged)
                meta.extra["averaged_epochs"] = std::to_string(s.average_from) + "-" + std::to_string(record.epoch);
            save_model(s.out, validated, meta);
        } else {
            ++run.epochs_without_improvement;
        }
        write_file_atomically(metrics_log_path(s.out), metrics_csv(run.history));
        write_file_atomically(curves_plot_path(s.out), curves_svg(run.history));
        if (observer.epoch) observer.epoch(record, improved);
        result.history = run.history;
        result.best_epoch = run.best_epoch;
        result.best_val_accuracy = run.history.at(std::size_t(run.best_epoch - 1)).val_accuracy;

        const bool patience_out = s.patience > 0 && run.epochs_without_improvement >= s.patience;
        RunState next = run;
        ++next.epoch;
        next.next_batch = 0;
        save_checkpoint(checkpoint_path, fingerprint, next, *net, *optimizer, *schedule);
        last_checkpoint = Clock::now();
        if (patience_out) {
            say("early stop: no better validation " + s.select + " for " + std::to_string(s.patience) + " epochs");
            result.stopped_early = true;
            return result;
        }
        if (stop.load()) {
            say("interrupted after epoch " + std::to_string(record.epoch) + ": checkpoint saved to " + checkpoint_path);
            result.interrupted = true;
            return result;
        }
    }
    return result;
}

}  // namespace fer

// End-to-end training tests on small synthetic data: the training loop learns, resuming is exact,
// checkpoints and models are valid, ensembles and reports add up, and bad settings fail clearly.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <string>

#include "fer/atomic_file.hpp"
#include "fer/batch.hpp"
#include "fer/dataset.hpp"
#include "fer/evaluate.hpp"
#include "fer/model_file.hpp"
#include "fer/model_zoo.hpp"
#include "fer/synthetic_data.hpp"
#include "fer/trainer.hpp"
#include "temp_dir.hpp"
#include "tiny_architecture.hpp"

namespace fer {
namespace {

struct SyntheticSplits {
    TempDir dir;
    Dataset train, val;
    std::string arch_path;
};

SyntheticSplits make_splits(std::size_t per_class) {
    SyntheticSplits s;
    write_synthetic_dataset(s.dir.file("train"), fer2013_classes(), per_class, 11);
    write_synthetic_dataset(s.dir.file("val"), fer2013_classes(), per_class / 2, 12);
    LoadOptions options;
    s.train = load_image_folder(s.dir.file("train"), options);
    s.val = load_image_folder(s.dir.file("val"), options);
    s.arch_path = s.dir.file("tiny.arch");
    write_file_atomically(s.arch_path, std::string(kTinyArchitecture));
    return s;
}

TrainSettings tiny_settings(const SyntheticSplits& s, const std::string& out) {
    TrainSettings t;
    t.arch = s.arch_path;
    t.epochs = 3;
    t.batch = 16;
    t.optimizer.kind = "adam";
    t.schedule.learning_rate = 0.01f;
    t.seed = 5;
    t.threads = 2;
    t.out = out;
    t.augment.rotation_degrees = 5;
    return t;
}

std::vector<float> file_params(const std::string& path) {
    LoadedModel m = load_model(path);
    return {m.network.params().begin(), m.network.params().end()};
}

}  // namespace

TEST_CASE("training learns the synthetic classes and writes model, metrics and curves") {
    SyntheticSplits s = make_splits(40);
    std::atomic<bool> stop{false};
    TrainSettings t = tiny_settings(s, s.dir.file("tiny.fer"));
    t.epochs = 6;
    t.schedule.learning_rate = 0.003f;
    TrainResult result = train_network(t, s.train, s.val, {}, stop);
    REQUIRE(result.history.size() == 6);
    CHECK_FALSE(result.interrupted);
    CHECK(result.best_val_accuracy > 0.45);  // chance is 1/7
    CHECK(result.history.back().train_loss < result.history.front().train_loss);

    LoadedModel model = load_model(t.out);
    CHECK(model.network.class_names() == fer2013_classes());
    CHECK(model.metadata.extra.at("epoch") == std::to_string(result.best_epoch));
    // The saved model is the best epoch: evaluating it reproduces that epoch's validation accuracy.
    Network* nets[] = {&model.network};
    Evaluation e = evaluate_probabilities(predict_probabilities(nets, {}, s.val, {}), s.val);
    CHECK(e.matrix.accuracy() == doctest::Approx(result.best_val_accuracy).epsilon(1e-9));
    CHECK(e.matrix.total() == s.val.size());

    std::string csv = read_file(metrics_log_path(t.out));
    CHECK(csv.starts_with("epoch,learning_rate,train_loss"));
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 7);
    CHECK(read_file(curves_plot_path(t.out)).find("<svg") == 0);
}

TEST_CASE("a run is bit-identical for the same seed and threads, and differs with another seed") {
    SyntheticSplits s = make_splits(8);
    std::atomic<bool> stop{false};
    TrainSettings a = tiny_settings(s, s.dir.file("a.fer"));
    a.epochs = 1;
    TrainSettings b = a;
    b.out = s.dir.file("b.fer");
    TrainSettings c = a;
    c.out = s.dir.file("c.fer");
    c.seed = 6;
    train_network(a, s.train, s.val, {}, stop);
    train_network(b, s.train, s.val, {}, stop);
    train_network(c, s.train, s.val, {}, stop);
    CHECK(file_params(a.out) == file_params(b.out));
    CHECK(file_params(a.out) != file_params(c.out));

    SUBCASE("label smoothing trains another network under another fingerprint") {
        TrainSettings smoothed = a;
        smoothed.out = s.dir.file("smoothed.fer");
        smoothed.label_smoothing = 0.1f;
        CHECK(smoothed.fingerprint() != a.fingerprint());
        train_network(smoothed, s.train, s.val, {}, stop);
        CHECK(file_params(smoothed.out) != file_params(a.out));
    }
    SUBCASE("mixup trains another network, the same one for the same seed") {
        TrainSettings mixed = a, again = a;
        mixed.out = s.dir.file("mixed.fer");
        again.out = s.dir.file("again.fer");
        mixed.mixup = again.mixup = 0.4f;
        CHECK(mixed.fingerprint() != a.fingerprint());
        train_network(mixed, s.train, s.val, {}, stop);
        train_network(again, s.train, s.val, {}, stop);
        CHECK(file_params(mixed.out) != file_params(a.out));
        CHECK(file_params(mixed.out) == file_params(again.out));
    }
}

TEST_CASE("an interrupted and resumed run ends exactly where an uninterrupted one does") {
    SyntheticSplits s = make_splits(16);
    std::atomic<bool> never{false};
    TrainSettings whole = tiny_settings(s, s.dir.file("whole.fer"));
    whole.schedule.kind = "plateau";  // stateful schedule: its state must survive the checkpoint
    whole.schedule.patience = 0;
    whole.mixup = 0.4f;  // drawn per step: a resumed run must draw the same blends
    TrainResult uninterrupted = train_network(whole, s.train, s.val, {}, never);

    TrainSettings parts = whole;
    parts.out = s.dir.file("parts.fer");
    std::atomic<bool> stop{false};
    TrainObserver observer;
    // Stop in the middle of the second epoch.
    observer.batch = [&](const BatchProgress& p) {
        if (p.epoch == 2 && p.batch == 3) stop = true;
    };
    TrainResult first = train_network(parts, s.train, s.val, observer, stop);
    REQUIRE(first.interrupted);
    REQUIRE(first.history.size() == 1);
    REQUIRE(std::filesystem::exists(parts.out + ".ckpt"));

    std::atomic<bool> go{false};
    TrainResult resumed = train_network(parts, s.train, s.val, {}, go, parts.out + ".ckpt");
    REQUIRE(resumed.history.size() == uninterrupted.history.size());
    for (std::size_t i = 0; i < resumed.history.size(); ++i) {
        CHECK(resumed.history[i].train_loss == uninterrupted.history[i].train_loss);
        CHECK(resumed.history[i].val_accuracy == uninterrupted.history[i].val_accuracy);
        CHECK(resumed.history[i].learning_rate == uninterrupted.history[i].learning_rate);
    }
    CHECK(file_params(parts.out) == file_params(whole.out));
    LoadedModel a = load_model(parts.out), b = load_model(whole.out);
    CHECK(std::vector<float>(a.network.state().begin(), a.network.state().end()) ==
          std::vector<float>(b.network.state().begin(), b.network.state().end()));
}

TEST_CASE("resuming refuses a checkpoint of a run with other settings, and a damaged checkpoint") {
    SyntheticSplits s = make_splits(8);
    std::atomic<bool> stop{false};
    TrainSettings t = tiny_settings(s, s.dir.file("m.fer"));
    t.epochs = 1;
    train_network(t, s.train, s.val, {}, stop);
    TrainSettings other = t;
    other.batch = 8;
    CHECK_THROWS_WITH(train_network(other, s.train, s.val, {}, stop, t.out + ".ckpt"),
                      doctest::Contains("other settings"));
    std::string bytes = read_file(t.out + ".ckpt");
    bytes[bytes.size() / 2] ^= 0x5a;
    write_file_atomically(s.dir.file("bad.ckpt"), bytes);
    CHECK_THROWS_WITH(train_network(t, s.train, s.val, {}, stop, s.dir.file("bad.ckpt")),
                      doctest::Contains("corrupt checkpoint"));
    write_file_atomically(s.dir.file("short.ckpt"), bytes.substr(0, 5));
    CHECK_THROWS_WITH(train_network(t, s.train, s.val, {}, stop, s.dir.file("short.ckpt")),
                      doctest::Contains("not a fer-train checkpoint"));
}

TEST_CASE("fine-tuning starts from the given model's parameters and refuses other classes") {
    SyntheticSplits s = make_splits(8);
    std::atomic<bool> stop{false};
    TrainSettings base = tiny_settings(s, s.dir.file("base.fer"));
    base.epochs = 2;
    TrainResult base_run = train_network(base, s.train, s.val, {}, stop);

    // With a vanishing learning rate (updates far below a float's resolution; zero is refused) and no momentum
    // or decay nothing moves: the parameters are the init model's.
    TrainSettings frozen = tiny_settings(s, s.dir.file("frozen.fer"));
    frozen.arch = "five_layer";  // ignored: the init model's architecture is used
    frozen.init_from = base.out;
    frozen.epochs = 1;
    frozen.optimizer.kind = "sgd";
    frozen.optimizer.momentum = 0;
    frozen.schedule.learning_rate = 1e-30f;
    train_network(frozen, s.train, s.val, {}, stop);
    CHECK(file_params(frozen.out) == file_params(base.out));

    // Training on from the model starts where the base run ended, not from a fresh network's loss.
    TrainSettings tuned = tiny_settings(s, s.dir.file("tuned.fer"));
    tuned.init_from = base.out;
    tuned.epochs = 1;
    tuned.class_weighting = ClassWeighting::balanced;
    TrainResult tuned_run = train_network(tuned, s.train, s.val, {}, stop);
    CHECK(tuned_run.history.front().train_loss < base_run.history.front().train_loss);
    CHECK(tuned.fingerprint() != tiny_settings(s, tuned.out).fingerprint());

    Dataset renamed_train = s.train, renamed_val = s.val;
    renamed_train.classes[0] = renamed_val.classes[0] = "anger";
    CHECK_THROWS_WITH(train_network(tuned, renamed_train, renamed_val, {}, stop),
                      doctest::Contains("base.fer: the model's classes differ"));
    TrainSettings missing = tuned;
    missing.init_from = s.dir.file("no-such.fer");
    CHECK_THROWS_WITH(train_network(missing, s.train, s.val, {}, stop), doctest::Contains("no-such.fer"));
}

TEST_CASE("with_dropout_rate changes only the dropout rates; a fine-tune with --dropout trains with them") {
    Network gap = build_network("gap", 3, InputSpec{}, fer2013_classes());
    Network loose = with_dropout_rate(gap, 0.2f);
    const std::string before = gap.architecture(), after = loose.architecture();
    auto count = [](const std::string& text, const std::string& what) {
        std::size_t n = 0;
        for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
        return n;
    };
    CHECK(count(before, "dropout rate=0.5 ") == 4);
    CHECK(count(after, "dropout rate=0.2 ") == 4);
    CHECK(count(after, "dropout rate=0.5 ") == 0);
    std::string restored = after;
    for (std::size_t at = restored.find("rate=0.2 "); at != std::string::npos; at = restored.find("rate=0.2 ", at))
        restored.replace(at, 9, "rate=0.5 ");
    CHECK(restored == before);  // seeds and every other layer unchanged
    CHECK(std::equal(gap.params().begin(), gap.params().end(), loose.params().begin(), loose.params().end()));
    CHECK(std::equal(gap.state().begin(), gap.state().end(), loose.state().begin(), loose.state().end()));
    Tensor image(Shape{2, 1, 48, 48});
    for (std::size_t i = 0; i < image.size(); ++i) image.data()[i] = float(i % 97) / 97.0f;
    const Context eval = Context::eval(RunOptions{1});
    const Tensor first = gap.forward(image, eval);
    CHECK(std::equal(first.data(), first.data() + first.size(), loose.forward(image, eval).data()));
    CHECK_THROWS_WITH(with_dropout_rate(gap, 1.0f), doctest::Contains("dropout rate must be in [0, 1)"));

    // Through train_network: the saved model carries the new rate, and the setting is part of the run.
    SyntheticSplits s = make_splits(8);
    const std::string arch = std::string(kTinyArchitecture);
    write_file_atomically(s.dir.file("drop.arch"),
                          arch.substr(0, arch.find("dense")) + "dropout rate=0.5\n" + arch.substr(arch.find("dense")));
    std::atomic<bool> stop{false};
    TrainSettings base = tiny_settings(s, s.dir.file("base.fer"));
    base.arch = s.dir.file("drop.arch");
    base.epochs = 1;
    train_network(base, s.train, s.val, {}, stop);
    TrainSettings tuned = tiny_settings(s, s.dir.file("tuned.fer"));
    tuned.init_from = base.out;
    tuned.dropout = 0.125f;
    tuned.epochs = 1;
    train_network(tuned, s.train, s.val, {}, stop);
    CHECK(count(load_model(tuned.out).network.architecture(), "dropout rate=0.125 ") == 1);
    CHECK(count(load_model(base.out).network.architecture(), "dropout rate=0.5 ") == 1);
    TrainSettings same = tuned;
    same.dropout.reset();
    CHECK(tuned.fingerprint() != same.fingerprint());
}

TEST_CASE("--select macro_f1 keeps the epoch with the best validation macro-F1") {
    SyntheticSplits s = make_splits(8);
    std::atomic<bool> stop{false};
    TrainSettings t = tiny_settings(s, s.dir.file("f1.fer"));
    t.epochs = 4;
    t.select = "macro_f1";
    TrainResult r = train_network(t, s.train, s.val, {}, stop);
    REQUIRE(r.history.size() == 4);
    std::size_t best = 0;
    for (std::size_t i = 1; i < r.history.size(); ++i)
        if (r.history[i].val_macro_f1 > r.history[best].val_macro_f1) best = i;
    CHECK(r.best_epoch == int(best + 1));
    CHECK(r.best_val_accuracy == r.history[best].val_accuracy);
    CHECK(load_model(t.out).metadata.extra.at("epoch") == std::to_string(best + 1));
    CHECK(t.fingerprint() != tiny_settings(s, t.out).fingerprint());

    t.select = "loss";
    CHECK_THROWS_WITH(train_network(t, s.train, s.val, {}, stop), doctest::Contains("unknown selection metric"));
}

TEST_CASE("recompute_batch_norm_statistics leaves the plain mean of the batch statistics") {
    SyntheticSplits s = make_splits(16);  // 112 images: 14 batches of 8, more than momentum 0.5 would average
    const std::string arch =
        "input channels=1 height=48 width=48\nbatchnorm momentum=0.5\nglobal_avg_pool\n"
        "flatten\ndense units=7\nsoftmax\n";
    write_file_atomically(s.arch_path, arch);
    Network net = build_network(s.arch_path, 3, InputSpec{}, fer2013_classes());
    std::vector<std::size_t> order(s.train.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = order.size() - 1 - i;
    const std::size_t batch = 8;
    const std::vector<float> params_before(net.params().begin(), net.params().end());
    recompute_batch_norm_statistics(net, s.train, order, batch, nullptr, 0, 2);

    double mean_sum = 0, var_sum = 0;
    int batches = 0;
    Tensor input;
    std::vector<int> labels;
    for (std::size_t b = 0; b + batch <= order.size(); b += batch, ++batches) {
        make_batch(s.train, std::span<const std::size_t>(order).subspan(b, batch), net.input(), nullptr, 0, 1, input,
                   labels);
        double sum = 0, squares = 0;
        for (float v : input.span()) sum += v;
        const double mean = sum / double(input.size());
        for (float v : input.span()) squares += (v - mean) * (v - mean);
        mean_sum += mean;
        var_sum += squares / double(input.size() - 1);
    }
    REQUIRE(batches == 14);
    REQUIRE(net.state().size() == 2);  // one channel: running mean, running variance
    CHECK(net.state()[0] == doctest::Approx(mean_sum / batches).epsilon(1e-5));
    CHECK(net.state()[1] == doctest::Approx(var_sum / batches).epsilon(1e-5));
    CHECK(std::vector<float>(net.params().begin(), net.params().end()) == params_before);
    CHECK_THROWS_AS(
        recompute_batch_norm_statistics(net, s.train, std::span<const std::size_t>(order).first(3), 4, nullptr, 0, 1),
        std::invalid_argument);
}

TEST_CASE("calibrate_batch_norm takes the statistics of unwarped, randomly mirrored images in data order") {
    SyntheticSplits s = make_splits(8);
    const auto fresh = [] { return build_network("gap", 3, InputSpec{}, fer2013_classes()); };
    std::vector<std::size_t> order(s.train.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    AugmentSettings mirror_only;
    mirror_only.zoom = mirror_only.rotation_degrees = mirror_only.shift = 0.0f;

    Network net = fresh();
    const std::vector<float> params_before(net.params().begin(), net.params().end());
    calibrate_batch_norm(net, s.train, 8, 21, 2);
    Network expected = fresh();
    recompute_batch_norm_statistics(expected, s.train, order, 8, &mirror_only, 21, 2);
    CHECK(std::ranges::equal(net.state(), expected.state()));
    CHECK(std::vector<float>(net.params().begin(), net.params().end()) == params_before);

    // The training warps give other statistics, and so does another mirroring draw.
    Network warped = fresh();
    const AugmentSettings training_warps;
    recompute_batch_norm_statistics(warped, s.train, order, 8, &training_warps, 21, 2);
    CHECK_FALSE(std::ranges::equal(warped.state(), net.state()));
    Network other_seed = fresh();
    calibrate_batch_norm(other_seed, s.train, 8, 22, 2);
    CHECK_FALSE(std::ranges::equal(other_seed.state(), net.state()));
}

TEST_CASE("weight averaging saves the mean of the averaged epochs' parameters, and resumes exactly") {
    SyntheticSplits s = make_splits(8);
    std::atomic<bool> never{false};
    TrainSettings plain = tiny_settings(s, s.dir.file("epoch2.fer"));
    plain.schedule.kind = "constant";  // the same trajectory whatever the number of epochs
    plain.select = "last";
    plain.epochs = 2;
    train_network(plain, s.train, s.val, {}, never);
    TrainSettings plain3 = plain;
    plain3.epochs = 3;
    plain3.out = s.dir.file("epoch3.fer");
    train_network(plain3, s.train, s.val, {}, never);

    // A constant schedule does not depend on the run's length: the 2-epoch run, resumed with 3, is the 3-epoch run.
    TrainSettings extended = plain;
    extended.epochs = 3;
    extended.out = s.dir.file("extended.fer");
    train_network(extended, s.train, s.val, {}, never, plain.out + ".ckpt");
    CHECK(file_params(extended.out) == file_params(plain3.out));
    TrainSettings cosine = plain;
    cosine.schedule.kind = "cosine";
    cosine.schedule.total_epochs = 2;
    TrainSettings cosine_longer = cosine;
    cosine_longer.epochs = cosine_longer.schedule.total_epochs = 3;
    CHECK(cosine.fingerprint() != cosine_longer.fingerprint());

    TrainSettings averaged = plain3;
    averaged.out = s.dir.file("averaged.fer");
    averaged.average_from = 2;
    TrainResult result = train_network(averaged, s.train, s.val, {}, never);
    REQUIRE(result.best_epoch == 3);
    LoadedModel model = load_model(averaged.out);
    CHECK(model.metadata.extra.at("averaged_epochs") == "2-3");
    const std::vector<float> p2 = file_params(plain.out), p3 = file_params(plain3.out),
                             mean = file_params(averaged.out);
    REQUIRE(mean.size() == p2.size());
    CHECK(p2 != p3);
    std::size_t off = 0;
    for (std::size_t i = 0; i < mean.size(); ++i)
        if (std::abs(mean[i] - 0.5f * (p2[i] + p3[i])) > 1e-6f * (1 + std::abs(p3[i]))) ++off;
    CHECK(off == 0);
    // The statistics were recomputed for the mean, not taken from the last epoch.
    LoadedModel last = load_model(plain3.out);
    CHECK(std::vector<float>(model.network.state().begin(), model.network.state().end()) !=
          std::vector<float>(last.network.state().begin(), last.network.state().end()));
    // The validation accuracy recorded is the averaged network's.
    Network* nets[] = {&model.network};
    Evaluation e = evaluate_probabilities(predict_probabilities(nets, {}, s.val, {}), s.val);
    CHECK(e.matrix.accuracy() == doctest::Approx(result.history.back().val_accuracy).epsilon(1e-9));

    // Interrupted in the last epoch, after one epoch was averaged: the checkpoint carries the average.
    TrainSettings parts = averaged;
    parts.out = s.dir.file("parts.fer");
    std::atomic<bool> stop{false};
    TrainObserver observer;
    observer.batch = [&](const BatchProgress& p) {
        if (p.epoch == 3 && p.batch == 2) stop = true;
    };
    REQUIRE(train_network(parts, s.train, s.val, observer, stop).interrupted);
    std::atomic<bool> go{false};
    train_network(parts, s.train, s.val, {}, go, parts.out + ".ckpt");
    CHECK(file_params(parts.out) == mean);
    LoadedModel resumed = load_model(parts.out);
    CHECK(std::vector<float>(resumed.network.state().begin(), resumed.network.state().end()) ==
          std::vector<float>(model.network.state().begin(), model.network.state().end()));

    CHECK(averaged.fingerprint() != plain3.fingerprint());
    averaged.average_from = 4;
    CHECK_THROWS_WITH(train_network(averaged, s.train, s.val, {}, never), doctest::Contains("first averaged epoch"));
}

TEST_CASE("a diverging run stops with a clear message and keeps its last checkpoint") {
    SyntheticSplits s = make_splits(8);
    std::atomic<bool> stop{false};
    TrainSettings t = tiny_settings(s, s.dir.file("m.fer"));
    t.epochs = 1;
    train_network(t, s.train, s.val, {}, stop);
    std::string checkpoint = read_file(t.out + ".ckpt");
    TrainSettings wild = t;
    wild.epochs = 2;
    wild.optimizer.kind = "sgd";
    wild.schedule.learning_rate = 1e30f;
    wild.out = s.dir.file("wild.fer");
    wild.checkpoint = t.out + ".ckpt";
    CHECK_THROWS_WITH(train_network(wild, s.train, s.val, {}, stop), doctest::Contains("loss is"));
    CHECK(read_file(t.out + ".ckpt") == checkpoint);
}

TEST_CASE("bad training settings fail before any work") {
    SyntheticSplits s = make_splits(4);
    std::atomic<bool> stop{false};
    TrainSettings t = tiny_settings(s, s.dir.file("m.fer"));
    TrainSettings missing_folder = t;
    missing_folder.out = s.dir.file("no/such/folder/m.fer");
    CHECK_THROWS_WITH(train_network(missing_folder, s.train, s.val, {}, stop), doctest::Contains("does not exist"));
    TrainSettings unknown_arch = t;
    unknown_arch.arch = "no_such_model";
    CHECK_THROWS_WITH(train_network(unknown_arch, s.train, s.val, {}, stop), doctest::Contains("five_layer"));
    TrainSettings one = t;
    one.batch = 1;
    CHECK_THROWS_WITH(train_network(one, s.train, s.val, {}, stop), doctest::Contains("batch"));
    TrainSettings certain = t;
    certain.label_smoothing = 1.0f;
    CHECK_THROWS_WITH(train_network(certain, s.train, s.val, {}, stop), doctest::Contains("label smoothing"));
    TrainSettings negative_mixup = t;
    negative_mixup.mixup = -0.2f;
    CHECK_THROWS_WITH(train_network(negative_mixup, s.train, s.val, {}, stop), doctest::Contains("mixup"));
    TrainSettings short_teacher = t;
    short_teacher.teacher_probabilities.assign(7, 1.0f / 7.0f);
    const std::string short_message = "the teacher gives 7 probabilities for " + std::to_string(s.train.size());
    CHECK_THROWS_WITH(train_network(short_teacher, s.train, s.val, {}, stop), doctest::Contains(short_message.c_str()));
    TrainSettings teacher_and_mixup = t;
    teacher_and_mixup.teacher_probabilities.assign(s.train.size() * 7, 1.0f / 7.0f);
    teacher_and_mixup.mixup = 0.2f;
    CHECK_THROWS_WITH(train_network(teacher_and_mixup, s.train, s.val, {}, stop),
                      doctest::Contains("does not combine with label smoothing or mixup"));
    TrainSettings heavy_teacher = teacher_and_mixup;
    heavy_teacher.mixup = 0.0f;
    heavy_teacher.teacher_weight = 1.5f;
    CHECK_THROWS_WITH(train_network(heavy_teacher, s.train, s.val, {}, stop), doctest::Contains("teacher's weight"));
}

TEST_CASE("distillation trains toward the teacher's probabilities, not only the labels") {
    // A teacher that puts all its weight on the class three further on: at teacher_weight 1 the network must
    // learn the shifted classes, which a loss that ignored the teacher could not do. (The synthetic classes
    // are ordered stripe frequencies, so a shift by one would leave neighbours confusable with the labels.)
    SyntheticSplits s = make_splits(40);
    std::atomic<bool> stop{false};
    TrainSettings t = tiny_settings(s, s.dir.file("distilled.fer"));
    t.epochs = 8;
    t.schedule.learning_rate = 0.003f;
    t.augment_enabled = false;
    const std::size_t classes = s.train.classes.size();
    auto shifted = [&](int label) { return (label + 3) % int(classes); };
    t.teacher_probabilities.assign(s.train.size() * classes, 0.0f);
    for (std::size_t i = 0; i < s.train.size(); ++i)
        t.teacher_probabilities[i * classes + std::size_t(shifted(s.train.labels[i]))] = 1.0f;
    t.teacher_weight = 1.0f;
    t.teacher_id = "shifted";
    t.select = "last";
    train_network(t, s.train, s.val, {}, stop);

    LoadedModel model = load_model(t.out);
    Network* nets[] = {&model.network};
    const std::vector<float> probabilities = predict_probabilities(nets, {}, s.val, {});
    std::size_t as_teacher = 0, as_label = 0;
    for (std::size_t i = 0; i < s.val.size(); ++i) {
        const float* row = probabilities.data() + i * classes;
        const int predicted = int(std::max_element(row, row + classes) - row);
        as_teacher += predicted == shifted(s.val.labels[i]);
        as_label += predicted == s.val.labels[i];
    }
    MESSAGE("predicted the teacher's class for " << as_teacher << ", the label for " << as_label << " of "
                                                 << s.val.size() << " validation images");
    CHECK(double(as_teacher) / double(s.val.size()) > 0.3);  // chance is 1/7
    CHECK(as_teacher > 2 * as_label);
}

TEST_CASE("a small network overfits a small batch to 100 %") {
    SyntheticSplits s = make_splits(3);  // 21 images
    std::atomic<bool> stop{false};
    TrainSettings t = tiny_settings(s, s.dir.file("m.fer"));
    // 120 steps, not 60: after 60 the training loss was still 0.06 and the eval-mode accuracy (running
    // statistics of momentum 0.9 that lag the weights) 20 or 21 of 21 depending on rounding (the SSE2
    // build against the AVX ones); from about step 70 on both builds fit every image in both modes.
    t.epochs = 120;
    t.batch = 21;
    t.augment_enabled = false;
    Dataset& train = s.train;
    TrainResult r = train_network(t, train, train, {}, stop);
    CHECK(r.history.back().train_accuracy == 1.0);
    CHECK(r.best_val_accuracy == 1.0);
}

TEST_CASE("ensembles average probabilities; the report's confusion matrix sums to the image count") {
    SyntheticSplits s = make_splits(12);
    std::atomic<bool> stop{false};
    TrainSettings a = tiny_settings(s, s.dir.file("a.fer"));
    a.epochs = 1;
    TrainSettings b = a;
    b.out = s.dir.file("b.fer");
    b.seed = 9;
    train_network(a, s.train, s.val, {}, stop);
    train_network(b, s.train, s.val, {}, stop);
    LoadedModel ma = load_model(a.out), mb = load_model(b.out);
    Network* one[] = {&ma.network};
    Network* other[] = {&mb.network};
    Network* both[] = {&ma.network, &mb.network};
    std::vector<float> pa = predict_probabilities(one, {}, s.val, {});
    std::vector<float> pb = predict_probabilities(other, {}, s.val, {});
    std::vector<float> pab = predict_probabilities(both, {}, s.val, {});
    const float weights[] = {3.0f, 1.0f};
    std::vector<float> weighted = predict_probabilities(both, weights, s.val, {});
    for (std::size_t i = 0; i < pa.size(); ++i) {
        CHECK(pab[i] == doctest::Approx(0.5f * (pa[i] + pb[i])).epsilon(1e-5));
        CHECK(weighted[i] == doctest::Approx(0.75f * pa[i] + 0.25f * pb[i]).epsilon(1e-5));
    }
    // Mirror TTA is the mean of the image and its mirror.
    PredictOptions tta;
    tta.tta = true;
    std::vector<float> with_tta = predict_probabilities(one, {}, s.val, tta);
    CHECK(with_tta != pa);
    float row_sum = 0;
    for (int c = 0; c < 7; ++c) row_sum += with_tta[std::size_t(c)];
    CHECK(row_sum == doctest::Approx(1.0f).epsilon(1e-5));

    Evaluation e = evaluate_probabilities(pab, s.val);
    CHECK(e.matrix.total() == s.val.size());
    std::string names[] = {"a.fer", "b.fer"};
    std::string json = evaluation_json(e, s.val.classes, names);
    for (const char* key : {"\"accuracy\":", "\"macro_f1\":", "\"classes\":", "\"per_class\":", "\"confusion\":",
                            "\"precision\":", "\"recall\":", "\"f1\":", "\"support\":"})
        CHECK_MESSAGE(json.find(key) != std::string::npos, key);
    CHECK_THROWS_WITH(predict_probabilities(both, std::vector<float>{1.0f}, s.val, {}),
                      doctest::Contains("1 weights for 2 models"));
}

}  // namespace fer

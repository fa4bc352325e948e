// fer-bench: training and inference speed of the model zoo's networks, per cell and per layer.
//
// Cells (each at every --threads value): training img/s at batch 64 and 256 (forward_logits +
// softmax cross-entropy + backward + Adam step on random data), eval inference img/s at batch 256,
// and batch-1 eval latency (median and p99). Warm-up runs are excluded and each figure is the median
// of several timed runs, so one preempted run (a loaded machine) does not decide the result.
// --layers adds the forward and backward time of every layer, which is what says where to work.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fer/architecture.hpp"
#include "fer/context.hpp"
#include "fer/conv_bf16.hpp"
#include "fer/json_writer.hpp"
#include "fer/loss.hpp"
#include "fer/model_zoo.hpp"
#include "fer/network.hpp"
#include "fer/optimizer.hpp"
#include "fer/rng.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the calling thread: on a loaded machine it leaves out the time other processes held the
// core, which makes single-thread comparisons far steadier than wall time.
double thread_cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return double(now.tv_sec) + 1e-9 * double(now.tv_nsec);
}

// Timed runs: `warmup` untimed ones, then at least `min_runs`, more while the total stays under
// `budget_s`, never more than `max_runs`. Slow cells get few runs, fast ones many.
struct RepeatPolicy {
    int warmup, min_runs, max_runs;
    double budget_s;
};

// With cpu_time each run is measured in the calling thread's CPU time (see thread_cpu_seconds).
template <class Run>
std::vector<double> time_runs(const RepeatPolicy& policy, bool cpu_time, Run&& run) {
    for (int i = 0; i < policy.warmup; ++i) run();
    std::vector<double> times;
    const auto start = Clock::now();
    while (int(times.size()) < policy.max_runs &&
           (int(times.size()) < policy.min_runs || seconds_since(start) < policy.budget_s)) {
        const auto run_start = Clock::now();
        const double cpu_start = cpu_time ? thread_cpu_seconds() : 0.0;
        run();
        times.push_back(cpu_time ? thread_cpu_seconds() - cpu_start : seconds_since(run_start));
    }
    return times;
}

// q in [0, 1]; nearest-rank quantile of the sorted times (q = 0.5 is the median).
double quantile(std::vector<double> values, double q) {
    std::sort(values.begin(), values.end());
    const std::size_t rank = std::size_t(q * double(values.size() - 1) + 0.5);
    return values[std::min(rank, values.size() - 1)];
}

double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

fer::Tensor random_images(int batch, const fer::InputSpec& input, fer::Rng& rng) {
    fer::Tensor images({batch, input.channels, input.height, input.width});
    for (float& value : images.span()) value = rng.uniform();
    return images;
}

std::vector<int> random_labels(int batch, int classes, fer::Rng& rng) {
    std::vector<int> labels(static_cast<std::size_t>(batch));
    for (int& label : labels) label = int(rng.below(std::uint64_t(classes)));
    return labels;
}

struct BenchSettings {
    bool quick = false;
    std::uint64_t seed = 1;
    int layer_batch = 64;
    bool cpu_time = false;  // every time as the main thread's CPU time (meaningful at one thread only)
    fer::Precision precision = fer::Precision::fp32;  // of the inference cells (training is fp32)
    bool winograd = true;                             // of every cell (RunOptions::winograd)
    std::vector<std::string> cells{"train64", "train256", "infer256", "latency"};

    bool wants(const std::string& cell) const { return std::find(cells.begin(), cells.end(), cell) != cells.end(); }
    RepeatPolicy heavy() const { return quick ? RepeatPolicy{1, 2, 2, 0.0} : RepeatPolicy{2, 5, 15, 6.0}; }
    RepeatPolicy latency() const { return quick ? RepeatPolicy{5, 30, 30, 0.0} : RepeatPolicy{20, 300, 2000, 3.0}; }
};

// One training step per run: the loop fer-train runs, minus data loading.
double training_images_per_second(const std::string& model, int batch, int threads, const BenchSettings& settings) {
    fer::Network network = fer::build_model(model, settings.seed);
    fer::OptimizerSettings optimizer_settings;
    optimizer_settings.kind = "adam";
    optimizer_settings.threads = threads;
    auto optimizer = fer::make_optimizer(optimizer_settings);
    fer::Rng rng(settings.seed);
    const fer::Tensor images = random_images(batch, network.input(), rng);
    const std::vector<int> labels = random_labels(batch, int(network.class_names().size()), rng);
    const fer::RunOptions options{threads, fer::Precision::fp32, settings.winograd};
    fer::Tensor dlogits;
    std::uint64_t step = 0;
    const auto times = time_runs(settings.heavy(), settings.cpu_time, [&] {
        const fer::Context ctx = fer::Context::train(options, step++);
        network.zero_grads();
        const fer::Tensor& logits = network.forward_logits(images, ctx);
        fer::softmax_cross_entropy(logits, labels, {}, &dlogits);
        network.backward(images, dlogits, ctx);
        optimizer->step(network.params(), network.grads(), network.decay_mask(), 1e-3f);
    });
    return double(batch) / quantile(times, 0.5);
}

// Eval forward of a whole batch per run.
double inference_images_per_second(const std::string& model, int batch, int threads, const BenchSettings& settings) {
    fer::Network network = fer::build_model(model, settings.seed);
    fer::Rng rng(settings.seed);
    const fer::Tensor images = random_images(batch, network.input(), rng);
    const fer::Context ctx = fer::Context::eval(fer::RunOptions{threads, settings.precision, settings.winograd});
    const auto times = time_runs(settings.heavy(), settings.cpu_time, [&] { network.forward(images, ctx); });
    return double(batch) / quantile(times, 0.5);
}

struct Latency {
    double median_ms, p99_ms;
};

Latency batch1_latency(const std::string& model, int threads, const BenchSettings& settings) {
    fer::Network network = fer::build_model(model, settings.seed);
    fer::Rng rng(settings.seed);
    const fer::Tensor image = random_images(1, network.input(), rng);
    const fer::Context ctx = fer::Context::eval(fer::RunOptions{threads, settings.precision, settings.winograd});
    const auto times = time_runs(settings.latency(), settings.cpu_time, [&] { network.forward(image, ctx); });
    return {quantile(times, 0.5) * 1e3, quantile(times, 0.99) * 1e3};
}

// Every figure of one model at one thread count; negative where the cell was not run.
struct CellResults {
    int threads = 0;
    double train_b64 = -1, train_b256 = -1, infer_b256 = -1, latency_median_ms = -1, latency_p99_ms = -1;
};

CellResults run_cells(const std::string& model, int threads, const BenchSettings& settings) {
    CellResults r;
    r.threads = fer::resolve_threads(fer::RunOptions{threads});
    if (settings.wants("train64")) r.train_b64 = training_images_per_second(model, 64, threads, settings);
    if (settings.wants("train256")) r.train_b256 = training_images_per_second(model, 256, threads, settings);
    if (settings.wants("infer256")) r.infer_b256 = inference_images_per_second(model, 256, threads, settings);
    if (settings.wants("latency")) {
        const Latency latency = batch1_latency(model, threads, settings);
        r.latency_median_ms = latency.median_ms;
        r.latency_p99_ms = latency.p99_ms;
    }
    return r;
}

// One top-level layer's share of a training step (forward in training mode, backward).
struct LayerTiming {
    std::string kind;
    fer::Shape output;
    std::uint64_t macs;
    double forward_ms, backward_ms;
};

// Rebuilds the model from its architecture text so each layer can be driven (and timed) on its own,
// with the same buffers and call order as Sequence::forward/backward; the final softmax is left to the
// fused loss, as in training.
std::vector<LayerTiming> layer_breakdown(const std::string& model, int threads, const BenchSettings& settings) {
    const fer::Network reference = fer::build_model(model, settings.seed);
    fer::Architecture arch = fer::parse_architecture(reference.architecture(), model);
    fer::Sequence& layers = arch.layers;
    std::vector<fer::Shape> shapes{arch.input};
    for (std::size_t i = 0; i < layers.size(); ++i) shapes.push_back(layers.layer(i).setup(shapes.back()));
    std::vector<float> params(layers.param_size()), grads(layers.param_size()), state(layers.state_size());
    layers.bind(params.data(), grads.data(), state.data());
    fer::Rng init_rng(settings.seed);
    layers.init(init_rng);
    std::size_t count = layers.size();
    if (count > 0 && layers.layer(count - 1).kind() == "softmax") --count;

    const int batch = settings.layer_batch;
    fer::Rng rng(settings.seed);
    const fer::Tensor images = random_images(batch, reference.input(), rng);
    const std::vector<int> labels = random_labels(batch, int(reference.class_names().size()), rng);
    std::vector<fer::Tensor> activations(count), gradients(count);  // gradients[i] is dL/d(input of layer i)
    fer::Tensor dlogits;
    const fer::RunOptions options{threads, fer::Precision::fp32, settings.winograd};
    const RepeatPolicy policy = settings.quick ? RepeatPolicy{1, 2, 2, 0.0} : RepeatPolicy{2, 5, 20, 4.0};

    std::vector<std::vector<double>> forward_times(count), backward_times(count);
    auto now = [&] {
        return settings.cpu_time ? thread_cpu_seconds()
                                 : std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
    };
    std::uint64_t step = 0;
    auto one_step = [&](bool record) {
        const fer::Context ctx = fer::Context::train(options, step++);
        std::fill(grads.begin(), grads.end(), 0.0f);
        for (std::size_t i = 0; i < count; ++i) {
            const double start = now();
            layers.layer(i).forward(i == 0 ? images : activations[i - 1], activations[i], ctx);
            if (record) forward_times[i].push_back(now() - start);
        }
        fer::softmax_cross_entropy(activations[count - 1], labels, {}, &dlogits);
        for (std::size_t i = count; i-- > 0;) {
            const fer::Tensor& upstream = i + 1 == count ? dlogits : gradients[i + 1];
            const double start = now();
            layers.layer(i).backward(i == 0 ? images : activations[i - 1], activations[i], upstream,
                                     i == 0 ? nullptr : &gradients[i], ctx);
            if (record) backward_times[i].push_back(now() - start);
        }
    };
    for (int i = 0; i < policy.warmup; ++i) one_step(false);
    const auto start = Clock::now();
    for (int run = 0; run < policy.max_runs && (run < policy.min_runs || seconds_since(start) < policy.budget_s); ++run)
        one_step(true);

    std::vector<LayerTiming> timings;
    for (std::size_t i = 0; i < count; ++i) {
        const fer::Layer& layer = layers.layer(i);
        timings.push_back({layer.kind(), shapes[i + 1], layer.macs(), quantile(forward_times[i], 0.5) * 1e3,
                           quantile(backward_times[i], 0.5) * 1e3});
    }
    return timings;
}

void print_layers(const std::string& model, int threads, int batch, bool cpu_time,
                  const std::vector<LayerTiming>& timings) {
    double total = 0;
    for (const auto& t : timings) total += t.forward_ms + t.backward_ms;
    std::printf("\n%s per layer: training step at batch %d, %d thread(s), median ms%s\n", model.c_str(), batch, threads,
                cpu_time ? " of thread CPU time" : "");
    std::printf("%3s  %-12s %-14s %9s %10s %10s %6s\n", "#", "layer", "output", "MMACs", "forward", "backward",
                "share");
    for (std::size_t i = 0; i < timings.size(); ++i) {
        const auto& t = timings[i];
        std::printf("%3zu  %-12s %-14s %9.2f %10.3f %10.3f %5.1f%%\n", i, t.kind.c_str(),
                    t.output.with_batch(batch).str().c_str(), double(t.macs) / 1e6, t.forward_ms, t.backward_ms,
                    100.0 * (t.forward_ms + t.backward_ms) / total);
    }
    std::printf("     %-12s %-14s %9s %21.3f\n", "total", "", "", total);
}

// One step of a batch-1 eval forward as the network runs it: a layer, or a convolution or dense layer with the
// BatchNorm and ReLU fused into it.
struct StepTiming {
    std::string kinds;  // "conv2d+batchnorm+relu"
    fer::Shape output;
    std::uint64_t macs;
    double median_us;
};

struct LatencyBreakdown {
    std::vector<StepTiming> steps;
    double whole_median_us = 0;  // the same forwards, timed whole (with the profile's own clock reads)
};

// Times each step of the batch-1 eval forward through Context::profile (fused steps as the network fuses them,
// so the sum is what the latency cell measures, give or take the clock reads).
LatencyBreakdown latency_breakdown(const std::string& model, int threads, const BenchSettings& settings) {
    fer::Network network = fer::build_model(model, settings.seed);
    fer::Rng rng(settings.seed);
    const fer::Tensor image = random_images(1, network.input(), rng);
    fer::ForwardProfile profile;
    fer::Context ctx = fer::Context::eval(fer::RunOptions{threads, settings.precision, settings.winograd});
    const RepeatPolicy policy = settings.latency();
    for (int i = 0; i < policy.warmup; ++i) network.forward(image, ctx);
    ctx.profile = &profile;
    const auto times =
        time_runs({0, policy.min_runs, policy.max_runs, policy.budget_s}, false, [&] { network.forward(image, ctx); });
    LatencyBreakdown breakdown;
    breakdown.whole_median_us = quantile(times, 0.5) * 1e6;
    const fer::Sequence& layers = network.layers();
    for (std::size_t i = 0; i < profile.seconds.size(); ++i) {
        if (profile.seconds[i].empty()) continue;  // inside a fused step
        StepTiming step{"", {}, 0, quantile(profile.seconds[i], 0.5) * 1e6};
        for (std::size_t k = i; k < i + profile.layers[i]; ++k) {
            step.kinds += (k == i ? "" : "+") + layers.layer(k).kind();
            step.macs += layers.layer(k).macs();
            step.output = layers.layer(k).output_shape();
        }
        breakdown.steps.push_back(step);
    }
    return breakdown;
}

void print_latency_breakdown(const std::string& model, int threads, const LatencyBreakdown& breakdown) {
    double total = 0;
    for (const auto& step : breakdown.steps) total += step.median_us;
    std::printf("\n%s per step: batch-1 eval forward, %d thread(s), median us\n", model.c_str(), threads);
    std::printf("%-26s %-14s %9s %10s %6s\n", "step", "output", "MMACs", "us", "share");
    for (const auto& step : breakdown.steps)
        std::printf("%-26s %-14s %9.2f %10.1f %5.1f%%\n", step.kinds.c_str(), step.output.with_batch(1).str().c_str(),
                    double(step.macs) / 1e6, step.median_us, 100.0 * step.median_us / total);
    std::printf("%-26s %-14s %9s %10.1f (whole forward: %.1f)\n", "sum of medians", "", "", total,
                breakdown.whole_median_us);
}

// 2 * MACs * images / s; a training step costs about three forwards (forward, input and weight gradients).
double gflops(double images_per_second, std::uint64_t macs, double passes) {
    return images_per_second < 0 ? -1 : 2.0 * double(macs) * passes * images_per_second / 1e9;
}

std::string figure(double value, const char* format) {
    if (value < 0) return "-";
    char text[32];
    std::snprintf(text, sizeof text, format, value);
    return text;
}

void print_cells(const std::string& model, std::uint64_t macs, const std::vector<CellResults>& results) {
    std::printf("\n%s: %.1f M MACs/img\n", model.c_str(), double(macs) / 1e6);
    std::printf("%7s %18s %18s %18s %20s\n", "threads", "train b64 img/s", "train b256 img/s", "infer b256 img/s",
                "b1 latency ms");
    for (const auto& r : results) {
        std::printf("%7d %8s (%5s GF) %8s (%5s GF) %8s (%5s GF) %9s / %6s p99\n", r.threads,
                    figure(r.train_b64, "%.0f").c_str(), figure(gflops(r.train_b64, macs, 3), "%.1f").c_str(),
                    figure(r.train_b256, "%.0f").c_str(), figure(gflops(r.train_b256, macs, 3), "%.1f").c_str(),
                    figure(r.infer_b256, "%.0f").c_str(), figure(gflops(r.infer_b256, macs, 1), "%.1f").c_str(),
                    figure(r.latency_median_ms, "%.3f").c_str(), figure(r.latency_p99_ms, "%.3f").c_str());
    }
    if (results.size() >= 2 && results.front().threads != results.back().threads) {
        const CellResults &one = results.front(), &many = results.back();
        auto ratio = [](double a, double b) { return a > 0 && b > 0 ? a / b : -1.0; };
        std::printf("scaling %d -> %d threads: train b64 x%s, train b256 x%s, infer b256 x%s, latency x%s\n",
                    one.threads, many.threads, figure(ratio(many.train_b64, one.train_b64), "%.2f").c_str(),
                    figure(ratio(many.train_b256, one.train_b256), "%.2f").c_str(),
                    figure(ratio(many.infer_b256, one.infer_b256), "%.2f").c_str(),
                    figure(ratio(one.latency_median_ms, many.latency_median_ms), "%.2f").c_str());
    }
}

// Writes the cell figures as keys of the open object; cells not run are left out.
void write_cell_keys(fer::JsonWriter& json, const CellResults& r, std::uint64_t macs) {
    json.key("threads").value(double(r.threads));
    auto put = [&](const char* name, double value) {
        if (value >= 0) json.key(name).value(value);
    };
    put("train_img_s_b64", r.train_b64);
    put("train_img_s_b256", r.train_b256);
    put("infer_img_s_b256", r.infer_b256);
    put("latency_ms_b1_median", r.latency_median_ms);
    put("latency_ms_b1_p99", r.latency_p99_ms);
    put("train_gflops_b64", gflops(r.train_b64, macs, 3));
    put("train_gflops_b256", gflops(r.train_b256, macs, 3));
    put("infer_gflops_b256", gflops(r.infer_b256, macs, 1));
}

struct ModelReport {
    std::string model;
    std::uint64_t macs;
    std::vector<CellResults> cells;  // in --threads order; the last one is the headline
    std::vector<LayerTiming> layers;
    int layer_threads = 0;
    double peak_rss_mib;
    LatencyBreakdown latency_steps;  // empty unless --latency-layers
};

std::string to_json(const std::vector<ModelReport>& reports, const BenchSettings& settings) {
    fer::JsonWriter json;
    json.begin_object();
    json.key("fer_version").value(FER_VERSION);
    json.key("quick").value(settings.quick);
    json.key("clock").value(settings.cpu_time ? "thread CPU time" : "wall");
    json.key("inference_precision").value(fer::to_string(settings.precision));
    json.key("winograd").value(settings.winograd);
    for (const auto& report : reports) {
        json.key(report.model).begin_object();
        json.key("macs_per_image").value(double(report.macs));
        if (!report.cells.empty()) write_cell_keys(json, report.cells.back(), report.macs);
        json.key("peak_rss_mib").value(report.peak_rss_mib);
        json.key("by_threads").begin_object();
        for (const auto& cell : report.cells) {
            json.key(std::to_string(cell.threads)).begin_object();
            write_cell_keys(json, cell, report.macs);
            json.end_object();
        }
        json.end_object();
        if (!report.latency_steps.steps.empty()) {
            json.key("latency_steps").begin_object();
            json.key("threads").value(double(report.layer_threads));
            json.key("whole_median_us").value(report.latency_steps.whole_median_us);
            json.key("per_step").begin_array();
            for (const auto& step : report.latency_steps.steps) {
                json.begin_object();
                json.key("layers").value(step.kinds);
                json.key("output").value(step.output.with_batch(1).str());
                json.key("macs").value(double(step.macs));
                json.key("median_us").value(step.median_us);
                json.end_object();
            }
            json.end_array();
            json.end_object();
        }
        if (!report.layers.empty()) {
            json.key("layers").begin_object();
            json.key("batch").value(double(settings.layer_batch));
            json.key("threads").value(double(report.layer_threads));
            json.key("per_layer").begin_array();
            for (const auto& t : report.layers) {
                json.begin_object();
                json.key("kind").value(t.kind);
                json.key("output").value(t.output.with_batch(settings.layer_batch).str());
                json.key("macs").value(double(t.macs));
                json.key("forward_ms").value(t.forward_ms);
                json.key("backward_ms").value(t.backward_ms);
                json.end_object();
            }
            json.end_array();
            json.end_object();
        }
        json.end_object();
    }
    json.end_object();
    return json.str();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fer-bench: training and inference speed of fer's networks"};
    app.set_version_flag("--version", std::string("fer-bench ") + FER_VERSION);
    std::vector<std::string> models{"five_layer", "gap"};
    std::vector<int> threads{1, 2};
    std::string json_path;
    bool layers = false, layers_only = false, latency_layers = false;
    BenchSettings settings;
    app.add_option("--models", models, "models to measure (comma separated)")->delimiter(',')->capture_default_str();
    app.add_option("--threads", threads, "thread counts to measure, the last is the headline (0: all cores)")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--cells", settings.cells, "cells to run: train64, train256, infer256, latency")
        ->delimiter(',')
        ->capture_default_str()
        ->check(CLI::IsMember({"train64", "train256", "infer256", "latency"}));
    app.add_option("--json", json_path, "also write the results as JSON to this file");
    app.add_flag("--quick", settings.quick, "few runs per cell: a smoke test, not a measurement");
    app.add_flag("--layers", layers, "add a per-layer forward/backward breakdown (at the last --threads value)");
    app.add_flag("--layers-only", layers_only, "only the per-layer breakdown");
    app.add_flag("--latency-layers", latency_layers,
                 "add a per-step breakdown of the batch-1 eval forward, fused steps as the network runs them (at "
                 "the last --threads value)");
    app.add_option("--layer-batch", settings.layer_batch, "batch size of the per-layer breakdown")
        ->capture_default_str()
        ->check(CLI::Range(2, 4096));
    app.add_flag("--cpu-time", settings.cpu_time,
                 "measure the main thread's CPU time, not wall time: steadier on a loaded machine, "
                 "meaningful with --threads 1 only");
    std::string precision = "fp32";
    app.add_option("--precision", precision,
                   "arithmetic of the inference cells: fp32, or bf16 (AVX-512 BF16 convolutions; fp32 without it)")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16"}));
    bool no_winograd = false;
    app.add_flag("--no-winograd", no_winograd,
                 "every cell on the direct and GEMM convolutions only (the default takes Winograd's kernels for "
                 "the forwards and gradients of stride-1 3x3 to 7x7 layers)");
    app.add_option("--seed", settings.seed, "seed of the weights and the random data")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    settings.precision = fer::parse_precision(precision);
    settings.winograd = !no_winograd;
    if (no_winograd) std::printf("convolutions: no Winograd\n");
    if (settings.precision == fer::Precision::bf16)
        std::printf("inference precision: bf16%s\n",
                    fer::bf16_supported() ? "" : " asked, but this build or CPU has no AVX-512 BF16: fp32");
    if (layers_only) {
        layers = true;
        settings.cells.clear();
    }

    if (settings.cpu_time) std::printf("clock: the main thread's CPU time (figures are meaningful at 1 thread)\n");
    try {
        std::vector<ModelReport> reports;
        for (const auto& model : models) {
            ModelReport report{model, fer::build_model(model, settings.seed).macs(), {}, {}, 0, 0.0, {}};
            if (!settings.cells.empty())
                for (int count : threads) report.cells.push_back(run_cells(model, count, settings));
            if (!report.cells.empty()) print_cells(model, report.macs, report.cells);
            if (layers) {
                report.layer_threads = fer::resolve_threads(fer::RunOptions{threads.back()});
                report.layers = layer_breakdown(model, threads.back(), settings);
                print_layers(model, report.layer_threads, settings.layer_batch, settings.cpu_time, report.layers);
            }
            if (latency_layers) {
                report.layer_threads = fer::resolve_threads(fer::RunOptions{threads.back()});
                report.latency_steps = latency_breakdown(model, threads.back(), settings);
                print_latency_breakdown(model, report.layer_threads, report.latency_steps);
            }
            report.peak_rss_mib = peak_rss_mib();
            std::printf("peak memory so far (maxrss): %.0f MiB\n", report.peak_rss_mib);
            std::fflush(stdout);
            reports.push_back(std::move(report));
        }
        if (!json_path.empty()) {
            std::ofstream file(json_path);
            file << to_json(reports, settings) << '\n';
            if (!file) throw std::runtime_error("fer-bench: cannot write " + json_path);
        }
    } catch (const std::exception& e) {
        std::cerr << "fer-bench: " << e.what() << '\n';
        return 1;
    }
    return 0;
}

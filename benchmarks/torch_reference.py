#!/usr/bin/env python3
"""PyTorch reference for fer-bench: the same models and the same cells, measured the same way.

The architectures match fer's model zoo (src/model_zoo.cpp) layer for layer, with TensorFlow/Keras
'same' padding: the total pad of a window is split with the extra element at the end, which matters for
the 4x4 convolution and the 3x3 stride-2 max pooling, so both are padded explicitly with F.pad (with
-inf for max pooling, so a padded element never wins).

Cells, each at every --threads value: training img/s at batch 64 and 256 (forward + cross-entropy +
backward + Adam step on random data), eval inference img/s at batch 256 and batch-1 eval latency
(median and p99). Warm-up runs are excluded and each figure is a median of several timed runs.

    python3 torch_reference.py [--models five_layer,gap] [--threads 1,2] [--quick] [--json FILE]
"""
import argparse
import json
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit("torch_reference.py: PyTorch is not installed (`import torch` failed); "
             "install it (e.g. apt install python3-torch libopenblas0-openmp) to measure the reference")


def same_pads(size, kernel, stride):
    """TensorFlow 'same': (pad_before, pad_after) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Module):
    """Conv2d with TensorFlow 'same' padding for a fixed input size (stride 1)."""

    def __init__(self, in_channels, out_channels, kernel, size):
        super().__init__()
        top, bottom = same_pads(size, kernel, 1)
        self.pad = (top, bottom, top, bottom)  # F.pad order: left, right, top, bottom (square maps)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel)

    def forward(self, x):
        return self.conv(F.pad(x, self.pad))


class SamePool2d(nn.Module):
    """Max or average pooling with TensorFlow 'same' padding; padding never counts."""

    def __init__(self, kind, window, stride, size):
        super().__init__()
        before, after = same_pads(size, window, stride)
        self.pad = (before, after, before, after)
        self.kind, self.window, self.stride = kind, window, stride

    def forward(self, x):
        if self.kind == "max":
            return F.max_pool2d(F.pad(x, self.pad, value=float("-inf")), self.window, self.stride)
        if any(self.pad):  # fer's maps are even here, so this path is not used by the zoo's models
            raise NotImplementedError("average pooling with padding")
        return F.avg_pool2d(x, self.window, self.stride)


def batch_norm(channels, dims=2):
    # Keras defaults as in fer: epsilon 1e-3, momentum 0.99 (PyTorch counts momentum the other way).
    return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(channels, eps=1e-3, momentum=0.01)


def five_layer(classes=7):
    layers, channels, size = [], 1, 48
    for filters, kernel in [(32, 5), (32, 4), (64, 5)]:
        layers += [SameConv2d(channels, filters, kernel, size), batch_norm(filters), nn.ReLU(),
                   SamePool2d("max", 3, 2, size)]
        channels, size = filters, -(-size // 2)
    layers += [nn.Flatten(), nn.Linear(channels * size * size, 1024), batch_norm(1024, dims=1), nn.ReLU(),
               nn.Dropout(0.3), nn.Linear(1024, classes)]
    return nn.Sequential(*layers)


def gap(classes=7):
    layers, channels, size = [], 1, 48
    for filters, kernel in [(16, 7), (32, 5), (64, 3), (128, 3)]:
        layers += [SameConv2d(channels, filters, kernel, size), batch_norm(filters),
                   SameConv2d(filters, filters, kernel, size), batch_norm(filters), nn.ReLU(),
                   SamePool2d("avg", 2, 2, size), nn.Dropout(0.5)]
        channels, size = filters, -(-size // 2)
    layers += [SameConv2d(channels, 256, 3, size), batch_norm(256), SameConv2d(256, classes, 3, size),
               nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


MODELS = {"five_layer": five_layer, "gap": gap}
# Multiply-accumulates per image, as fer counts them (convolutions, dense layers and BN).
MACS = {"five_layer": 21122048, "gap": 71691264}


def timed_runs(run, warmup, min_runs, max_runs, budget_s):
    for _ in range(warmup):
        run()
    times, start = [], time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return times


def quantile(values, q):
    values = sorted(values)
    return values[min(int(q * (len(values) - 1) + 0.5), len(values) - 1)]


def train_img_s(name, batch, heavy):
    model = MODELS[name]().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    images, labels = torch.rand(batch, 1, 48, 48), torch.randint(0, 7, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    return batch / statistics.median(timed_runs(step, *heavy))


def infer_img_s(name, batch, heavy):
    model = MODELS[name]().eval()
    images = torch.rand(batch, 1, 48, 48)
    with torch.no_grad():
        return batch / statistics.median(timed_runs(lambda: model(images), *heavy))


def latency_ms(name, policy):
    model = MODELS[name]().eval()
    image = torch.rand(1, 1, 48, 48)
    with torch.no_grad():
        times = timed_runs(lambda: model(image), *policy)
    return quantile(times, 0.5) * 1e3, quantile(times, 0.99) * 1e3


def cells(name, threads, quick):
    torch.set_num_threads(threads)
    heavy = (1, 2, 2, 0.0) if quick else (2, 5, 15, 6.0)
    latency = (5, 30, 30, 0.0) if quick else (20, 300, 2000, 3.0)
    median, p99 = latency_ms(name, latency)
    result = {
        "threads": threads,
        "train_img_s_b64": train_img_s(name, 64, heavy),
        "train_img_s_b256": train_img_s(name, 256, heavy),
        "infer_img_s_b256": infer_img_s(name, 256, heavy),
        "latency_ms_b1_median": median,
        "latency_ms_b1_p99": p99,
    }
    macs = MACS[name]
    for key, passes in [("b64", 3), ("b256", 3)]:
        result["train_gflops_" + key] = 2 * macs * passes * result["train_img_s_" + key] / 1e9
    result["infer_gflops_b256"] = 2 * macs * result["infer_img_s_b256"] / 1e9
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="five_layer,gap", help="comma separated: five_layer, gap")
    parser.add_argument("--threads", default="1,2", help="comma separated thread counts; the last is the headline")
    parser.add_argument("--quick", action="store_true", help="few runs per cell: a smoke test")
    parser.add_argument("--json", help="write the results as JSON to this file")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        sys.exit(f"torch_reference.py: unknown model(s) {', '.join(unknown)} (known: {', '.join(MODELS)})")
    thread_counts = [int(t) for t in args.threads.split(",") if t]

    report = {"torch_version": torch.__version__, "quick": args.quick}
    for name in models:
        params = sum(p.numel() for p in MODELS[name]().parameters())
        by_threads = {}
        for threads in thread_counts:
            r = cells(name, threads, args.quick)
            by_threads[str(threads)] = r
            print(f"{name} threads {threads}: train b64 {r['train_img_s_b64']:.0f} img/s, "
                  f"train b256 {r['train_img_s_b256']:.0f}, infer b256 {r['infer_img_s_b256']:.0f}, "
                  f"b1 latency {r['latency_ms_b1_median']:.3f} ms (p99 {r['latency_ms_b1_p99']:.3f})", flush=True)
        entry = {"macs_per_image": MACS[name], "trainable_parameters": params}
        entry.update(by_threads[str(thread_counts[-1])])
        entry["by_threads"] = by_threads
        report[name] = entry
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()

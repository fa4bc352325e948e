#include "fer/model_zoo.hpp"

#include <stdexcept>
#include <utility>

#include "fer/layers.hpp"

namespace fer {

namespace {

LayerPtr conv(int filters, int kernel, int stride, bool bias) {
    Conv2DSpec spec;
    spec.filters = filters;
    spec.kernel_h = spec.kernel_w = kernel;
    spec.stride_h = spec.stride_w = stride;
    spec.padding = Padding::same;
    spec.bias = bias;
    return std::make_unique<Conv2D>(spec);
}

LayerPtr pool(bool max, int size, int stride) {
    Pool2DSpec spec;
    spec.size_h = spec.size_w = size;
    spec.stride_h = spec.stride_w = stride;
    spec.padding = Padding::same;
    if (max) return std::make_unique<MaxPool2D>(spec);
    return std::make_unique<AvgPool2D>(spec);
}

// The architecture of the paper's model: each stage halves the image (48 -> 24 -> 12 -> 6).
Sequence five_layer(int classes) {
    Sequence layers;
    for (auto [filters, kernel] : {std::pair{32, 5}, std::pair{32, 4}, std::pair{64, 5}}) {
        layers.add(conv(filters, kernel, 1, true));
        layers.add(std::make_unique<BatchNorm>());
        layers.add(std::make_unique<ReLU>());
        layers.add(pool(true, 3, 2));
    }
    layers.add(std::make_unique<Flatten>());
    layers.add(std::make_unique<Dense>(1024));
    layers.add(std::make_unique<BatchNorm>());
    layers.add(std::make_unique<ReLU>());
    layers.add(std::make_unique<Dropout>(0.3f));
    layers.add(std::make_unique<Dense>(classes));
    layers.add(std::make_unique<Softmax>());
    return layers;
}

// Arriaga, Ploger and Valdenegro (2017), "simple CNN": the last convolution has one channel per class and
// global average pooling replaces the dense layers, which is what keeps it under 650k parameters.
Sequence gap(int classes) {
    Sequence layers;
    for (auto [filters, kernel] : {std::pair{16, 7}, std::pair{32, 5}, std::pair{64, 3}, std::pair{128, 3}}) {
        layers.add(conv(filters, kernel, 1, true));
        layers.add(std::make_unique<BatchNorm>());
        layers.add(conv(filters, kernel, 1, true));
        layers.add(std::make_unique<BatchNorm>());
        layers.add(std::make_unique<ReLU>());
        layers.add(pool(false, 2, 2));
        layers.add(std::make_unique<Dropout>(0.5f));
    }
    layers.add(conv(256, 3, 1, true));
    layers.add(std::make_unique<BatchNorm>());
    layers.add(conv(classes, 3, 1, true));
    layers.add(std::make_unique<GlobalAvgPool2D>());
    layers.add(std::make_unique<Softmax>());
    return layers;
}

// conv3x3 (stride) -> BN -> ReLU -> conv3x3 -> BN -> SE, plus a 1x1 projection when the shape changes.
// Convolutions feeding a BatchNorm have no bias: BN's beta makes it redundant.
LayerPtr se_block(int in_channels, int out_channels, int stride) {
    Sequence body;
    body.add(conv(out_channels, 3, stride, false));
    body.add(std::make_unique<BatchNorm>());
    body.add(std::make_unique<ReLU>());
    body.add(conv(out_channels, 3, 1, false));
    body.add(std::make_unique<BatchNorm>());
    // Reduction 8 rather than 16 so the 32-channel blocks still get a 4-unit bottleneck.
    body.add(std::make_unique<SqueezeExcite>(8));
    Sequence shortcut;
    if (stride != 1 || in_channels != out_channels) {
        shortcut.add(conv(out_channels, 1, stride, false));
        shortcut.add(std::make_unique<BatchNorm>());
    }
    return std::make_unique<Residual>(std::move(body), std::move(shortcut), true);
}

// Every stage halves the image (48 -> 24 -> 12 -> 6), which keeps it near 90 M MACs; the blocks go to the
// small late stages where they are cheap, giving about 1.4 M parameters.
Sequence resnet_se(int classes) {
    Sequence layers;
    layers.add(conv(32, 3, 1, false));
    layers.add(std::make_unique<BatchNorm>());
    layers.add(std::make_unique<ReLU>());
    int channels = 32;
    for (auto [width, blocks] : {std::pair{32, 2}, std::pair{64, 3}, std::pair{128, 4}}) {
        for (int block = 0; block < blocks; ++block) {
            layers.add(se_block(channels, width, block == 0 ? 2 : 1));
            channels = width;
        }
    }
    layers.add(std::make_unique<GlobalAvgPool2D>());
    layers.add(std::make_unique<Dense>(classes));
    layers.add(std::make_unique<Softmax>());
    return layers;
}

Sequence vgg_small(int classes) {
    Sequence layers;
    for (int width : {32, 64, 128, 256}) {
        for (int repeat = 0; repeat < 2; ++repeat) {
            layers.add(conv(width, 3, 1, false));
            layers.add(std::make_unique<BatchNorm>());
            layers.add(std::make_unique<ReLU>());
        }
        layers.add(pool(true, 2, 2));
    }
    layers.add(std::make_unique<GlobalAvgPool2D>());
    layers.add(std::make_unique<Dropout>(0.4f));
    layers.add(std::make_unique<Dense>(classes));
    layers.add(std::make_unique<Softmax>());
    return layers;
}

}  // namespace

std::vector<std::string> fer2013_classes() {
    return {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
}

std::vector<std::string> model_names() {
    return {"five_layer", "gap", "resnet_se", "vgg_small"};
}

Network build_model(const std::string& name, std::uint64_t seed, const InputSpec& input,
                    std::vector<std::string> classes) {
    if (classes.empty()) throw std::invalid_argument("build_model " + name + ": no class names");
    int class_count = int(classes.size());
    Sequence layers;
    if (name == "five_layer") {
        layers = five_layer(class_count);
    } else if (name == "gap") {
        layers = gap(class_count);
    } else if (name == "resnet_se") {
        layers = resnet_se(class_count);
    } else if (name == "vgg_small") {
        layers = vgg_small(class_count);
    } else {
        std::string known;
        for (const auto& model : model_names()) known += (known.empty() ? "" : ", ") + model;
        throw std::invalid_argument("unknown model '" + name + "' (known models: " + known + ")");
    }
    Network network(std::move(layers), input, std::move(classes));
    network.init(seed);
    return network;
}

}  // namespace fer

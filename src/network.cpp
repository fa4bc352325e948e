#include "fer/network.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "fer/architecture.hpp"
#include "fer/residual.hpp"

namespace fer {

std::string with_thousands_separators(std::uint64_t value) {
    std::string digits = std::to_string(value);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

Network::Network(Sequence layers, InputSpec input, std::vector<std::string> class_names)
    : layers_(std::move(layers)), input_(input), class_names_(std::move(class_names)) {
    if (input_.channels <= 0 || input_.height <= 0 || input_.width <= 0)
        throw std::invalid_argument("network: input size must be positive, got channels " +
                                    std::to_string(input_.channels) + " height " + std::to_string(input_.height) +
                                    " width " + std::to_string(input_.width));
    if (class_names_.empty()) throw std::invalid_argument("network: no class names");
    if (layers_.empty()) throw std::invalid_argument("network: no layers");
    try {
        output_shape_ = layers_.setup(Shape{1, input_.channels, input_.height, input_.width});
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("network: ") + e.what());
    }
    output_shape_.n = 1;
    if (output_shape_.h != 1 || output_shape_.w != 1 || std::size_t(output_shape_.c) != class_names_.size())
        throw std::invalid_argument("network: output per sample is (" + std::to_string(output_shape_.c) + "," +
                                    std::to_string(output_shape_.h) + "," + std::to_string(output_shape_.w) + ") but " +
                                    std::to_string(class_names_.size()) + " classes need (" +
                                    std::to_string(class_names_.size()) + ",1,1)");
    ends_in_softmax_ = layers_.layer(layers_.size() - 1).kind() == "softmax";

    params_.assign(layers_.param_size(), 0.0f);
    grads_.assign(params_.size(), 0.0f);
    state_.assign(layers_.state_size(), 0.0f);
    decay_mask_.reserve(params_.size());
    for (std::size_t i = 0; i < layers_.size(); ++i)
        for (const auto& block : layers_.layer(i).param_blocks())
            decay_mask_.insert(decay_mask_.end(), block.size, block.decay ? 1 : 0);
    layers_.bind(params_.data(), grads_.data(), state_.data());
}

void Network::init(std::uint64_t seed) {
    Rng rng(seed);
    layers_.init(rng);
    ++params_version_;  // new weights: copies the layers converted or packed are stale
    zero_grads();
}

void Network::check_input(const Tensor& in, const char* pass) const {
    const Shape& shape = in.shape();
    if (shape.n <= 0 || shape.c != input_.channels || shape.h != input_.height || shape.w != input_.width)
        throw std::invalid_argument(std::string("network ") + pass + ": input " + shape.str() + " does not match (N," +
                                    std::to_string(input_.channels) + "," + std::to_string(input_.height) + "," +
                                    std::to_string(input_.width) + ")");
}

Context Network::with_scratch(const Context& ctx) {
    Context with = ctx;
    if (!with.winograd_scratch) with.winograd_scratch = &winograd_scratch_;
    return with;
}

Context Network::with_weights_version(const Context& ctx) {
    Context versioned = with_scratch(ctx);
    versioned.weights_version = params_version_;
    return versioned;
}

const Tensor& Network::forward(const Tensor& in, const Context& ctx) {
    check_input(in, "forward");
    const Tensor& out = layers_.forward(in, with_weights_version(ctx));
    last_forward_shape_ = out.shape();
    last_forward_was_logits_ = !ends_in_softmax_;
    return out;
}

const Tensor& Network::forward_logits(const Tensor& in, const Context& ctx) {
    check_input(in, "forward_logits");
    const Tensor& out = layers_.forward(in, with_weights_version(ctx), ends_in_softmax_ ? 1 : 0);
    last_forward_shape_ = out.shape();
    last_forward_was_logits_ = true;
    return out;
}

void Network::backward(const Tensor& in, const Tensor& dlogits, const Context& ctx) {
    check_input(in, "backward");
    // After a full forward the caches end at the softmax, so dlogits would be pushed through it by mistake.
    if (!last_forward_was_logits_) throw std::logic_error("network backward: call forward_logits (not forward) first");
    check_same_shape(dlogits.shape(), last_forward_shape_, "network backward: dlogits vs the last forward's output");
    layers_.backward(in, dlogits, nullptr, with_scratch(ctx));
}

void Network::zero_grads() {
    std::fill(grads_.begin(), grads_.end(), 0.0f);
}

std::string Network::architecture() const {
    return write_architecture(Shape{1, input_.channels, input_.height, input_.width}, layers_);
}

namespace {

constexpr int kNameWidth = 34, kShapeWidth = 22, kParamsWidth = 14, kMacsWidth = 16;

std::string summary_row(const std::string& name, const std::string& shape, const std::string& params,
                        const std::string& macs) {
    char row[256];
    std::snprintf(row, sizeof row, "%-*s %-*s %*s %*s", kNameWidth, name.c_str(), kShapeWidth, shape.c_str(),
                  kParamsWidth, params.c_str(), kMacsWidth, macs.c_str());
    std::string text = row;
    text.erase(text.find_last_not_of(' ') + 1);  // label rows have empty columns
    return text + "\n";
}

void summarise_layers(const Sequence& layers, int depth, std::string& out);

void summarise_layer(const Layer& layer, int depth, std::string& out) {
    const Shape& shape = layer.output_shape();
    std::string shape_text =
        "(None," + std::to_string(shape.c) + "," + std::to_string(shape.h) + "," + std::to_string(shape.w) + ")";
    out += summary_row(std::string(std::size_t(2 * depth), ' ') + layer.kind(), shape_text,
                       with_thousands_separators(layer.param_size() + layer.state_size()),
                       with_thousands_separators(layer.macs()));
    // Residual blocks get their two branches labelled; any other container lists its children.
    if (const auto* residual = dynamic_cast<const Residual*>(&layer)) {
        summarise_layers(residual->body(), depth + 1, out);
        if (!residual->shortcut().empty()) {
            out += summary_row(std::string(std::size_t(2 * depth + 2), ' ') + "shortcut:", "", "", "");
            summarise_layers(residual->shortcut(), depth + 2, out);
        }
        return;
    }
    for (const Layer* child : layer.children()) summarise_layer(*child, depth + 1, out);
}

void summarise_layers(const Sequence& layers, int depth, std::string& out) {
    for (std::size_t i = 0; i < layers.size(); ++i) summarise_layer(layers.layer(i), depth, out);
}

}  // namespace

std::string Network::summary() const {
    const std::string rule(kNameWidth + kShapeWidth + kParamsWidth + kMacsWidth + 3, '=');
    std::string out = summary_row("Layer (kind)", "Output shape", "Params", "MACs") + rule + "\n";
    out += summary_row("input",
                       "(None," + std::to_string(input_.channels) + "," + std::to_string(input_.height) + "," +
                           std::to_string(input_.width) + ")",
                       "0", "0");
    summarise_layers(layers_, 0, out);
    out += rule + "\n";
    out += "Trainable params: " + with_thousands_separators(trainable_count()) + "\n";
    out += "Non-trainable params: " + with_thousands_separators(state_count()) + "\n";
    out += "Total params: " + with_thousands_separators(trainable_count() + state_count()) + "\n";
    out += "MACs per sample: " + with_thousands_separators(macs()) + "\n";
    return out;
}

}  // namespace fer

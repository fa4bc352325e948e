// Network: a Sequence of layers plus the flat parameter, gradient and state buffers they are bound to,
// the input normalisation and the class names. This is what training updates, what model files store
// and what the player runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fer/context.hpp"
#include "fer/conv_winograd.hpp"
#include "fer/input_spec.hpp"
#include "fer/sequence.hpp"
#include "fer/tensor.hpp"

namespace fer {

class Network {
public:
    // Sets the layers up for input (channels, height, width), allocates and binds the buffers (parameters
    // zero until init or a load fills them). Throws std::invalid_argument on a shape error or when the
    // output is not (K,1,1) with K == class_names.size().
    Network(Sequence layers, InputSpec input, std::vector<std::string> class_names);

    // Layers hold pointers into the buffers; moving keeps the buffers (and the heap-allocated layers) where
    // they are, so a moved-to Network stays valid. Copying would need a rebuild, so it is not offered.
    Network(Network&&) noexcept = default;
    Network& operator=(Network&&) noexcept = default;
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    // Fresh parameters and state; the seed decides everything, dropout seeds included. Zeroes the grads.
    void init(std::uint64_t seed);

    // in is (N, channels, height, width). Returns the last layer's output: probabilities when the network
    // ends in a softmax.
    const Tensor& forward(const Tensor& in, const Context& ctx);
    // Like forward, but stops before a final Softmax layer, if any: the input of a fused softmax + loss.
    const Tensor& forward_logits(const Tensor& in, const Context& ctx);
    // After forward_logits in training mode, with the same in: dlogits is dL/dlogits. Parameter gradients
    // ACCUMULATE into grads(); the input gradient is not computed.
    void backward(const Tensor& in, const Tensor& dlogits, const Context& ctx);
    void zero_grads();

    // Mutable access counts as a change of the parameters (see Context::weights_version): a span kept and
    // written through after an eval-mode forward is not seen by converted (bf16) weights; ask again.
    std::span<float> params() {
        ++params_version_;
        return params_;
    }
    std::span<const float> params() const { return params_; }
    std::span<float> grads() { return grads_; }
    std::span<const float> grads() const { return grads_; }
    std::span<float> state() { return state_; }
    std::span<const float> state() const { return state_; }
    // One entry per parameter: 1 where weight decay applies (from each layer's ParamBlock::decay).
    std::span<const std::uint8_t> decay_mask() const { return decay_mask_; }
    std::size_t trainable_count() const { return params_.size(); }
    std::size_t state_count() const { return state_.size(); }

    const InputSpec& input() const { return input_; }
    const std::vector<std::string>& class_names() const { return class_names_; }
    Shape output_shape() const { return output_shape_; }   // per sample, n = 1
    std::uint64_t macs() const { return layers_.macs(); }  // multiply-accumulates per sample
    const Sequence& layers() const { return layers_; }
    bool ends_in_softmax() const { return ends_in_softmax_; }

    std::string architecture() const;  // write_architecture(...)
    // A Keras-style table: one row per layer (nested layers indented) with kind, output shape
    // (None,C,H,W), parameter count (trainable + state) and MACs, then the trainable, non-trainable and
    // total parameter counts with thousands separators.
    std::string summary() const;

private:
    void check_input(const Tensor& in, const char* pass) const;
    // ctx with this network's Winograd scratch unless ctx has one; with_weights_version adds the weights version.
    Context with_scratch(const Context& ctx);
    Context with_weights_version(const Context& ctx);

    Sequence layers_;
    InputSpec input_;
    std::vector<std::string> class_names_;
    Shape output_shape_;
    bool ends_in_softmax_ = false;
    std::vector<float> params_, grads_, state_;
    std::vector<std::uint8_t> decay_mask_;
    Shape last_forward_shape_;  // output of the last forward, for checking backward's dlogits
    bool last_forward_was_logits_ = false;
    std::uint64_t params_version_ = 1;    // passed to the layers as Context::weights_version
    WinogradWorkspace winograd_scratch_;  // passed as Context::winograd_scratch
};

// 2438311 -> "2,438,311".
std::string with_thousands_separators(std::uint64_t value);

}  // namespace fer

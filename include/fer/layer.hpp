// The layer contract. Every layer in fer follows these rules; read this once and every layer's
// source reads the same way.
//
// Shapes
//   A layer sees per-sample shapes (C,H,W); the batch N is whatever the input tensor carries.
//   setup(in) is called exactly once, before anything else, with the per-sample input shape
//   (n is ignored). It validates the shape (throwing std::invalid_argument that names the layer),
//   sizes the layer's parameters and returns the per-sample output shape.
//
// Parameters and state
//   Trainable parameters live in one flat float buffer owned by the Network; a layer never owns
//   them. param_blocks() lists the layer's named blocks in storage order ("weight", "bias", ...);
//   state_size() counts non-trainable floats (BatchNorm running mean and variance). After setup
//   the owner calls bind(params, grads, state) with pointers to this layer's contiguous slices
//   (each sized as declared), then init(rng) once for a fresh model (not for a loaded one).
//
// forward(in, out, ctx)
//   in is (N, in shape). out is resized by the layer to (N, out shape) and fully ASSIGNED.
//   In training mode (ctx.training) the layer may keep caches for backward (dropout masks,
//   pooling arg-max, normalised activations) and update its state (BatchNorm running stats).
//   In eval mode it must not change any state: eval forward is a pure function of the input.
//
// backward(in, out, dout, din, ctx)
//   Called after a training forward with the same in and out. dout is dL/dout (N, out shape).
//   din, when not null, is resized to (N, in shape) and ASSIGNED dL/din. din is null for the
//   first layer of a network, so the layer may skip that work. Parameter gradients are
//   ACCUMULATED (+=) into the bound grads buffer; the owner zeroes it before each step.
//
// Determinism
//   For a fixed ctx.threads the results are bit-identical from run to run: reductions across
//   threads are summed in a fixed order, and randomness comes only from seeds and ctx.step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fer/context.hpp"
#include "fer/rng.hpp"
#include "fer/tensor.hpp"

namespace fer {

// A named block of trainable parameters, in storage order within the layer's slice.
struct ParamBlock {
    std::string name;   // "weight", "bias", "gamma", "beta"
    std::size_t size;   // number of floats
    bool decay;         // whether weight decay applies (weights yes; biases and BN no)
};

// A layer's settings as ordered key=value pairs, enough to rebuild it (see architecture.hpp).
using LayerConfig = std::vector<std::pair<std::string, std::string>>;

class Layer {
public:
    virtual ~Layer() = default;

    // The kind as written in architecture text: "conv2d", "batchnorm", ...
    virtual std::string kind() const = 0;
    virtual LayerConfig config() const { return {}; }

    virtual Shape setup(const Shape& in) = 0;
    virtual std::vector<ParamBlock> param_blocks() const { return {}; }
    virtual std::size_t state_size() const { return 0; }
    virtual void bind(float* /*params*/, float* /*grads*/, float* /*state*/) {}
    virtual void init(Rng& /*rng*/) {}

    virtual void forward(const Tensor& in, Tensor& out, const Context& ctx) = 0;
    virtual void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din,
                          const Context& ctx) = 0;
    // Whether forward under ctx would copy its input unchanged (dropout in eval mode): a Sequence then
    // passes the input on and skips the copy.
    virtual bool passes_through(const Context& /*ctx*/) const { return false; }

    // Layers that contain other layers (residual blocks) list them here, for summaries.
    virtual std::vector<const Layer*> children() const { return {}; }
    // Multiply-accumulates per sample in forward, for FLOP counts and summaries.
    virtual std::uint64_t macs() const { return 0; }

    std::size_t param_size() const {
        std::size_t total = 0;
        for (const auto& block : param_blocks()) total += block.size;
        return total;
    }
    const Shape& input_shape() const { return input_shape_; }
    const Shape& output_shape() const { return output_shape_; }

protected:
    // Layers record their per-sample shapes here in setup().
    Shape input_shape_, output_shape_;
};

using LayerPtr = std::unique_ptr<Layer>;

}  // namespace fer

// Element-wise and channel-wise activations: ReLU, Sigmoid and Softmax.
#pragma once

#include <string>

#include "fer/layer.hpp"

namespace fer {

// out = max(x, 0); any (C,H,W).
class ReLU final : public Layer {
public:
    std::string kind() const override { return "relu"; }
    Shape setup(const Shape& in) override;
    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
};

// out = 1 / (1 + exp(-x)); any (C,H,W).
class Sigmoid final : public Layer {
public:
    std::string kind() const override { return "sigmoid"; }
    Shape setup(const Shape& in) override;
    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
};

// Softmax over the channel axis of a flat (C,1,1) input. The trainer fuses softmax with the
// cross-entropy loss, but this layer is correct on its own (full Jacobian-vector product).
class Softmax final : public Layer {
public:
    std::string kind() const override { return "softmax"; }
    Shape setup(const Shape& in) override;
    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
};

}  // namespace fer

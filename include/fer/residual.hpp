// Residual block: out = body(x) + shortcut(x), then ReLU when relu_after. An empty shortcut is the
// identity. The block owns both Sequences, so their caches live as long as it does.
#pragma once

#include <string>
#include <vector>

#include "fer/layer.hpp"
#include "fer/sequence.hpp"

namespace fer {

class Residual final : public Layer {
public:
    Residual(Sequence body, Sequence shortcut, bool relu_after = true);

    std::string kind() const override { return "residual"; }
    LayerConfig config() const override;  // relu ("true" / "false")

    // Sets up both branches; their output shapes must match.
    Shape setup(const Shape& in) override;
    // The body's layers' blocks then the shortcut's, named "body.<i>.<name>" / "shortcut.<i>.<name>".
    std::vector<ParamBlock> param_blocks() const override;
    std::size_t state_size() const override;
    void bind(float* params, float* grads, float* state) override;
    void init(Rng& rng) override;

    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;

    // The body's layers, then the shortcut's.
    std::vector<const Layer*> children() const override;
    std::uint64_t macs() const override;

    const Sequence& body() const { return body_; }
    const Sequence& shortcut() const { return shortcut_; }
    bool relu_after() const { return relu_after_; }

private:
    Sequence body_, shortcut_;
    bool relu_after_;
    Tensor sum_grad_;       // dL/d(body + shortcut), after the ReLU's mask
    Tensor shortcut_grad_;  // the shortcut branch's dL/din, added into din
};

}  // namespace fer

// Inverted dropout with a counter-based mask.
//
// In training an element is kept when hash_uniform(seed, ctx.step, global element index) >= rate
// and then scaled by 1/(1-rate); eval is the identity. Because the mask is a pure function of
// (seed, step, index) it does not depend on the thread count, and a resumed run reproduces it.
#pragma once

#include <cstdint>
#include <string>

#include "fer/layer.hpp"

namespace fer {

class Dropout final : public Layer {
public:
    // rate in [0, 1).
    explicit Dropout(float rate, std::uint64_t seed = 0);

    std::string kind() const override { return "dropout"; }
    // rate and the current seed.
    LayerConfig config() const override;

    Shape setup(const Shape& in) override;
    // Replaces the seed with rng.next_u64(), so a model's seed decides every dropout mask.
    void init(Rng& rng) override;

    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    bool passes_through(const Context& ctx) const override { return !ctx.training; }
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;

    float rate() const { return rate_; }
    std::uint64_t seed() const { return seed_; }

private:
    float rate_;
    std::uint64_t seed_;
    // Per-element factor of the last training forward: 0 (dropped) or 1/(1-rate) (kept).
    Tensor mask_;
};

}  // namespace fer

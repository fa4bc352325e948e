// Finite-difference gradient checking for any Layer, the way every layer is tested.
//
// With a random upstream gradient g, f(x, p) = dot(g, layer(x, p)); the analytic dL/dx and dL/dp
// from backward() are compared with central differences of f. The harness also checks the layer
// contract of layer.hpp: din is assigned (it is filled with NaN first), parameter gradients are
// accumulated (a second backward doubles them), and eval forward changes no state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fer/layer.hpp"

namespace fer::testing {

struct GradCheckOptions {
    float eps = 1e-2f;      // central-difference step
    float abs_tol = 1e-2f;  // |analytic - numeric| <= abs_tol + rel_tol * max(|a|, |n|)
    float rel_tol = 2e-2f;
    std::size_t max_coords = 120;  // coordinates checked per tensor (a random subset when larger)
    bool training = true;          // run forward in training mode
    bool check_input = true;       // some layers' input gradients are checked elsewhere
    std::uint64_t seed = 1;
    int threads = 1;
    std::uint64_t step = 7;  // ctx.step (dropout masks depend on it)
};

// Tolerances for objectives that pass through a batch normalisation: in float, the finite
// differences of a normalised output carry ~1e-3 relative noise.
inline GradCheckOptions normalised_options() {
    GradCheckOptions options;
    options.eps = 5e-3f;
    options.abs_tol = 2e-2f;
    options.rel_tol = 3e-2f;
    return options;
}

// A layer that was constructed but not set up. Sets it up for `in` (batch included), binds
// fresh buffers, initialises parameters (then perturbs them so biases are not all zero), and runs
// the checks with doctest assertions. `input` overrides the random normal input when non-empty.
void check_layer_gradients(Layer& layer, const Shape& in, const GradCheckOptions& options = {},
                           const Tensor& input = Tensor());

// Normal random tensor, seeded.
Tensor random_tensor(const Shape& shape, std::uint64_t seed, float scale = 1.0f);
// A random tensor whose values are a shuffled ladder spaced `gap` apart: no ties and no value
// within gap/2 of another or of zero, so max-pooling and ReLU have no kink within a small step.
Tensor ladder_tensor(const Shape& shape, std::uint64_t seed, float gap = 0.05f);

}  // namespace fer::testing

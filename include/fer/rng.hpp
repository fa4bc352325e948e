// Deterministic random numbers. Nothing in fer uses std::random_device or a global generator:
// every stream comes from a seed, so a run with the same seed and thread count is bit-identical.
#pragma once

#include <cmath>
#include <cstdint>

namespace fer {

// SplitMix64 finaliser: a good 64-bit mix, used both as a sequential generator and as a
// counter-based one (hash of seed and position), which is what makes dropout masks independent
// of the thread count and trivially resumable.
constexpr std::uint64_t mix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Uniform in [0, 1) from a (seed, stream, index) triple, with no state.
inline float hash_uniform(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
    std::uint64_t h = mix64(seed ^ mix64(stream ^ mix64(index)));
    return float(h >> 40) * (1.0f / 16777216.0f);
}

class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) : state_(seed) {}

    std::uint64_t next_u64() { return mix64(state_++); }
    // Uniform in [0, 1).
    float uniform() { return float(next_u64() >> 40) * (1.0f / 16777216.0f); }
    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
    // Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next_u64() % n; }
    // Standard normal by Box-Muller (one value per call keeps the state a single counter).
    float normal() {
        float u1 = 1.0f - uniform();  // (0, 1]
        float u2 = uniform();
        return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.2831853071795864f * u2);
    }
    // Gamma(shape, 1), shape > 0, by Marsaglia and Tsang's squeeze (2000); a shape below 1 through
    // Gamma(shape + 1) * U^(1/shape).
    float gamma(float shape) {
        if (shape < 1.0f) {
            const float u = 1.0f - uniform();  // (0, 1]
            return gamma(shape + 1.0f) * std::pow(u, 1.0f / shape);
        }
        const float d = shape - 1.0f / 3.0f, c = 1.0f / std::sqrt(9.0f * d);
        for (;;) {
            const float x = normal();
            float v = 1.0f + c * x;
            if (v <= 0.0f) continue;
            v = v * v * v;
            const float u = 1.0f - uniform();
            if (std::log(u) < 0.5f * x * x + d - d * v + d * std::log(v)) return d * v;
        }
    }
    // Beta(a, b) as Gamma(a) / (Gamma(a) + Gamma(b)); 0.5 in the (underflowing) case of two zeros.
    float beta(float a, float b) {
        const float x = gamma(a), y = gamma(b);
        return x + y > 0.0f ? x / (x + y) : 0.5f;
    }
    std::uint64_t state() const { return state_; }
    void set_state(std::uint64_t s) { state_ = s; }

private:
    std::uint64_t state_;
};

}  // namespace fer

// A convolution test case by its sizes, the kernel geometry it implies (TensorFlow padding), and how
// close a fast kernel's result is to the reference.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "fer/conv_kernels.hpp"
#include "fer/padding.hpp"
#include "gradcheck.hpp"

namespace fer::testing {

struct ConvCase {
    int n, c, h, w, oc, kh, kw, stride_h, stride_w;
    Padding padding;
};

inline ConvGeometry make_geometry(const ConvCase& k) {
    const AxisGeometry rows = axis_geometry(k.h, k.kh, k.stride_h, k.padding);
    const AxisGeometry cols = axis_geometry(k.w, k.kw, k.stride_w, k.padding);
    return {k.n,      k.c,     k.h, k.w, k.oc, k.kh, k.kw, k.stride_h, k.stride_w, rows.pad_before, cols.pad_before,
            rows.out, cols.out};
}

// "n2 c16 24x24 oc32 k5x5 s1x1 same": a case in test messages.
inline std::string describe(const ConvCase& k) {
    char text[160];
    std::snprintf(text, sizeof text, "n%d c%d %dx%d oc%d k%dx%d s%dx%d %s", k.n, k.c, k.h, k.w, k.oc, k.kh, k.kw,
                  k.stride_h, k.stride_w, to_string(k.padding).c_str());
    return text;
}

// size values of random_tensor's distribution, from seed.
inline std::vector<float> random_values(std::size_t size, std::uint64_t seed) {
    const Tensor t = random_tensor({1, 1, 1, int(size)}, seed);
    return {t.data(), t.data() + size};
}

// Random operands of a forward-convolution test, the same for every kernel tested with them: the input,
// the weight, a bias and an epilogue's scale and shift (with a ReLU).
struct ConvOperands {
    std::vector<float> in, weight, bias, scale, shift;
    ChannelEpilogue epilogue() const { return {scale.data(), shift.data(), true}; }
};

inline ConvOperands random_operands(const ConvGeometry& g) {
    return {random_values(g.n * g.input_size(), 1), random_values(g.weight_size(), 2), random_values(g.oc, 3),
            random_values(g.oc, 4), random_values(g.oc, 5)};
}

// A forward-kernel case: a shape, with or without a bias and an epilogue.
struct ForwardCase {
    ConvCase shape;
    bool bias, epilogue;
};

// A case's geometry and random operands, and the bias and epilogue pointers a kernel takes (null where the
// case has none). Not copyable: the epilogue points into the operands.
class ForwardOperands {
public:
    explicit ForwardOperands(const ForwardCase& k)
        : geometry(make_geometry(k.shape)),
          values(random_operands(geometry)),
          with_bias_(k.bias),
          with_epilogue_(k.epilogue),
          epilogue_(values.epilogue()) {}
    ForwardOperands(const ForwardOperands&) = delete;
    ForwardOperands& operator=(const ForwardOperands&) = delete;

    const float* bias() const { return with_bias_ ? values.bias.data() : nullptr; }
    const ChannelEpilogue* epilogue() const { return with_epilogue_ ? &epilogue_ : nullptr; }

    const ConvGeometry geometry;
    const ConvOperands values;

private:
    bool with_bias_, with_epilogue_;
    ChannelEpilogue epilogue_;
};

// max |a - b| / max(1, max |b|): how far a fast kernel's result is from the reference, relative to its
// magnitude. Infinite where only one of them is NaN: std::max would drop a NaN, and an element that a
// kernel never wrote (the tests start fast results as NaN) must fail.
inline double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, magnitude = 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::isnan(a[i]) != std::isnan(b[i])) return std::numeric_limits<double>::infinity();
        diff = std::max(diff, double(std::abs(a[i] - b[i])));
        magnitude = std::max(magnitude, double(std::abs(b[i])));
    }
    return diff / magnitude;
}

// Runs a fast kernel, run(threads, out), at each thread count into an output of
// expected's size filled with NaN: every result within tolerance of expected, and the same bits at every
// thread count (each output's sum has one order whatever the split).
template <class Run>
void check_fast_kernel(const std::vector<float>& expected, double tolerance, std::initializer_list<int> thread_counts,
                       Run run) {
    std::vector<float> first;
    for (int threads : thread_counts) {
        CAPTURE(threads);
        std::vector<float> out(expected.size(), std::numeric_limits<float>::quiet_NaN());
        run(threads, out);
        CHECK(relative_difference(out, expected) < tolerance);
        if (first.empty()) {
            first = out;
        } else {
            CHECK(out == first);
        }
    }
}

}  // namespace fer::testing

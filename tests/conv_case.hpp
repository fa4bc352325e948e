// A convolution test case by its sizes, the kernel geometry it implies (TensorFlow padding), and how
// close a fast kernel's result is to the reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fer/conv_kernels.hpp"
#include "fer/padding.hpp"

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

}  // namespace fer::testing

// A convolution test case by its sizes, and the kernel geometry it implies (TensorFlow padding).
#pragma once

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

}  // namespace fer::testing

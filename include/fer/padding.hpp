// 'same' and 'valid' padding with TensorFlow/Keras semantics, shared by convolution and pooling.
#pragma once

#include <string>

namespace fer {

enum class Padding { same, valid };

Padding parse_padding(const std::string& text);  // "same" | "valid", throws otherwise
std::string to_string(Padding padding);

// Output size and leading pad along one axis.
//   same:  out = ceil(in / stride); the total pad max((out-1)*stride + k - in, 0) is split with
//          the extra element at the end (as TensorFlow does, which matters for even kernels).
//   valid: out = (in - k) / stride + 1, no pad; throws when k > in.
struct AxisGeometry {
    int out;
    int pad_before;
};
AxisGeometry axis_geometry(int in, int kernel, int stride, Padding padding);

}  // namespace fer

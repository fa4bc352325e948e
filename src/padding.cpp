#include "fer/padding.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace fer {

Padding parse_padding(const std::string& text) {
    if (text == "same") return Padding::same;
    if (text == "valid") return Padding::valid;
    throw std::invalid_argument("padding must be 'same' or 'valid', got '" + text + "'");
}

std::string to_string(Padding padding) {
    return padding == Padding::same ? "same" : "valid";
}

AxisGeometry axis_geometry(int in, int kernel, int stride, Padding padding) {
    if (in <= 0 || kernel <= 0 || stride <= 0)
        throw std::invalid_argument("axis geometry needs positive sizes (in " + std::to_string(in) + ", kernel " +
                                    std::to_string(kernel) + ", stride " + std::to_string(stride) + ")");
    if (padding == Padding::same) {
        // Written so that no step can overflow int for any positive sizes: (in + stride - 1) / stride did
        // for stride near INT_MAX, which a model file may declare (found by fuzzing).
        const int out = (in - 1) / stride + 1;
        const std::int64_t total = std::max<std::int64_t>(std::int64_t(out - 1) * stride + kernel - in, 0);
        return {out, int(total / 2)};
    }
    if (kernel > in)
        throw std::invalid_argument("'valid' window of " + std::to_string(kernel) + " does not fit input of " +
                                    std::to_string(in));
    return {(in - kernel) / stride + 1, 0};
}

}  // namespace fer

// Pooling layers: max and average over KHxKW windows (TensorFlow 'same'/'valid' padding), and global
// average pooling. Padded positions never win a max and are not counted in an average.
#pragma once

#include <string>
#include <vector>

#include "fer/layer.hpp"
#include "fer/padding.hpp"

namespace fer {

struct Pool2DSpec {
    int size_h = 2, size_w = 2;
    int stride_h = 2, stride_w = 2;
    Padding padding = Padding::valid;
};

// Per-sample window geometry shared by max and average pooling: input (C,H,W), output (C,OH,OW).
struct PoolGeometry {
    int c, h, w, size_h, size_w, stride_h, stride_w, pad_top, pad_left, oh, ow;
};

class MaxPool2D final : public Layer {
public:
    explicit MaxPool2D(Pool2DSpec spec);  // throws std::invalid_argument naming "maxpool2d" for a bad spec
    const Pool2DSpec& spec() const { return spec_; }

    std::string kind() const override { return "maxpool2d"; }
    LayerConfig config() const override;  // size, stride, padding ("5" when square, "4x3" HxW otherwise)
    Shape setup(const Shape& in) override;
    // Training forward records each output's arg-max (ties: first in window order) for backward.
    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;

private:
    Pool2DSpec spec_;
    PoolGeometry geometry_{};
    std::vector<int> argmax_;  // per output: offset of the winner within its input plane
    // Per thread, grown only: a block of planes channel-last and its outputs, and their arg-maxes.
    std::vector<std::vector<float>> block_values_;
    std::vector<std::vector<int>> block_indices_;
};

class AvgPool2D final : public Layer {
public:
    explicit AvgPool2D(Pool2DSpec spec);  // throws std::invalid_argument naming "avgpool2d" for a bad spec
    const Pool2DSpec& spec() const { return spec_; }

    std::string kind() const override { return "avgpool2d"; }
    LayerConfig config() const override;  // size, stride, padding ("5" when square, "4x3" HxW otherwise)
    Shape setup(const Shape& in) override;
    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;

private:
    Pool2DSpec spec_;
    PoolGeometry geometry_{};
};

// (C,H,W) -> (C,1,1): the mean of each channel.
class GlobalAvgPool2D final : public Layer {
public:
    std::string kind() const override { return "global_avg_pool"; }
    Shape setup(const Shape& in) override;
    void forward(const Tensor& in, Tensor& out, const Context& ctx) override;
    void backward(const Tensor& in, const Tensor& out, const Tensor& dout, Tensor* din, const Context& ctx) override;
};

}  // namespace fer

// 2-D convolution kernels: a plain reference of each pass (the definition the tests trust) and a fast
// version of each (the path layers use, apart from the layers that Winograd's kernels take:
// include/fer/conv_winograd.hpp): im2col + Eigen GEMM, or, for stride-1 convolutions with few output
// channels on wide maps, a direct convolution vectorised over output columns, or, for one sample on a small
// map, one vectorised over output channels. With stride 1
// and OC <= C the input gradient is itself a forward convolution of dout with the flipped, transposed
// kernel, which keeps the inner dimension of its product at OC*KH*KW instead of OC.
//
// Layout is NCHW throughout; the weight is (OC,C,KH,KW), which per sample is the row-major matrix
// (OC, C*KH*KW) that multiplies the im2col columns (C*KH*KW, OH*OW). Padded positions contribute zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fer/channel_epilogue.hpp"

namespace fer {

// Per-sample input (C,H,W), output (OC,OH,OW), window KHxKW, stride, leading pads; n is the batch.
struct ConvGeometry {
    int n, c, h, w, oc, kh, kw, stride_h, stride_w, pad_top, pad_left, oh, ow;

    std::size_t input_size() const { return std::size_t(c) * h * w; }      // per sample
    std::size_t output_size() const { return std::size_t(oc) * oh * ow; }  // per sample
    std::size_t patch_size() const { return std::size_t(c) * kh * kw; }    // im2col rows
    std::size_t positions() const { return std::size_t(oh) * ow; }         // im2col columns
    std::size_t weight_size() const { return std::size_t(oc) * patch_size(); }
    // A 1x1 stride-1 unpadded kernel reads the input itself as its im2col matrix.
    bool is_pointwise() const {
        return kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0;
    }
};

// Which kernel's regrouping of the weights a workspace's packed_weights holds: the direct kernel's blocks of
// output channels, or the small-map kernel's wider ones.
enum class WeightPacking { direct, small_map };

// Reusable per-thread scratch for the fast kernels: im2col column tiles (or sample groups), weight-gradient partials
// and the flipped weights of the input gradient. Buffers only grow, so once a layer has seen its largest batch a
// training step allocates nothing. prepare(), flipped_weights() and tap_offsets() must be called outside any parallel
// region; the accessors are then safe from threads.
class ConvWorkspace {
public:
    void prepare(int threads, std::size_t column_floats, std::size_t partial_floats);
    float* columns(int thread) { return columns_[thread].data(); }
    float* partial(int thread) { return partials_[thread].data(); }
    float* flipped_weights(std::size_t floats);
    // The sample-group kernels' table of input offsets per tap and output position.
    int* tap_offsets(std::size_t count);
    // The direct kernel's zero-padded copy of the input and its weights regrouped by output-channel block.
    float* padded_input(std::size_t floats);
    float* packed_weights(std::size_t floats);
    // Whether packed_weights already holds the regrouped weight, packed for this kernel at this non-zero
    // weights_version (the caller's promise that weight has not changed since; 0 never matches).
    bool holds_packed_weights(const float* weight, std::uint64_t weights_version, WeightPacking packing) const {
        return weights_version != 0 && packed_source_ == weight && packed_version_ == weights_version &&
               packing_ == packing;
    }
    void set_packed_weights_source(const float* weight, std::uint64_t weights_version, WeightPacking packing) {
        packed_source_ = weight;
        packed_version_ = weights_version;
        packing_ = packing;
    }

    // The im2col matrix is built one tile of whole output rows at a time, at most about this many floats
    // (at least one row): a bound on the workspace. L2-sized tiles measured no faster, as Eigen blocks
    // the product itself (docs/performance.md). Tests shrink it so small shapes span many tiles.
    std::size_t tile_floats() const { return tile_floats_; }
    void set_tile_floats(std::size_t floats) { tile_floats_ = floats; }
    // Convolutions on small maps (up to 8x8) multiply groups of samples with about this many im2col
    // columns at once (docs/performance.md). Tests shrink it to make several small groups.
    std::size_t group_columns() const { return group_columns_; }
    void set_group_columns(std::size_t columns) { group_columns_ = columns; }

private:
    std::vector<std::vector<float>> columns_;
    std::vector<std::vector<float>> partials_;
    std::vector<float> flipped_weights_, padded_input_, packed_weights_;
    std::vector<int> tap_offsets_;
    const float* packed_source_ = nullptr;
    std::uint64_t packed_version_ = 0;
    WeightPacking packing_ = WeightPacking::direct;
    std::size_t tile_floats_ = std::size_t(1) << 18;
    std::size_t group_columns_ = 1024;
};

// With stride 1, din(c,y,x) = sum over o,i,j of dout(o, y+pad_top-i, x+pad_left-j) * w(o,c,i,j): a
// convolution of dout (OC,OH,OW) by the kernel flipped in both axes with C and OC swapped, whose leading pad
// is KH-1-pad_top (KW-1-pad_left) and whose output is (C,H,W). This is its geometry, for a g where
// has_input_gradient_geometry holds (stride 1, leading pads below the kernel size).
bool has_input_gradient_geometry(const ConvGeometry& g);
ConvGeometry input_gradient_geometry(const ConvGeometry& g);

// How many threads a pass of a fast kernel (fp32 or bf16) runs with: one for small convolutions (a
// parallel region would cost more than it saves), never more than there are work items.
int convolution_threads(const ConvGeometry& g, int threads, int items);

// Whether conv2d_forward takes the small-map kernel (src/conv_small_map.cpp): one sample, stride 1, output
// rows of at most 12, where a direct kernel vectorised over output columns would leave lanes idle; it is
// vectorised over output channels instead. Checked after the direct kernel (wide enough rows, few channels).
bool use_small_map(const ConvGeometry& g);

// ---- reference kernels (simple loops, double accumulation) ----

// in is (N,C,H,W), weight is (OC,C,KH,KW), bias is (OC) or null, out is (N,OC,OH,OW): assigned.
void conv2d_forward_reference(const ConvGeometry& g, const float* in, const float* weight, const float* bias,
                              float* out);
// dout is (N,OC,OH,OW), weight (OC,C,KH,KW) -> din (N,C,H,W): assigned.
void conv2d_backward_input_reference(const ConvGeometry& g, const float* dout, const float* weight, float* din);
// in (N,C,H,W), dout (N,OC,OH,OW) -> dweight (OC,C,KH,KW) and dbias (OC, may be null): ACCUMULATED.
void conv2d_backward_weights_reference(const ConvGeometry& g, const float* in, const float* dout, float* dweight,
                                       float* dbias);

// ---- fast kernels (same contracts; bit-identical from run to run for a fixed thread count) ----

// in is (N,C,H,W), weight is (OC,C,KH,KW), bias is (OC) or null, out is (N,OC,OH,OW): assigned, then
// passed through epilogue when one is given. A non-zero weights_version promises that weight is unchanged
// since the last call with that version (Context::weights_version), so its regrouped copy may be reused.
void conv2d_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                    int threads, ConvWorkspace& workspace, const ChannelEpilogue* epilogue = nullptr,
                    std::uint64_t weights_version = 0);
// dout is (N,OC,OH,OW), weight (OC,C,KH,KW) -> din (N,C,H,W): assigned.
void conv2d_backward_input(const ConvGeometry& g, const float* dout, const float* weight, float* din, int threads,
                           ConvWorkspace& workspace);
// in (N,C,H,W), dout (N,OC,OH,OW) -> dweight (OC,C,KH,KW) and dbias (OC, may be null): ACCUMULATED.
void conv2d_backward_weights(const ConvGeometry& g, const float* in, const float* dout, float* dweight, float* dbias,
                             int threads, ConvWorkspace& workspace);

}  // namespace fer

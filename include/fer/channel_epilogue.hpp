// ChannelEpilogue: the per-channel scale and shift of an eval-mode BatchNorm, and optionally a ReLU,
// applied to a layer's output right after it is computed, while it is still in cache. BatchNorm's own
// eval forward runs the same arithmetic, so a convolution or a dense layer with its BatchNorm and ReLU
// fused into it gives the same bits as the three layers run one by one.
#pragma once

#include <cstddef>

namespace fer {

struct ChannelEpilogue {
    const float* scale = nullptr;  // per channel; null: no scale and shift
    const float* shift = nullptr;
    bool relu = false;

    // out[i] = in[i] * scale[channel] + shift[channel], then max(., 0) when relu is set (NaN passes
    // through, as in the ReLU layer); in may be out.
    void apply(int channel, const float* in, float* out, std::size_t count) const {
        if (scale) {
            const float channel_scale = scale[channel], channel_shift = shift[channel];
#pragma omp simd
            for (std::size_t i = 0; i < count; ++i) out[i] = in[i] * channel_scale + channel_shift;
            in = out;
        }
        if (relu) apply_relu(in, out, count);
    }

    // The same for one value of each of the channels [first_channel, first_channel + count), as in a
    // dense layer's output row: out[i] = in[i] * scale[first_channel + i] + shift[first_channel + i], then
    // the ReLU; in may be out.
    void apply_across(int first_channel, const float* in, float* out, std::size_t count) const {
        if (scale) {
            const float* channel_scale = scale + first_channel;
            const float* channel_shift = shift + first_channel;
#pragma omp simd
            for (std::size_t i = 0; i < count; ++i) out[i] = in[i] * channel_scale[i] + channel_shift[i];
            in = out;
        }
        if (relu) apply_relu(in, out, count);
    }

private:
    static void apply_relu(const float* in, float* out, std::size_t count) {
#pragma omp simd
        for (std::size_t i = 0; i < count; ++i) out[i] = in[i] < 0.0f ? 0.0f : in[i];
    }
};

}  // namespace fer

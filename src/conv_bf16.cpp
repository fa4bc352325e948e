#include "fer/conv_bf16.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <immintrin.h>
#define FER_HAVE_BF16 1
#endif

namespace fer {

std::uint16_t to_bf16(float value) {
    std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0)
        return std::uint16_t((bits >> 16) | 0x0040u);  // NaN: keep it a (quiet) NaN after truncation
    if ((bits & 0x7f800000u) == 0) bits &= 0x80000000u;
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return std::uint16_t(bits >> 16);
}

float from_bf16(std::uint16_t bits) {
    return std::bit_cast<float>(std::uint32_t(bits) << 16);
}

bool bf16_conv_applies(const ConvGeometry& g) {
    return g.stride_h == 1 && g.stride_w == 1;
}

namespace {

constexpr int kLanes = 16;  // fp32 lanes of an AVX-512 vector: output channels per weight vector

int channel_pairs(const ConvGeometry& g) {
    return (g.c + 1) / 2;
}
// bf16 values of one packed vector of 16 output channels: every channel pair and tap, 16 x 2 each.
std::size_t packed_vector_size(const ConvGeometry& g) {
    return std::size_t(channel_pairs(g)) * g.kh * g.kw * kLanes * 2;
}
// Vectors of 16 output channels; above one, an even count, as the kernel takes them two at a time.
int channel_vectors(const ConvGeometry& g) {
    const int vectors = (g.oc + kLanes - 1) / kLanes;
    return vectors == 1 ? 1 : (vectors + 1) / 2 * 2;
}

}  // namespace

void Bf16ConvWeights::pack(const ConvGeometry& g, const float* weight) {
    const int pairs = channel_pairs(g), vectors = channel_vectors(g), taps = g.kh * g.kw;
    packed.assign(std::size_t(vectors) * packed_vector_size(g), 0);
    for (int o = 0; o < g.oc; ++o)
        for (int c = 0; c < g.c; ++c)
            for (int t = 0; t < taps; ++t) {
                const std::size_t at = ((std::size_t(o / kLanes) * pairs + c / 2) * taps + t) * (kLanes * 2);
                packed[at + (o % kLanes) * 2 + c % 2] = to_bf16(weight[(std::size_t(o) * g.c + c) * taps + t]);
            }
}

void conv2d_forward_bf16_reference(const ConvGeometry& g, const float* in, const float* weight, const float* bias,
                                   float* out, const ChannelEpilogue* epilogue) {
    auto rounded = [](float v) { return double(from_bf16(to_bf16(v))); };
    for (int n = 0; n < g.n; ++n)
        for (int o = 0; o < g.oc; ++o) {
            float* plane = out + (std::size_t(n) * g.oc + o) * g.positions();
            for (int oy = 0; oy < g.oh; ++oy)
                for (int ox = 0; ox < g.ow; ++ox) {
                    double sum = 0;
                    for (int c = 0; c < g.c; ++c)
                        for (int i = 0; i < g.kh; ++i)
                            for (int j = 0; j < g.kw; ++j) {
                                const int y = oy * g.stride_h - g.pad_top + i, x = ox * g.stride_w - g.pad_left + j;
                                if (y < 0 || y >= g.h || x < 0 || x >= g.w) continue;
                                sum += rounded(in[((std::size_t(n) * g.c + c) * g.h + y) * g.w + x]) *
                                       rounded(weight[((std::size_t(o) * g.c + c) * g.kh + i) * g.kw + j]);
                            }
                    plane[std::size_t(oy) * g.ow + ox] = float(sum + (bias ? double(bias[o]) : 0.0));
                }
            if (epilogue) epilogue->apply(o, plane, plane, g.positions());
        }
}

#ifndef FER_HAVE_BF16

bool bf16_supported() {
    return false;
}

void conv2d_forward_bf16(const ConvGeometry&, const float*, const Bf16ConvWeights&, const float*, float*, int,
                         Bf16ConvWorkspace&, const ChannelEpilogue*) {
    throw std::logic_error("conv2d bf16: this build has no AVX-512 BF16 (configure with FER_NATIVE on such a CPU)");
}

#else

bool bf16_supported() {
    return __builtin_cpu_supports("avx512bf16");
}

namespace {

// Output positions are computed in blocks of kPositions (P) x kVectors (V) vectors of 16 output
// channels: P*V accumulators (24) plus V weight vectors stay in the 32 registers. With one vector each
// broadcast input pair feeds one instruction (and folds into it as a memory operand); with two, each
// feeds two. Padded input rows are Wp = OW + KW - 1 wide, so the pair that output (y, x) reads at tap
// (i, j) is at offset (y + i) * Wp + x + j of its channel pair's plane.
struct Bf16Layout {
    int pairs, padded_h, padded_w;
    std::size_t plane;  // pairs per channel-pair plane: the padded map plus a block's overhang

    std::size_t sample_pairs() const { return std::size_t(pairs) * plane; }
};

constexpr int kMaxPositions = 24;

Bf16Layout bf16_layout(const ConvGeometry& g) {
    const int padded_h = g.oh + g.kh - 1, padded_w = g.ow + g.kw - 1;
    return {channel_pairs(g), padded_h, padded_w, std::size_t(padded_h) * padded_w + kMaxPositions};
}

// A block's positions: contiguous when the rows are at least a block wide (P outputs of one row, the
// last block of a row running into columns that are computed and dropped); otherwise gathered, any P
// consecutive outputs of the map through an offset table, the last block repeating its last position.
struct BlockPlan {
    int positions, vectors;  // P, V
    bool contiguous;
    int blocks_per_row, blocks;
};

BlockPlan plan_blocks(const ConvGeometry& g) {
    BlockPlan plan{};
    plan.vectors = g.oc <= kLanes ? 1 : 2;
    plan.positions = plan.vectors == 1 ? 24 : 12;
    plan.contiguous = g.ow >= plan.positions;
    if (plan.contiguous) {
        plan.blocks_per_row = (g.ow + plan.positions - 1) / plan.positions;
        plan.blocks = plan.blocks_per_row * g.oh;
    } else {
        plan.blocks_per_row = 0;
        plan.blocks = int((g.positions() + plan.positions - 1) / plan.positions);
    }
    return plan;
}

// offsets[b*P + p]: the padded offset that position p of block b reads at tap (0, 0); positions[b*P + p]:
// its index in the output map, or -1 where the lane is computed and dropped.
void build_block_tables(const ConvGeometry& g, const Bf16Layout& layout, const BlockPlan& plan, int* offsets,
                        int* positions) {
    const int p_count = plan.positions;
    for (int b = 0; b < plan.blocks; ++b)
        for (int p = 0; p < p_count; ++p) {
            int y, x;
            bool stored;
            if (plan.contiguous) {
                y = b / plan.blocks_per_row;
                x = (b % plan.blocks_per_row) * p_count + p;
                stored = x < g.ow;
            } else {
                const int flat = std::min(b * p_count + p, int(g.positions()) - 1);
                stored = b * p_count + p < int(g.positions());
                y = flat / g.ow;
                x = flat % g.ow;
            }
            offsets[b * p_count + p] = y * layout.padded_w + x;
            positions[b * p_count + p] = stored ? y * g.ow + x : -1;
        }
}

// Channels (2i, 2i+1) of one sample (C,H,W) into plane i of pairs, at the conv's leading pads; the
// padding and the overhang are zero.
void pack_input_pairs(const ConvGeometry& g, const Bf16Layout& layout, const float* in, std::uint32_t* pairs) {
    std::fill(pairs, pairs + layout.sample_pairs(), 0u);
    const std::size_t plane_in = std::size_t(g.h) * g.w;
    alignas(64) std::int16_t order[2 * kLanes];
    for (int i = 0; i < kLanes; ++i) {
        order[2 * i] = std::int16_t(i);
        order[2 * i + 1] = std::int16_t(kLanes + i);
    }
    const __m512i interleave = _mm512_load_si512(order);
    for (int cp = 0; cp < layout.pairs; ++cp) {
        const float* low = in + std::size_t(2 * cp) * plane_in;
        const float* high = 2 * cp + 1 < g.c ? low + plane_in : nullptr;
        std::uint32_t* plane = pairs + std::size_t(cp) * layout.plane;
        for (int y = 0; y < g.h; ++y) {
            const int py = y + g.pad_top;
            if (py >= layout.padded_h) break;  // 'valid'-like geometries never read these rows
            const int width = std::min(g.w, layout.padded_w - g.pad_left);
            std::uint32_t* dst = plane + std::size_t(py) * layout.padded_w + g.pad_left;
            for (int x = 0; x < width; x += kLanes) {
                const __mmask16 mask = __mmask16((1u << std::min(kLanes, width - x)) - 1u);
                const std::size_t at = std::size_t(y) * g.w + x;
                const __m512 low_values = _mm512_maskz_loadu_ps(mask, low + at);
                const __m512 high_values = high ? _mm512_maskz_loadu_ps(mask, high + at) : _mm512_setzero_ps();
                // 16 low then 16 high bf16 values, interleaved into pairs. (The masked-all forms of the
                // permute: GCC 12's unmasked intrinsics warn about their own undefined source.)
                const __m512i halves = __m512i(_mm512_cvtne2ps_pbh(high_values, low_values));
                _mm512_mask_storeu_epi32(dst + x, mask,
                                         _mm512_maskz_permutexvar_epi16(~__mmask32(0), interleave, halves));
            }
        }
    }
}

// One block: outputs of channel vectors [vector0, vector0 + V) at the block's P positions, for one
// sample. weights points at the packed weights of vector0; out is the sample's (OC,OH,OW).
template <int P, int V, bool kContiguous>
void bf16_block(const ConvGeometry& g, const Bf16Layout& layout, const std::uint32_t* pairs,
                const std::uint16_t* weights, const int* offsets, const int* positions, int vector0, const float* bias,
                float* out, const ChannelEpilogue* epilogue) {
    const std::size_t vector_stride = packed_vector_size(g);
    __m512 acc[P][V];
    for (int p = 0; p < P; ++p)
        for (int v = 0; v < V; ++v) acc[p][v] = _mm512_setzero_ps();
    int gathered[P] = {};
    if constexpr (!kContiguous)
        for (int p = 0; p < P; ++p) gathered[p] = offsets[p];
    const std::uint16_t* tap_weights = weights;
    for (int cp = 0; cp < layout.pairs; ++cp) {
        const std::uint32_t* plane = pairs + std::size_t(cp) * layout.plane + (kContiguous ? offsets[0] : 0);
        for (int i = 0; i < g.kh; ++i)
            for (int j = 0; j < g.kw; ++j, tap_weights += kLanes * 2) {
                const std::uint32_t* tap = plane + i * layout.padded_w + j;
                __m512bh w[V];
                for (int v = 0; v < V; ++v) w[v] = __m512bh(_mm512_loadu_si512(tap_weights + v * vector_stride));
#pragma GCC unroll 24
                for (int p = 0; p < P; ++p) {
                    const std::uint32_t value = kContiguous ? tap[p] : tap[gathered[p]];
                    const __m512bh x = __m512bh(_mm512_set1_epi32(int(value)));
                    for (int v = 0; v < V; ++v) acc[p][v] = _mm512_dpbf16_ps(acc[p][v], x, w[v]);
                }
            }
    }
    // Lanes are output channels: bias and the epilogue's scale and shift are vectors, then each
    // position's channels go to their planes.
    alignas(64) float tile[V][kLanes][P];
    for (int v = 0; v < V; ++v) {
        const int o_begin = (vector0 + v) * kLanes, valid = std::clamp(g.oc - o_begin, 0, kLanes);
        const __mmask16 mask = __mmask16((1u << valid) - 1u);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + o_begin) : _mm512_setzero_ps();
        for (int p = 0; p < P; ++p) {
            alignas(64) float lanes[kLanes];
            _mm512_store_ps(lanes, _mm512_add_ps(acc[p][v], b));
            for (int l = 0; l < kLanes; ++l) tile[v][l][p] = lanes[l];
        }
        for (int l = 0; l < valid; ++l) {
            float* plane = out + std::size_t(o_begin + l) * g.positions();
            float* values = tile[v][l];
            if (epilogue) epilogue->apply(o_begin + l, values, values, P);
            for (int p = 0; p < P; ++p)
                if (positions[p] >= 0) plane[positions[p]] = values[p];
        }
    }
}

using Bf16Block = void (*)(const ConvGeometry&, const Bf16Layout&, const std::uint32_t*, const std::uint16_t*,
                           const int*, const int*, int, const float*, float*, const ChannelEpilogue*);

Bf16Block select_block(const BlockPlan& plan) {
    if (plan.vectors == 1) return plan.contiguous ? bf16_block<24, 1, true> : bf16_block<24, 1, false>;
    return plan.contiguous ? bf16_block<12, 2, true> : bf16_block<12, 2, false>;
}

}  // namespace

void conv2d_forward_bf16(const ConvGeometry& g, const float* in, const Bf16ConvWeights& weights, const float* bias,
                         float* out, int threads, Bf16ConvWorkspace& workspace, const ChannelEpilogue* epilogue) {
    if (!bf16_supported() || !bf16_conv_applies(g))
        throw std::logic_error("conv2d bf16: no AVX-512 BF16 on this CPU, or a stride other than 1");
    const Bf16Layout layout = bf16_layout(g);
    const BlockPlan plan = plan_blocks(g);
    const int vectors = channel_vectors(g), groups = (vectors + plan.vectors - 1) / plan.vectors;
    if (weights.packed.size() != std::size_t(vectors) * packed_vector_size(g))
        throw std::logic_error("conv2d bf16: the packed weights are for another shape");
    const std::size_t table = std::size_t(plan.blocks) * plan.positions;
    workspace.pairs.resize(std::max(workspace.pairs.size(), std::size_t(g.n) * layout.sample_pairs()));
    workspace.offsets.resize(std::max(workspace.offsets.size(), 2 * table));
    int* offsets = workspace.offsets.data();
    int* positions = offsets + table;
    build_block_tables(g, layout, plan, offsets, positions);
    std::uint32_t* pairs = workspace.pairs.data();
    const Bf16Block block_kernel = select_block(plan);
    // Items are (sample, group of V channel vectors, block): one writer per output, any static split is
    // race-free and each output's summation order is fixed.
    const int items = g.n * groups * plan.blocks;
    const int team = convolution_threads(g, threads, items);
#pragma omp parallel num_threads(team) if (team > 1)
    {
#pragma omp for schedule(static)
        for (int n = 0; n < g.n; ++n)
            pack_input_pairs(g, layout, in + std::size_t(n) * g.input_size(),
                             pairs + std::size_t(n) * layout.sample_pairs());
#pragma omp for schedule(static)
        for (int item = 0; item < items; ++item) {
            const int n = item / (groups * plan.blocks), group = item / plan.blocks % groups, b = item % plan.blocks;
            const int vector0 = group * plan.vectors;
            const std::uint16_t* group_weights = weights.packed.data() + std::size_t(vector0) * packed_vector_size(g);
            block_kernel(g, layout, pairs + std::size_t(n) * layout.sample_pairs(), group_weights,
                         offsets + std::size_t(b) * plan.positions, positions + std::size_t(b) * plan.positions,
                         vector0, bias, out + std::size_t(n) * g.output_size(), epilogue);
        }
    }
}

#endif

}  // namespace fer

#include "conv_small_map.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "simd_lanes.hpp"

namespace fer {

using namespace simd;  // Lanes, broadcast

namespace {

// On maps narrower than a vector the direct kernel leaves most lanes of its column vectors idle, and the
// im2col GEMM spends more on building and packing its operands than on the products: gap's 6x6 and 3x3
// layers ran at 50-80 GFLOP/s at batch 1 on a core that peaks near 230. Here the vectors run along the
// output channels: a register block holds kOcVectors vectors of channels x a block of output positions
// (rows x cols of the map), each tap's weights are two vector loads, and each input value one broadcast
// that feeds both vectors. With 32 registers, 12 positions: 24 sums, 2 weight vectors and the broadcast.
// With 16, 6 positions (12 + 2 + 1). A layer of at most one vector of output channels (gap's last, 256 -> 7)
// takes blocks of one vector: two would double its multiplications and its packed weights.
constexpr int kMaxOcVectors = 2;
constexpr int kBlockPositions = kVectorRegisters >= 32 ? 12 : 6;
constexpr int kMaxMapWidth = 12;
// A layer of a single block with at least kChunks * kMinChunkChannels input channels sums them in kChunks
// chunks, which threads can share.
constexpr int kChunks = 4;
constexpr int kMinChunkChannels = 16;

struct BlockShape {
    int rows, cols;
};

// The position blocks built, all of at most kBlockPositions positions and at least 4 (8 independent sums
// cover the FMA latency).
constexpr auto kBlockShapes = [] {
    if constexpr (kBlockPositions == 12)
        return std::array<BlockShape, 6>{{{1, 12}, {2, 6}, {3, 4}, {4, 3}, {3, 3}, {6, 2}}};
    else
        return std::array<BlockShape, 4>{{{1, 6}, {2, 3}, {3, 2}, {6, 1}}};
}();

// The zero-padded copy of one sample is (C, padded_h, padded_w), large enough that the last block of rows
// and of columns reads inside it.
struct SmallMapLayout {
    int shape;       // index into kBlockShapes
    int oc_vectors;  // per block: 1 or kMaxOcVectors
    int rows, cols, row_blocks, col_blocks, oc_blocks;
    int padded_h, padded_w;
    std::size_t plane_floats() const { return std::size_t(padded_h) * padded_w; }
    int position_blocks() const { return row_blocks * col_blocks; }
    int block_channels() const { return oc_vectors * kLanes; }
};

// The block shape that covers the map with the fewest positions computed, and of those the largest
// (fewer passes over the weights).
SmallMapLayout small_map_layout(const ConvGeometry& g) {
    const int oc_vectors = g.oc <= kLanes ? 1 : kMaxOcVectors;
    SmallMapLayout best{};
    long best_slots = 0;
    for (int s = 0; s < int(kBlockShapes.size()); ++s) {
        const auto [rows, cols] = kBlockShapes[std::size_t(s)];
        const int row_blocks = (g.oh + rows - 1) / rows, col_blocks = (g.ow + cols - 1) / cols;
        const long slots = long(row_blocks) * rows * col_blocks * cols;
        if (s == 0 || slots < best_slots || (slots == best_slots && rows * cols > best.rows * best.cols)) {
            best = {s,
                    oc_vectors,
                    rows,
                    cols,
                    row_blocks,
                    col_blocks,
                    (g.oc + oc_vectors * kLanes - 1) / (oc_vectors * kLanes),
                    row_blocks * rows + g.kh - 1,
                    col_blocks * cols + g.kw - 1};
            best_slots = slots;
        }
    }
    return best;
}

// in is one sample (C,H,W); padded is its (C, padded_h, padded_w) copy with the conv's leading pads, for
// channels [c_begin, c_end).
void pad_channels(const ConvGeometry& g, const SmallMapLayout& layout, const float* in, int c_begin, int c_end,
                  float* padded) {
    for (int c = c_begin; c < c_end; ++c) {
        float* plane = padded + std::size_t(c) * layout.plane_floats();
        std::fill(plane, plane + layout.plane_floats(), 0.0f);
        const int columns = std::min(g.w, layout.padded_w - g.pad_left);
        for (int y = 0; y < g.h; ++y) {
            const int py = y + g.pad_top;
            if (py >= layout.padded_h) break;  // 'valid'-like geometries never read these rows
            const float* src = in + (std::size_t(c) * g.h + y) * g.w;
            std::copy(src, src + columns, plane + std::size_t(py) * layout.padded_w + g.pad_left);
        }
    }
}

// A block's sums, (position, channel), into the sample's (OC,OH,OW) output: channels [o_begin, +o_count) at the
// rows x cols positions from (y0, x0) that lie on the map, each output row segment through the epilogue.
void write_block(const ConvGeometry& g, const float* staged, int block_cols, int block_channels, int o_begin,
                 int o_count, int y0, int x0, int rows, int cols, float* out, const ChannelEpilogue* epilogue) {
    rows = std::min(rows, g.oh - y0);
    cols = std::min(cols, g.ow - x0);
    for (int o = 0; o < o_count; ++o)
        for (int r = 0; r < rows; ++r) {
            float* dst = out + (std::size_t(o_begin + o) * g.oh + y0 + r) * g.ow + x0;
            for (int x = 0; x < cols; ++x) dst[x] = staged[std::size_t(r * block_cols + x) * block_channels + o];
            if (epilogue) epilogue->apply(o_begin + o, dst, dst, std::size_t(cols));
        }
}

// Output channels [oc_block*B, +B) (B = kOcVectors vectors) at the kRows x kCols output positions from (y0, x0) of
// one sample, summed over input channels [c_begin, c_end) from the bias (from zero without one): padded is
// the sample's padded copy, packed_block the block's (C, KH, KW, B) weights, out the sample's (OC,OH,OW)
// output; positions past the map are computed and dropped. With `partial`, the sums go there instead,
// (position, channel), for the caller to add up. kKernel is the kernel's size when square and fixed at compile
// time (the tap loops unrolled; the caller checks g), or 0.
template <int kOcVectors, int kRows, int kCols, int kKernel>
void small_map_block(const ConvGeometry& g, const SmallMapLayout& layout, const float* padded,
                     const float* packed_block, const float* bias, int oc_block, int y0, int x0, int c_begin, int c_end,
                     float* out, const ChannelEpilogue* epilogue, float* partial) {
    constexpr int kPositions = kRows * kCols;
    constexpr int kBlockChannels = kOcVectors * kLanes;
    const int o_begin = oc_block * kBlockChannels, o_count = std::min(kBlockChannels, g.oc - o_begin);
    alignas(sizeof(Lanes)) float block_bias[kBlockChannels] = {};
    if (bias) std::copy(bias + o_begin, bias + o_begin + o_count, block_bias);
    Lanes acc[kPositions][kOcVectors];
    for (int v = 0; v < kOcVectors; ++v) {
        Lanes initial;
        std::memcpy(&initial, block_bias + v * kLanes, sizeof(Lanes));
        for (int p = 0; p < kPositions; ++p) acc[p][v] = initial;
    }
    const int kh = kKernel ? kKernel : g.kh, kw = kKernel ? kKernel : g.kw;
    const int padded_w = layout.padded_w;
    const float* taps = packed_block + std::size_t(c_begin) * kh * kw * kBlockChannels;
    const float* origin = padded + std::size_t(c_begin) * layout.plane_floats() + std::size_t(y0) * padded_w + x0;
    for (int c = c_begin; c < c_end; ++c, origin += layout.plane_floats())
#pragma GCC unroll 8
        for (int ki = 0; ki < kh; ++ki)
#pragma GCC unroll 8
            for (int kj = 0; kj < kw; ++kj, taps += kBlockChannels) {
                Lanes w[kOcVectors];
#pragma GCC unroll 4
                for (int v = 0; v < kOcVectors; ++v) std::memcpy(&w[v], taps + v * kLanes, sizeof(Lanes));
#pragma GCC unroll 12
                for (int r = 0; r < kRows; ++r) {
                    const float* row = origin + std::size_t(r + ki) * padded_w + kj;
#pragma GCC unroll 12
                    for (int x = 0; x < kCols; ++x) {
                        Lanes value = broadcast(row[x]);
                        // Neighbouring taps read the same input values; left to itself GCC kept each broadcast
                        // for the taps that reuse it and ran out of registers (a third of the sums spilled).
                        asm volatile("" : "+v"(value));
#pragma GCC unroll 4
                        for (int v = 0; v < kOcVectors; ++v) acc[r * kCols + x][v] += w[v] * value;
                    }
                }
            }
    // The sums are (position, channel); the output is (channel, position): through a staging block.
    if (partial) {
        std::memcpy(partial, acc, sizeof(acc));
        return;
    }
    alignas(sizeof(Lanes)) float staged[kPositions][kBlockChannels];
    std::memcpy(staged, acc, sizeof(staged));
    write_block(g, &staged[0][0], kCols, kBlockChannels, o_begin, o_count, y0, x0, kRows, kCols, out, epilogue);
}

using SmallMapBlock = void (*)(const ConvGeometry&, const SmallMapLayout&, const float*, const float*, const float*,
                               int, int, int, int, int, float*, const ChannelEpilogue*, float*);

template <std::size_t kShape>
SmallMapBlock block_for_kernel(int oc_vectors, int kernel) {
    constexpr BlockShape shape = kBlockShapes[kShape];
    if (oc_vectors == 1)
        return kernel == 3 ? small_map_block<1, shape.rows, shape.cols, 3>
                           : small_map_block<1, shape.rows, shape.cols, 0>;
    return kernel == 3 ? small_map_block<kMaxOcVectors, shape.rows, shape.cols, 3>
                       : small_map_block<kMaxOcVectors, shape.rows, shape.cols, 0>;
}

SmallMapBlock select_block(const ConvGeometry& g, const SmallMapLayout& layout) {
    const int kernel = g.kh == g.kw ? g.kh : 0;
    return [&]<std::size_t... shape>(std::index_sequence<shape...>) {
        SmallMapBlock block = nullptr;
        ((block = std::size_t(layout.shape) == shape ? block_for_kernel<shape>(layout.oc_vectors, kernel) : block),
         ...);
        return block;
    }
    (std::make_index_sequence<kBlockShapes.size()>{});
}

}  // namespace

bool use_small_map(const ConvGeometry& g) {
    // One sample: gap's batch-1 forward 0.48 -> 0.44 ms (its 6x6 and 3x3 layers). At batch 64 the sample-group
    // GEMM measured faster (five_layer's training 1331 against 1219 img/s with this kernel).
    return g.n == 1 && g.stride_h == 1 && g.stride_w == 1 && g.ow <= kMaxMapWidth;
}

void small_map_forward(const ConvGeometry& g, const float* in, const float* weight, const float* bias, float* out,
                       int threads, ConvWorkspace& workspace, const ChannelEpilogue* epilogue,
                       std::uint64_t weights_version) {
    const SmallMapLayout layout = small_map_layout(g);
    const std::size_t sample_floats = std::size_t(g.c) * layout.plane_floats();
    const std::size_t block_floats = g.patch_size() * layout.block_channels();
    float* padded = workspace.padded_input(std::size_t(g.n) * sample_floats);
    float* packed = workspace.packed_weights(std::size_t(layout.oc_blocks) * block_floats);
    if (!workspace.holds_packed_weights(weight, weights_version, WeightPacking::small_map)) {
        pack_output_channel_blocks(g, layout.block_channels(), weight, packed);
        workspace.set_packed_weights_source(weight, weights_version, WeightPacking::small_map);
    }
    const SmallMapBlock block_kernel = select_block(g, layout);
    const int position_blocks = layout.position_blocks();
    const int items = g.n * layout.oc_blocks * position_blocks;
    if (items == 1 && g.c >= kChunks * kMinChunkChannels) {
        // One block for the whole layer (gap's last, 7 channels on a 3x3 map: one thread, 11.7 us in a whole
        // forward, most of it reading the 147 KB of packed weights from beyond L2): its input channels in
        // kChunks fixed chunks, shared by the team, each thread padding only its chunks' channels; the chunks'
        // sums are added in chunk order, so the bits do not depend on the thread count.
        const int team = std::min(threads, kChunks);
        const std::size_t partial_floats = std::size_t(layout.rows) * layout.cols * layout.block_channels();
        workspace.prepare(kChunks, 0, partial_floats);
#pragma omp parallel num_threads(team) if (team > 1)
        {
#pragma omp for schedule(static)
            for (int chunk = 0; chunk < kChunks; ++chunk) {
                const int c_begin = g.c * chunk / kChunks, c_end = g.c * (chunk + 1) / kChunks;
                pad_channels(g, layout, in, c_begin, c_end, padded);
                block_kernel(g, layout, padded, packed, chunk == 0 ? bias : nullptr, 0, 0, 0, c_begin, c_end, out,
                             epilogue, workspace.partial(chunk));
            }
        }
        float* sums = workspace.partial(0);
        for (int chunk = 1; chunk < kChunks; ++chunk) {
            const float* add = workspace.partial(chunk);
            for (std::size_t i = 0; i < partial_floats; ++i) sums[i] += add[i];
        }
        write_block(g, sums, layout.cols, layout.block_channels(), 0, g.oc, 0, 0, layout.rows, layout.cols, out,
                    epilogue);
        return;
    }
    // Items are (sample, channel block, position block), the position blocks of one channel block together
    // (its weights stay in cache); one writer per output element, so any static split is race-free, and at
    // batch 1 each thread keeps to the same channel blocks from call to call (their weights stay in its L2).
    const int team = convolution_threads(g, threads, items);
#pragma omp parallel num_threads(team) if (team > 1)
    {
#pragma omp for schedule(static)
        for (int plane = 0; plane < g.n * g.c; ++plane) {
            const int n = plane / g.c, c = plane % g.c;
            pad_channels(g, layout, in + std::size_t(n) * g.input_size(), c, c + 1,
                         padded + std::size_t(n) * sample_floats);
        }
#pragma omp for schedule(static)
        for (int item = 0; item < items; ++item) {
            const int n = item / (layout.oc_blocks * position_blocks);
            const int oc_block = item / position_blocks % layout.oc_blocks, position_block = item % position_blocks;
            const int y0 = position_block / layout.col_blocks * layout.rows;
            const int x0 = position_block % layout.col_blocks * layout.cols;
            block_kernel(g, layout, padded + std::size_t(n) * sample_floats,
                         packed + std::size_t(oc_block) * block_floats, bias, oc_block, y0, x0, 0, g.c,
                         out + std::size_t(n) * g.output_size(), epilogue, nullptr);
        }
    }
}

}  // namespace fer

// Architecture text: a small human-readable description of a whole network, written and parsed by fer.
// It is stored inside model files and can be handed to fer-train with --arch.
//
//   # comments and blank lines are ignored
//   input channels=1 height=48 width=48
//   conv2d filters=32 kernel=5 stride=1 padding=same bias=true
//   batchnorm momentum=0.99 epsilon=0.001
//   relu
//   residual relu=true {
//     conv2d filters=64 kernel=3 stride=2 padding=same bias=false
//     batchnorm momentum=0.99 epsilon=0.001
//   } shortcut {
//     conv2d filters=64 kernel=1 stride=2 padding=same bias=false
//   }
//
// One layer per line as `kind key=value ...`, keys in the layer's config() order; missing keys take the
// layer's defaults (except the ones a layer cannot do without, such as filters and units). A residual
// block's shortcut part is optional (identity) and blocks nest. The first line is the per-sample input.
#pragma once

#include <string>
#include <vector>

#include "fer/layer.hpp"
#include "fer/sequence.hpp"
#include "fer/tensor.hpp"

namespace fer {

struct Architecture {
    Shape input;  // n = 1
    Sequence layers;
};

// Throws std::invalid_argument "SOURCE:LINE: what is wrong" (unknown kind with the known kinds listed,
// unknown or repeated key, bad value, unbalanced braces, missing input line, ...).
Architecture parse_architecture(const std::string& text, const std::string& source_name);

// The canonical text: parse_architecture(write_architecture(in, layers)) rebuilds the same layers, and
// write(parse(write(...))) is byte-identical.
std::string write_architecture(const Shape& input, const Sequence& layers);

// The one layer factory: builds any layer except "residual" (whose body only the parser can supply) from
// its kind and config. Throws std::invalid_argument naming the kind and the offending key or value.
LayerPtr make_layer(const std::string& kind, const LayerConfig& config);

// Every kind make_layer and the parser know, "residual" included.
std::vector<std::string> layer_kinds();

}  // namespace fer

// The model zoo: the networks from the paper and a few stronger ones, built by name.
//
//   five_layer  three conv/BN/ReLU/max-pool stages, dense 1024, dropout 0.3 (2,438,311 parameters)
//   gap         Arriaga et al.'s simple CNN: no dense layer, global average pooling (641,463 + 1,472)
//   resnet_se   a small squeeze-and-excitation ResNet for 48x48 faces
//   vgg_small   VGG-style conv pairs at widths 32/64/128/256, global average pooling
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fer/input_spec.hpp"
#include "fer/network.hpp"

namespace fer {

// angry disgust fear happy sad surprise neutral (the FER2013 label order).
std::vector<std::string> fer2013_classes();
std::vector<std::string> model_names();

// A freshly initialised network (init(seed) already called). The last layer has classes.size() outputs.
// Throws std::invalid_argument listing the known names for an unknown name.
Network build_model(const std::string& name, std::uint64_t seed, const InputSpec& input = {},
                    std::vector<std::string> classes = fer2013_classes());

}  // namespace fer

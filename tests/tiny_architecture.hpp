// A network for tests: small enough to train in well under a second per epoch on the synthetic data,
// big enough to learn its classes.
#pragma once

namespace fer {

inline constexpr const char* kTinyArchitecture = R"(input channels=1 height=48 width=48
conv2d filters=16 kernel=5 stride=2 padding=same bias=true
batchnorm momentum=0.9
relu
maxpool2d size=2 stride=2 padding=valid
conv2d filters=16 kernel=3 stride=1 padding=same bias=true
batchnorm momentum=0.9
relu
global_avg_pool
flatten
dense units=7
softmax
)";

}  // namespace fer

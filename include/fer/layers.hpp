// Every layer fer has, for code that builds networks (the architecture parser, the model zoo, tests).
#pragma once

#include "fer/activations.hpp"
#include "fer/batch_norm.hpp"
#include "fer/conv2d.hpp"
#include "fer/dense.hpp"
#include "fer/dropout.hpp"
#include "fer/pooling.hpp"
#include "fer/residual.hpp"
#include "fer/squeeze_excite.hpp"

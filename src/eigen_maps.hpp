// Private to the library: Eigen, included once the same way everywhere, and the row-major maps our
// kernels use to view raw float buffers as matrices.
#pragma once

// GCC 12 reports its own AVX-512 intrinsics (`__m512 __Y = __Y;`) as uninitialised once Eigen's GEMM
// kernels are inlined (GCC bug 105593); the diagnostic belongs to the compiler's headers, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace fer::eigen {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMajorMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix>;
using VectorMap = Eigen::Map<Eigen::VectorXf>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;
using RowVectorMap = Eigen::Map<Eigen::RowVectorXf>;
using ConstRowVectorMap = Eigen::Map<const Eigen::RowVectorXf>;

}  // namespace fer::eigen

#include "fer/context.hpp"

#include <omp.h>

namespace fer {

int resolve_threads(const RunOptions& options) {
    return options.threads > 0 ? options.threads : omp_get_max_threads();
}

}  // namespace fer

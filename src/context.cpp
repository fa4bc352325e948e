#include "fer/context.hpp"

#include <omp.h>

#include <stdexcept>

namespace fer {

std::string to_string(Precision precision) {
    return precision == Precision::bf16 ? "bf16" : "fp32";
}

Precision parse_precision(const std::string& text) {
    if (text == "fp32") return Precision::fp32;
    if (text == "bf16") return Precision::bf16;
    throw std::invalid_argument("unknown precision '" + text + "' (fp32 or bf16)");
}

int resolve_threads(const RunOptions& options) {
    return options.threads > 0 ? options.threads : omp_get_max_threads();
}

}  // namespace fer

#!/usr/bin/env bash
# Compiles the sources whose code depends on the target's vector instructions for every x86-64 level
# (SSE2, AVX2, AVX-512, AVX-512 with BF16), warnings as errors. A build tuned for this machine
# (-march=native) only compiles the kernels for this machine's level; a kernel written for one vector
# width once failed to build on another. CI runs it; it takes a minute or two.
#   CXX   the compiler (default c++)
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=${CXX:-c++}
sources=(src/conv_kernels.cpp src/conv_bf16.cpp)
flags=(-std=c++20 -O2 -Wall -Wextra -Wno-restrict -Werror -fopenmp -DEIGEN_DONT_PARALLELIZE -Iinclude
       -isystem /usr/include/eigen3)
status=0
for march in x86-64 x86-64-v3 x86-64-v4 sapphirerapids; do
    for source in "${sources[@]}"; do
        if "$cxx" "${flags[@]}" -march="$march" -c "$source" -o /dev/null; then
            echo "check-isa-builds: $source builds for -march=$march"
        else
            echo "check-isa-builds: $source does not build for -march=$march" >&2
            status=1
        fi
    done
done
exit "$status"

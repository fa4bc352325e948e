#!/usr/bin/env bash
# Compiles the sources whose code depends on the target's vector instructions for every x86-64 level
# (SSE2, AVX2, AVX-512, AVX-512 with BF16), warnings as errors, with the project's own compile flags (a
# library-only CMake configuration per level in build-isa/). A build tuned for this machine
# (-march=native) only compiles the kernels for this machine's level; a kernel written for one vector
# width once failed to build on another. CI runs it; it takes a minute or two.
#   FER_ISA_BUILD_DIR   build folder (default build-isa)
set -euo pipefail
cd "$(dirname "$0")/.."
build_root=${FER_ISA_BUILD_DIR:-build-isa}
objects=(CMakeFiles/fer.dir/src/conv_kernels.cpp.o CMakeFiles/fer.dir/src/conv_bf16.cpp.o CMakeFiles/fer.dir/src/conv_winograd.cpp.o
         CMakeFiles/fer.dir/src/pooling.cpp.o)
status=0
for march in x86-64 x86-64-v3 x86-64-v4 sapphirerapids; do
    build_dir=$build_root/$march
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFER_NATIVE=OFF -DFER_BUILD_TESTS=OFF \
        -DFER_BUILD_PLAYER=OFF -DCMAKE_CXX_FLAGS="-march=$march -Werror" >/dev/null
    if ninja -C "$build_dir" "${objects[@]}" >"$build_dir/check.log" 2>&1; then
        echo "check-isa-builds: the vector kernels build for -march=$march"
    else
        cat "$build_dir/check.log" >&2
        echo "check-isa-builds: the vector kernels do not build for -march=$march" >&2
        status=1
    fi
done
exit "$status"

#!/usr/bin/env bash
# Configures and builds fer in build/ (Release, tuned for this CPU unless FER_NATIVE=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FER_BUILD_DIR:-build}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFER_NATIVE="${FER_NATIVE:-ON}" "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

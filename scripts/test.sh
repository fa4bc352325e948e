#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test. This is the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${FER_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)"

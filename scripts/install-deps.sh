#!/usr/bin/env bash
# Installs every Debian package fer needs to build, test and run. Idempotent: packages already
# present are skipped, and `apt-get update` runs at most once, only when something is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config ccache
  # core library and tools
  libeigen3-dev libstb-dev libcli11-dev doctest-dev
  # fer-play: capture and face detection, audio tags, web server and JSON
  libopencv-dev opencv-data libtag1-dev libcpp-httplib-dev nlohmann-json3-dev
  # the player's browser test (playwright-core drives Debian's chromium; no browser download)
  chromium
  # scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes, and clang's OpenMP
  clang libclang-rt-dev libomp-dev
)
# Node.js runs the browser test; a machine that already has node (and npm) keeps its own.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

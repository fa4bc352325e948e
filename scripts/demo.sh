#!/usr/bin/env bash
# The first command: installs what is needed, builds, and runs fer-play on the demo clip
# (data/demo/clip.avi) with the demo music (data/demo/music), no camera needed.
#
#   scripts/demo.sh               serves the player page on http://127.0.0.1:8077/ (Ctrl-C stops)
#   scripts/demo.sh --headless    prints one JSON line per decision instead
#   (other fer-play flags are passed on, e.g. --port 8080)
#
# It uses the shipped models in data/models/ when there are any. Otherwise it first trains a quick
# five_layer model (5 epochs on FER2013 from ${FER_DATA:-../shared/data/fer2013}, or on a synthetic set
# when FER2013 is absent - that model only shows the pipeline working, it cannot read real faces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${FER_BUILD_DIR:-build}

shopt -s nullglob
shipped=(data/models/*.fer)
models=()
if [ ${#shipped[@]} -gt 0 ]; then
  for m in "${shipped[@]}"; do models+=(--model "$m"); done
  echo "demo: using the shipped models: ${shipped[*]}"
else
  out=${FER_DEMO_DIR:-/tmp/fer-demo}
  mkdir -p "$out"
  data=${FER_DATA:-../shared/data/fer2013}
  if [ ! -f "$out/five_layer.fer" ]; then
    if [ -d "$data/train" ] && [ -d "$data/val" ]; then
      echo "demo: no shipped model; training five_layer on FER2013 ($data) for 5 epochs"
    else
      echo "demo: no shipped model and no FER2013 at $data; training on a synthetic set (it cannot read real faces)"
      data="$out/synthetic"
      "$bin/fer-synth" --out "$data" --per-class 80
    fi
    "$bin/fer-train" --arch five_layer --data "$data" --epochs 5 --batch 64 --out "$out/five_layer.fer"
    "$bin/fer-eval" --model "$out/five_layer.fer" --data "$data" --split test
  fi
  models=(--model "$out/five_layer.fer")
fi

headless=0
for arg in "$@"; do [ "$arg" = --headless ] && headless=1; done
[ $headless -eq 0 ] && echo "demo: open http://127.0.0.1:8077/ (or the --port you gave) and switch Emotion on"
exec "$bin/fer-play" --video data/demo/clip.avi --music data/demo/music "${models[@]}" "$@"

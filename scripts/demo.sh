#!/usr/bin/env bash
# The first command: installs, builds, and runs a short training and evaluation.
# Uses FER2013 from ../shared/data/fer2013 (or $FER_DATA) when present, otherwise a synthetic
# dataset that fer-synth makes. Outputs go to ${FER_DEMO_DIR:-/tmp/fer-demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
bin=${FER_BUILD_DIR:-build}
out=${FER_DEMO_DIR:-/tmp/fer-demo}
mkdir -p "$out"
data=${FER_DATA:-../shared/data/fer2013}
if [ -d "$data/train" ] && [ -d "$data/val" ]; then
  echo "demo: FER2013 found in $data: training five_layer for 2 epochs on 4,000 training images"
  limit=(--limit 4000)
else
  echo "demo: no FER2013 at $data; training on a synthetic dataset instead"
  data="$out/synthetic"
  "$bin/fer-synth" --out "$data" --per-class 80
  limit=()
fi
"$bin/fer-train" --arch five_layer --data "$data" --epochs 2 --batch 64 --lr 0.001 "${limit[@]}" \
  --out "$out/five_layer.fer" --seed 1
"$bin/fer-eval" --model "$out/five_layer.fer" --data "$data" --split test \
  --json "$out/report.json" --plot "$out/confusion.svg"
echo "demo: model, metrics log, curves and report are in $out"

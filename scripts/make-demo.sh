#!/usr/bin/env bash
# Rebuilds the player's demo data in data/demo: clip.avi (FER2013 test faces on a plain background,
# 640x480 MJPG, 15 frames/s), clip.txt (which emotion is shown in which frames) and music/<genre>/*.wav
# (generated melodies, no recorded music). Deterministic: the same images give the same bytes.
# Needs a build (scripts/build.sh) and FER2013 as folders in ../shared/data/fer2013 (or $FER_DATA).
#
# The faces were chosen with
#   fer-make-demo --fer2013 DATA --pick happy,sad,surprise,angry,neutral --pick-count 3 --model data/models/five_layer.fer
# which lists test faces that the detector finds in every frame and that the model classifies correctly.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FER_BUILD_DIR:-build}
data=${FER_DATA:-../shared/data/fer2013}
[ -x "$bin/fer-make-demo" ] || { echo "make-demo: $bin/fer-make-demo not built; run scripts/build.sh" >&2; exit 1; }
[ -d "$data/test" ] || { echo "make-demo: no FER2013 test folder in $data (set FER_DATA)" >&2; exit 1; }
rm -rf data/demo/music data/demo/clip.avi data/demo/clip.txt
"$bin/fer-make-demo" --fer2013 "$data" --out data/demo \
  --image happy/32344.png,sad/32613.png,surprise/32404.png,angry/32578.png,neutral/32326.png
du -sh data/demo

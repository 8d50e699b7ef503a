#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make demo`: stylises the CC0 sample clip with the shipped style and the shipped model that
# `model=auto` picks: the full model on a CUDA machine, the light network on a CPU, both at the
# clip's full size (720x404 after cropping one row for x264) in the precision `auto` picks (bf16
# on a CPU with AVX-512 BF16). DEMO_MODEL (auto, full, lite) and DEMO_PROCESSING_SIZE (longest
# edge the network runs at, 0 = full size) override them; the full model on a CPU takes minutes
# at full size (try DEMO_MODEL=full DEMO_PROCESSING_SIZE=384).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}
source "$HOME_DIR/env"
CLIP=$HOME_DIR/data/cityCC0.mpg
OUT=$ROOT/out/city-stylized.mp4
STYLE=${DEMO_STYLE:-$ROOT/styles/cafe-terrace-at-night.jpg}
mkdir -p "$ROOT/out"
SIZE=${DEMO_PROCESSING_SIZE:-0}
MODEL=${DEMO_MODEL:-auto}
echo "[demo] $CLIP + $(basename "$STYLE") -> $OUT (model $MODEL, processing size ${SIZE/#0/full})"
"$ROOT/target/release/examples/stylize-file" "$CLIP" "$OUT" --style "$STYLE" --model "$MODEL" \
  --processing-size "$SIZE"
# One still of the result next to the video, to look at without a player.
gst-launch-1.0 -q filesrc location="$OUT" ! decodebin ! videoconvert ! videorate ! \
  video/x-raw,framerate=1/1 ! identity drop-allocation=true ! pngenc snapshot=false ! \
  multifilesink max-files=1 location="$ROOT/out/city-stylized-%02d.png" >/dev/null 2>&1 || true
echo "[demo] result: $OUT (and a still: $(ls "$ROOT"/out/city-stylized-*.png 2>/dev/null | tail -1))"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make demo`: stylises the CC0 sample clip with the shipped style and decoder.
# On a CUDA machine the network runs at the clip's full size; on a CPU it runs at
# DEMO_PROCESSING_SIZE (default 384 px on the longest edge, in the precision `auto` picks: bf16 on
# a CPU with AVX-512 BF16) so the 190 frames take about a minute, not half an hour. The output
# always has the clip's size (720x404 after cropping one row for x264).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}
source "$HOME_DIR/env"
CLIP=$HOME_DIR/data/cityCC0.mpg
OUT=$ROOT/out/city-stylized.mp4
STYLE=${DEMO_STYLE:-$ROOT/styles/cafe-terrace-at-night.jpg}
mkdir -p "$ROOT/out"
if "$ADAINSTYLE_PYTHON" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  SIZE=${DEMO_PROCESSING_SIZE:-0}
else
  SIZE=${DEMO_PROCESSING_SIZE:-384}
fi
echo "[demo] $CLIP + $(basename "$STYLE") -> $OUT (processing size ${SIZE/#0/full})"
"$ROOT/target/release/examples/stylize-file" "$CLIP" "$OUT" --style "$STYLE" --processing-size "$SIZE"
# One still of the result next to the video, to look at without a player.
gst-launch-1.0 -q filesrc location="$OUT" ! decodebin ! videoconvert ! videorate ! \
  video/x-raw,framerate=1/1 ! identity drop-allocation=true ! pngenc snapshot=false ! \
  multifilesink max-files=1 location="$ROOT/out/city-stylized-%02d.png" >/dev/null 2>&1 || true
echo "[demo] result: $OUT (and a still: $(ls "$ROOT"/out/city-stylized-*.png 2>/dev/null | tail -1))"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Temporal stability of the element: the warping-error ratio (tools/warp_error.py) and the style
# ratio of the stylised frames (`adain-train frames-eval`) with temporal-smoothing off and at
# the given strengths, on two clips at 384x216:
#   city  the first FRAMES frames of the demo clip (a still camera, traffic moving);
#   pan   a camera pan and zoom over a held-out photo (2.6 px right, 0.9 px down and 0.2 % in
#         per frame).
# Prints one markdown table. Installs opencv-python-headless into the project venv if missing.
# FRAMES (default 60), STYLE, CLIPS ("city pan") and MODEL (the element's `model`, default full:
# model=auto would be the light network on a CPU), DECODER (the element's `decoder`: weights other
# than the shipped ones, e.g. a training run's) and PRECISION (default auto) can be set in the
# environment.
#
#   scripts/temporal-bench.sh [STRENGTH...]     (default: 0 0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
PY=$ADAINSTYLE_PYTHON
STRENGTHS=("$@")
[ ${#STRENGTHS[@]} -gt 0 ] || STRENGTHS=(0 0.5)
FRAMES=${FRAMES:-60}
STYLE=${STYLE:-styles/cafe-terrace-at-night.jpg}
MODEL=${MODEL:-full}
PRECISION=${PRECISION:-auto}
WEIGHTS=()
[ -z "${DECODER:-}" ] || WEIGHTS=(decoder="$DECODER")
OUT=out/temporal
export GST_PLUGIN_PATH=$PWD/target/release
"$PY" -c 'import cv2' 2>/dev/null ||
  "$PY" -m pip install -q --disable-pip-version-check "opencv-python-headless==4.12.0.88"
for bin in target/release/libgstadainstyle.so target/release/adain-train; do
  [ -e "$bin" ] || { echo "build first: make build && cargo build --release -p adainstyle-trainer" >&2; exit 1; }
done

rm -rf "$OUT" && mkdir -p "$OUT/city/in" "$OUT/pan/in"
gst-launch-1.0 -q filesrc location="$ADAINSTYLE_HOME/data/cityCC0.mpg" ! decodebin ! \
  identity eos-after="$FRAMES" ! videoconvert ! videoscale ! \
  video/x-raw,format=RGB,width=384,height=216 ! pngenc ! \
  multifilesink location="$OUT/city/in/%05d.png" >/dev/null
"$PY" - "$ADAINSTYLE_HOME/data/heldout/content/gc-explore_world_animals-jaguar.jpg" \
  "$OUT/pan/in" "$FRAMES" <<'PY'
import sys
from PIL import Image
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
im = Image.open(src).convert("RGB")
im = im.resize((768, round(im.height * 768 / im.width)), Image.LANCZOS)
for k in range(n):
    # 2.6 px right and 0.9 px down per frame, zooming in 0.2 % per frame (bilinear resampling).
    x, y, scale = 40 + 2.6 * k, 60 + 0.9 * k, 1 / (1 + 0.002 * k)
    frame = im.transform((384, 216), Image.AFFINE, (scale, 0, x, 0, scale, y), Image.BILINEAR)
    frame.save(f"{out}/{k:05d}.png")
PY

echo "| clip | temporal-smoothing | warping-error ratio | output / input warping error | style ratio of the frames |"
echo "|---|---:|---:|---:|---:|"
for clip in ${CLIPS:-city pan}; do
  for s in "${STRENGTHS[@]}"; do
    dir="$OUT/$clip/s$s"
    mkdir -p "$dir"
    gst-launch-1.0 -q multifilesrc location="$OUT/$clip/in/%05d.png" index=0 \
      caps=image/png,framerate=30/1 ! pngdec ! videoconvert ! \
      adainstyle model="$MODEL" precision="$PRECISION" "${WEIGHTS[@]}" temporal-smoothing="$s" \
      style="$STYLE" ! videoconvert ! \
      video/x-raw,format=RGB ! pngenc ! multifilesink location="$dir/%05d.png" >/dev/null
    warp=$("$PY" tools/warp_error.py "$OUT/$clip/in" "$dir")
    style=$(target/release/adain-train frames-eval --content "$OUT/$clip/in" --output "$dir" \
      --style "$STYLE" | tail -1)
    "$PY" - "$clip" "$s" "$warp" "$style" <<'PY'
import json, sys
clip, s, warp, style = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"| {clip} | {s} | {warp['ratio']:.3f} | {warp['output_error']:.5f} / {warp['input_error']:.5f} "
      f"| {style['style_ratio']:.4f} |")
PY
  done
done

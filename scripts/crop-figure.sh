#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo still at 4x zoom, one column per light network: the frame `make demo` keeps as its
# still (second 7 of the demo clip, 720x404), stylised by `stylize-image` with the demo's style
# and each weights file given, and the same patch of sky and building edge (160x100 px from
# x 420, y 30) shown at 4x with nearest-neighbour pixels, so that a tile repeating every 4 or 8
# pixels shows. Writes docs/light-network-crop.png (or OUT).
#
#   scripts/crop-figure.sh LABEL=WEIGHTS [LABEL=WEIGHTS...]
#   e.g. scripts/crop-figure.sh "shipped=models/lite.safetensors" "new=run/decoder.safetensors"
set -euo pipefail
cd "$(dirname "$0")/.."
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
[[ $# -ge 1 ]] || { sed -n 3,10p "$0" >&2; exit 2; }
OUT=${OUT:-docs/light-network-crop.png}
STYLE=${STYLE:-styles/cafe-terrace-at-night.jpg}
STYLIZE=target/release/examples/stylize-image
[[ -x $STYLIZE ]] || { echo "build first: make build" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

gst-launch-1.0 -q filesrc location="$ADAINSTYLE_HOME/data/cityCC0.mpg" ! decodebin ! \
  videoconvert ! videorate ! video/x-raw,format=RGB,framerate=1/1 ! pngenc snapshot=false ! \
  multifilesink location="$TMP/still-%02d.png" >/dev/null
[[ -f $TMP/still-07.png ]] || { echo "the demo clip has no frame at 7 s" >&2; exit 1; }
columns=("photo=$TMP/still-07.png")
for spec in "$@"; do
  label=${spec%%=*} weights=${spec#*=}
  [[ -f $weights ]] || { echo "no weights file $weights" >&2; exit 1; }
  "$STYLIZE" "$TMP/still-07.png" -o "$TMP/$label.png" --model lite --decoder "$weights" \
    --style "$STYLE" >/dev/null
  columns+=("$label=$TMP/$label.png")
done
"$ADAINSTYLE_PYTHON" - "$OUT" "${columns[@]}" <<'PY'
import sys
from PIL import Image, ImageDraw
out, columns = sys.argv[1], [c.split("=", 1) for c in sys.argv[2:]]
box, zoom, gap, caption = (420, 30, 580, 130), 4, 8, 22
w, h = (box[2] - box[0]) * zoom, (box[3] - box[1]) * zoom
sheet = Image.new("RGB", (len(columns) * (w + gap) - gap, h + caption), "white")
draw = ImageDraw.Draw(sheet)
for i, (label, path) in enumerate(columns):
    crop = Image.open(path).convert("RGB").crop(box).resize((w, h), Image.NEAREST)
    sheet.paste(crop, (i * (w + gap), caption))
    draw.text((i * (w + gap) + 4, 4), label, fill="black")
sheet.save(out)
print(out)
PY

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Spatial control on two held-out photos with a shipped network (SPATIAL_MODEL, the full model by
# default): docs/spatial-control.jpg and the seam figures of docs/README.md (tools/seam.py), hard
# edge against the default soft edge.
set -euo pipefail
cd "$(dirname "$0")/.."
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
HELDOUT="$ADAINSTYLE_HOME/data/heldout/content"
OUT=out/spatial
mkdir -p "$OUT" docs
STYLIZE=target/release/examples/stylize-image
PY="$ADAINSTYLE_PYTHON"

# Inputs at 512 px, and their masks: an ellipse on the valley (the styled region), a polygon
# around the dog (black: the dog is kept, the background styled).
"$PY" - "$HELDOUT" "$OUT" <<'PY'
import sys
from PIL import Image, ImageDraw
src, out = sys.argv[1], sys.argv[2]
def fit(name):
    im = Image.open(f"{src}/{name}").convert("RGB")
    s = 512 / max(im.size)
    return im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
valley = fit("es-valley9.jpg")
valley.save(f"{out}/valley.png")
m = Image.new("L", valley.size, 0)
w, h = valley.size
ImageDraw.Draw(m).ellipse((w * 0.2, h * 0.15, w * 0.8, h * 0.85), fill=255)
m.save(f"{out}/valley-mask.png")
dog = fit("gc-explore_farm_animals-dog.jpg")
dog.save(f"{out}/dog.png")
outline = [(40, 520), (40, 600), (160, 620), (240, 600), (250, 700), (380, 725), (390, 600),
           (430, 500), (640, 500), (650, 690), (830, 725), (770, 480), (830, 400), (900, 250),
           (910, 30), (860, 80), (800, 80), (770, 25), (750, 150), (690, 205), (450, 220),
           (260, 320), (200, 420), (100, 500)]
m = Image.new("L", (1024, 768), 255)
ImageDraw.Draw(m).polygon(outline, fill=0)
m.resize(dog.size, Image.NEAREST).save(f"{out}/dog-mask.png")
PY

NIGHT=styles/night-cafe.jpg
BRIDGE=styles/langlois-bridge.jpg
run() { "$STYLIZE" --model "${SPATIAL_MODEL:-full}" "$@" >/dev/null; }
run "$OUT/valley.png" --style "$NIGHT" --mask "$OUT/valley-mask.png" --mask-feather 0 -o "$OUT/valley-hard.png"
run "$OUT/valley.png" --style "$NIGHT" --mask "$OUT/valley-mask.png" -o "$OUT/valley-soft.png"
run "$OUT/valley.png" --style "$NIGHT" --style-outside "$BRIDGE" --mask "$OUT/valley-mask.png" -o "$OUT/valley-two.png"
run "$OUT/dog.png" --style "$NIGHT" --mask "$OUT/dog-mask.png" --mask-feather 0 -o "$OUT/dog-hard.png"
run "$OUT/dog.png" --style "$NIGHT" --mask "$OUT/dog-mask.png" -o "$OUT/dog-soft.png"

echo "picture | seam (1 = as smooth as the rest of the picture)"
for name in valley valley-hard valley-soft valley-two dog dog-hard dog-soft; do
    mask="$OUT/${name%%-*}-mask.png"
    printf '%s | %s\n' "$name" "$("$PY" tools/seam.py "$OUT/$name.png" "$mask")"
done

"$PY" - "$OUT" <<'PY'
import sys
from PIL import Image
out = sys.argv[1]
panels = [Image.open(f"{out}/{n}.png") for n in ("dog-soft", "valley-soft", "valley-two")]
h = 320
panels = [p.resize((round(p.width * h / p.height), h), Image.LANCZOS) for p in panels]
grid = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), h), "white")
x = 0
for p in panels:
    grid.paste(p, (x, 0))
    x += p.width + 8
grid.save("docs/spatial-control.jpg", quality=88)
PY
echo "wrote docs/spatial-control.jpg"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The person mask on the two photos of tests/data/people with the network a CPU picks
# (PERSON_MODEL, lite by default): docs/person-mask.jpg (photo | mask=person: the room styled |
# mask-invert: the person styled), and the keep/style figures of BENCHMARKS.md
# (tools/person_mask_eval.py against the hand-drawn ground truth).
set -euo pipefail
cd "$(dirname "$0")/.."
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
MODEL=${PERSON_MODEL:-lite}
OUT=out/person
mkdir -p "$OUT" docs
STYLIZE=target/release/examples/stylize-image
PY="$ADAINSTYLE_PYTHON"
STYLE=styles/night-cafe.jpg

for name in astronaut camera; do
  "$STYLIZE" "tests/data/people/$name.jpg" -o "$OUT/$name-room.png" --model "$MODEL" \
    --style "$STYLE" --mask person
  "$STYLIZE" "tests/data/people/$name.jpg" -o "$OUT/$name-person.png" --model "$MODEL" \
    --style "$STYLE" --mask person --mask-invert
done
"$PY" - "$OUT" docs/person-mask.jpg <<'PY'
import sys
from PIL import Image
out, target = sys.argv[1], sys.argv[2]
tile = 384
rows = []
for name in ("astronaut", "camera"):
    rows.append([Image.open(f"tests/data/people/{name}.jpg").convert("RGB"),
                 Image.open(f"{out}/{name}-room.png").convert("RGB"),
                 Image.open(f"{out}/{name}-person.png").convert("RGB")])
sheet = Image.new("RGB", (3 * tile + 16, len(rows) * tile + 8 * (len(rows) - 1)), "white")
for r, row in enumerate(rows):
    for c, im in enumerate(row):
        sheet.paste(im.resize((tile, tile), Image.LANCZOS), (c * (tile + 8), r * (tile + 8)))
sheet.save(target, quality=88)
print(f"wrote {target}")
PY
"$PY" tools/person_mask_eval.py --bin "$STYLIZE" --model "$MODEL" -- --style "$STYLE"

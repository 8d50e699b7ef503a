#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Ships weights measured during training:
#   scripts/ship-weights.sh full|lite RUN ITERATION [ITERATION...]
# exports RUN/heldout/decoder-<ITERATION>.safetensors (the copy the held-out evaluation at that
# iteration kept; pick it from RUN/heldout.csv; its header says which network) as fp16 into
# models/decoder.safetensors (full) or models/lite.safetensors (lite); with several iterations,
# the mean of their copies (`adain-train export --average-with`), and the last one given is the
# run's point the shipped losses and figures end at. It measures the shipped file on every
# held-out pair (fp32) with the grid models/<decoder|lite>-cpu/heldout-grid.jpg, and copies the
# run's settings (paths relative), its losses up to that iteration, its held-out figures and its
# loss plot (the whole run so far, when the run wrote one) into that folder. The figures, the
# sha256 and the curve in models/README.md are written by hand from what it prints.
set -euo pipefail
cd "$(dirname "$0")/.."
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
[[ $# -ge 3 ]] || { sed -n 3,13p "$0" >&2; exit 2; }
MODEL=$1 RUN=$2
shift 2
ITERS=("$@")
ITER=${ITERS[-1]}
case $MODEL in
  full) FILE=models/decoder.safetensors OUT=models/decoder-cpu ;;
  lite) FILE=models/lite.safetensors OUT=models/lite-cpu ;;
  *) echo "the network is full or lite, not $MODEL" >&2; exit 2 ;;
esac
kept() { printf '%s/heldout/decoder-%07d.safetensors' "$RUN" "$1"; }
KEPT=$(kept "$ITER")
AVERAGE=()
for i in "${ITERS[@]}"; do
  [[ -f $(kept "$i") ]] ||
    { echo "no $(kept "$i"): $RUN/heldout.csv lists the evaluated iterations" >&2; exit 1; }
  [[ $i == "$ITER" ]] || AVERAGE+=(--average-with "$(kept "$i")")
done
TRAIN=target/release/adain-train
[[ -x $TRAIN ]] || cargo build --release -p adainstyle-trainer
mkdir -p "$OUT"
HELDOUT=$ADAINSTYLE_HOME/data/heldout
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$TRAIN" export --half "$KEPT" "$FILE" "${AVERAGE[@]}"
"$TRAIN" eval --decoder "$FILE" --device cpu \
  --content-dir "$HELDOUT/content" --style-dir "$HELDOUT/style" --grid "$TMP/grid.png"
"$ADAINSTYLE_PYTHON" - "$RUN" "$ITER" "$OUT" "$TMP/grid.png" "$ADAINSTYLE_HOME" "$PWD" <<'PY'
import csv, json, sys
from PIL import Image
run, upto, out, grid, home, repo = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
Image.open(grid).convert("RGB").save(f"{out}/heldout-grid.jpg", quality=88)
config = json.load(open(f"{run}/config.json"))
for key, value in config.items():
    if isinstance(value, str):
        for prefix in (repo + "/", home + "/"):
            if value.startswith(prefix):
                config[key] = value[len(prefix):]
if config.get("init_decoder"):
    config["init_decoder"] = "previous chunk's decoder (see README)"
config["max_minutes"] = None
with open(f"{out}/config.json", "w") as f:
    json.dump(config, f, indent=2)
with open(f"{run}/losses.csv") as src, open(f"{out}/losses.csv", "w", newline="") as dst:
    rows = csv.reader(src)
    w = csv.writer(dst, lineterminator="\n")
    w.writerow(next(rows))
    w.writerows(r for r in rows if int(r[0]) < upto)
PY
# The plot is written when a run ends; a run stopped by a kill has none (and an older one would
# not match the losses shipped).
if [[ -f $RUN/losses.png ]]; then
  cp "$RUN/losses.png" "$OUT/losses.png"
else
  rm -f "$OUT/losses.png"
  echo "no $RUN/losses.png (the run was killed before it ended): none shipped" >&2
fi
awk -F, -v upto="$ITER" 'NR == 1 || $1 <= upto' "$RUN/heldout.csv" > "$OUT/heldout.csv"
if grep -rlF -e "$HOME" -e "$PWD" "$OUT"; then echo "machine paths left in $OUT" >&2; exit 1; fi
sha256sum "$FILE"
ls -l "$FILE"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The element's own cost: for each network and frame size, the network alone through the library
# (`bench --mode model`) and the element in a pipeline (`bench --mode element`, default
# properties: temporal smoothing 0.5) run alternately REPS times in fresh processes, so that the
# machine's drift touches both alike. Prints one markdown row per network and size: the median
# over the repetitions of each run's median ms per frame, the median of the paired ratios
# element / network, and the element's stage breakdown (median ms per frame of each stage, from
# adainstyle::profile, the spans the element itself records).
#
#   scripts/element-bench.sh [--reps 5] [--precision fp32] [--frames N] [--cases "lite:640x360 ..."]
#       [--out FILE.jsonl]   (BENCH_BIN=path/to/bench measures another build)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$ROOT/target/release/examples/bench}
REPS=5
PRECISION=fp32
FRAMES=""
CASES="lite:640x360 lite:1280x720 lite:1920x1080 full:640x360"
OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2;;
    --precision) PRECISION=$2; shift 2;;
    --frames) FRAMES=$2; shift 2;;
    --cases) CASES=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
[ -x "$BIN" ] || { echo "build first: cargo build --release --example bench" >&2; exit 1; }
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
OUT=${OUT:-$(mktemp --suffix=.jsonl)}
: > "$OUT"
for rep in $(seq "$REPS"); do
  for case in $CASES; do
    model=${case%%:*} size=${case#*:}
    w=${size%x*} h=${size#*x}
    if [ -n "$FRAMES" ]; then n=$FRAMES
    elif [ "$model" = full ]; then n=8
    elif [ $((w * h)) -le 230400 ]; then n=30
    elif [ $((w * h)) -le 921600 ]; then n=12
    else n=6; fi
    # Alternate which runs first, so that neither always follows the other.
    modes="model element"; [ $((rep % 2)) = 0 ] && modes="element model"
    for mode in $modes; do
      line=$("$BIN" --mode "$mode" --model "$model" --width "$w" --height "$h" --device cpu \
        --precision "$PRECISION" --frames "$n" --warmup 3 2>/dev/null | tail -1)
      echo "{\"rep\": $rep, \"run\": $line}" >> "$OUT"
    done
  done
done
"$ADAINSTYLE_PYTHON" - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cases = {}
for r in rows:
    run = r["run"]
    key = (run["model"], run["width"], run["height"], run["precision"])
    cases.setdefault(key, {}).setdefault(r["rep"], {})[run["impl"]] = run
print("| network | size | precision | network ms | element ms | element / network | element stages (ms) |")
print("|---|---|---|---:|---:|---:|---|")
for (model, w, h, p), reps in cases.items():
    pairs = [v for v in reps.values() if "model" in v and "element" in v]
    net = [v["model"]["ms"] for v in pairs]
    el = [v["element"]["ms"] for v in pairs]
    ratio = [v["element"]["ms"] / v["model"]["ms"] for v in pairs]
    # Builds from before the stage timings print none.
    names = pairs[0]["element"].get("stages", {}).keys() if pairs else []
    med = lambda n: statistics.median(v["element"]["stages"][n] for v in pairs)
    stages = ", ".join(f"{n} {med(n):.1f}" for n in names if n != "frame" and med(n) >= 0.05)
    print(f"| {model} | {w}x{h} | {p} | {statistics.median(net):.1f} ({min(net):.1f}-{max(net):.1f}) | "
          f"{statistics.median(el):.1f} ({min(el):.1f}-{max(el):.1f}) | {statistics.median(ratio):.2f} "
          f"({min(ratio):.2f}-{max(ratio):.2f}) | {stages} |")
print(f"\n{len(rows) // 2} pairs; raw runs in {sys.argv[1]}")
PY

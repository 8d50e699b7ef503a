#!/usr/bin/env bash
# `make bench` and the GPU bundle's benchmark: for each device present and each frame size,
# measures (a) the model alone through the library, (b) the element in a pipeline and (c) the
# PyTorch eager reference (bench/reference.py), each in a fresh process, and prints one markdown
# table per device with the ratio (b)/(c) measured in the same run.
#
#   scripts/bench.sh [--bin DIR] [--python PY] [--devices "cpu cuda"] [--frames N] [--out FILE.jsonl]
#
# DIR holds the `bench` binary (default target/release/examples); PY is a Python with torch 2.11.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/examples
PY=${ADAINSTYLE_PYTHON:-}
DEVICES=""
FRAMES=""
OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --bin) BIN=$2; shift 2;;
    --python) PY=$2; shift 2;;
    --devices) DEVICES=$2; shift 2;;
    --frames) FRAMES=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
if [ -z "$PY" ]; then
  source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
  PY=$ADAINSTYLE_PYTHON
fi
if [ -z "$DEVICES" ]; then
  DEVICES=cpu
  "$PY" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && DEVICES="cpu cuda"
fi
OUT=${OUT:-$(mktemp --suffix=.jsonl)}
: > "$OUT"

run() { # label, command...
  local line
  if line=$("${@:2}" 2>/tmp/adainstyle-bench.err | tail -1) && [ -n "$line" ]; then
    echo "$line" | tee -a "$OUT"
  else
    echo "FAILED: $1: $(tail -3 /tmp/adainstyle-bench.err)" >&2
  fi
}

for device in $DEVICES; do
  if [ "$device" = cpu ]; then
    sizes="256x256 512x512 1280x720"; frames=${FRAMES:-4}; precisions="fp32"
  else
    sizes="512x512 1280x720 1920x1080"; frames=${FRAMES:-50}; precisions="fp32 fp16"
  fi
  for size in $sizes; do
    w=${size%x*} h=${size#*x}
    for p in $precisions; do
      half=(); [ "$p" = fp16 ] && half=(--half)
      for mode in model element; do
        run "$mode $device $p $size" "$BIN/bench" --mode "$mode" --width "$w" --height "$h" \
          --device "$device" "${half[@]}" --frames "$frames"
      done
    done
    run "reference $device $size" "$PY" "$ROOT/bench/reference.py" --width "$w" --height "$h" \
      --device "$device" --frames "$frames"
  done
done

"$PY" "$ROOT/bench/table.py" "$OUT"

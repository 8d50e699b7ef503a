#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make bench` and the GPU bundle's benchmark: for each device present, frame size, precision
# (CPU: fp32 and bf16; CUDA: fp32 and fp16) and network (full and lite) measures (a) the model
# alone through the library, (b) the element in a pipeline (with its default temporal smoothing)
# and (c) for the full model the PyTorch eager reference (bench/reference.py; autocast for the
# lower precision), each in a fresh process, and prints one markdown table per device with
# medians, minimums and the ratios to the reference of the same run. MODELS="full lite" can be
# narrowed in the environment; the lite rows need models/lite.safetensors.
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
MODELS=${MODELS:-"full lite"}
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
ERR=$(mktemp --suffix=.err)
trap 'rm -f "$ERR"' EXIT
: > "$OUT"

run() { # label, command...
  local line
  if line=$("${@:2}" 2>"$ERR" | tail -1) && [ -n "$line" ]; then
    echo "$line" | tee -a "$OUT"
  else
    echo "FAILED: $1: $(tail -3 "$ERR")" >&2
  fi
}

for device in $DEVICES; do
  if [ "$device" = cpu ]; then
    sizes="256x256 512x512 640x360 1280x720"; precisions="fp32 bf16"
  else
    sizes="512x512 1280x720 1920x1080"; precisions="fp32 fp16"
  fi
  for size in $sizes; do
    w=${size%x*} h=${size#*x}
    # Enough frames per row for a stable median on a noisy machine, fewer for the slow sizes.
    if [ -n "$FRAMES" ]; then frames=$FRAMES
    elif [ "$device" = cuda ]; then frames=50
    elif [ $((w * h)) -le 65536 ]; then frames=20
    elif [ $((w * h)) -le 262144 ]; then frames=9
    else frames=5; fi
    for p in $precisions; do
      for model in $MODELS; do
        # The light network is about 20 times cheaper: more frames for the same clarity.
        n=$frames; [ "$model" = lite ] && [ -z "$FRAMES" ] && n=$((frames * 4))
        for mode in model element; do
          run "$mode $model $device $p $size" "$BIN/bench" --mode "$mode" --model "$model" \
            --width "$w" --height "$h" --device "$device" --precision "$p" --frames "$n"
        done
      done
      run "reference $device $p $size" "$PY" "$ROOT/bench/reference.py" --width "$w" \
        --height "$h" --device "$device" --precision "$p" --frames "$frames"
    done
  done
done

"$PY" "$ROOT/bench/table.py" "$OUT"

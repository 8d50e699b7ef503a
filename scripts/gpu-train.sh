#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu-train.sh — train the shipped decoder on a machine with a GPU and torch, but no toolchain.
#
# Usage: scripts/gpu-train.sh BUNDLE_DIR MINUTES
#
# Runs the prebuilt, stripped BUNDLE_DIR/bin/adain-train against the libtorch of the machine's
# Python torch 2.11.0 (LD_LIBRARY_PATH points at torch's lib folder; no cargo, GStreamer or
# registry needed), on the packed data BUNDLE_DIR/data.tar (scripts/fetch-data.sh --pack: 256-px
# crops in content/, style/, heldout/{content,style}/), with mixed precision, batch 8 and 256-px
# crops, for MINUTES of wall-clock training. Then it exports the decoder, measures it on the
# held-out pairs, and prints a short table last.
#
# The encoder travels with the repository: models/vgg19-normalised.safetensors next to this
# script's folder (or BUNDLE_DIR/models/ if the bundle carries one).
#
# Scratch (WORK_DIR, default BUNDLE_DIR/work): the unpacked data and the run directory with its
# full checkpoint (run again with the same WORK_DIR to continue the run).
# Results, small files only (OUT_DIR, default BUNDLE_DIR/out):
#   decoder.safetensors  the exported decoder (fp32, pytorch-AdaIN keys)
#   config.json losses.csv losses.png  the run's settings and loss log/plot
#   heldout-grid.png     content | style | output on held-out pairs; last-sample.png
#   train.log eval.txt report.txt
#
# Environment: PYTHON (interpreter with torch; default python3, then
# $ADAINSTYLE_HOME/venv/bin/python), DEVICE (cuda), AMP (1), BATCH (8), CROP (256),
# RESIZE (256, the pack's side), ITERATIONS (160000, the cap), WORKERS (CPU cores - 2, >= 2),
# SEED (0), WORK_DIR, OUT_DIR, ENCODER, EXTRA_ARGS (more adain-train flags).
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
if [[ $# -ne 2 || "$1" == -h || "$1" == --help ]]; then
    usage
    [[ $# -eq 1 && ( "$1" == -h || "$1" == --help ) ]] && exit 0
    exit 2
fi
BUNDLE=$(cd "$1" && pwd)
MINUTES=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '[gpu-train] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ "$MINUTES" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "MINUTES must be a number, got '$MINUTES'"
BIN=$BUNDLE/bin/adain-train
[[ -x "$BIN" ]] || die "$BIN is missing or not executable"
DATA_TAR=${DATA_TAR:-$BUNDLE/data.tar}
[[ -f "$DATA_TAR" ]] || die "$DATA_TAR is missing (make it with scripts/fetch-data.sh --pack)"
ENCODER=${ENCODER:-}
if [[ -z "$ENCODER" ]]; then
    for candidate in "$BUNDLE/models/vgg19-normalised.safetensors" \
                     "$ROOT/models/vgg19-normalised.safetensors"; do
        [[ -f "$candidate" ]] && { ENCODER=$candidate; break; }
    done
fi
[[ -n "$ENCODER" && -f "$ENCODER" ]] || die "encoder models/vgg19-normalised.safetensors not found"
OUT=${OUT_DIR:-$BUNDLE/out}
WORK=${WORK_DIR:-$BUNDLE/work}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-8}
CROP=${CROP:-256}
RESIZE=${RESIZE:-256}
ITERATIONS=${ITERATIONS:-160000}
SEED=${SEED:-0}
cores=$(nproc 2>/dev/null || echo 4)
WORKERS=${WORKERS:-$(( cores > 4 ? cores - 2 : 2 ))}

# 1. libtorch from the machine's Python torch.
TORCH_DIR=""
for py in ${PYTHON:-} python3 "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/venv/bin/python"; do
    command -v "$py" >/dev/null 2>&1 || continue
    TORCH_DIR=$("$py" -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null) && break
    TORCH_DIR=""
done
[[ -n "$TORCH_DIR" && -d "$TORCH_DIR/lib" ]] || die "no Python with torch found (set PYTHON)"
export LD_LIBRARY_PATH="$TORCH_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "libtorch: $TORCH_DIR/lib"
"$BIN" --version >/dev/null || die "$BIN does not start (missing libraries?): see the message above"

# 2. Data: unpack once per tar.
mkdir -p "$OUT" "$WORK"
DATA=$WORK/data
stamp="$(stat -c '%s %Y' "$DATA_TAR")"
if [[ ! -f "$DATA/.unpacked" || "$(cat "$DATA/.unpacked")" != "$stamp" ]]; then
    say "unpacking $DATA_TAR"
    rm -rf "$DATA" && mkdir -p "$DATA"
    tar -xf "$DATA_TAR" -C "$DATA"
    echo "$stamp" > "$DATA/.unpacked"
fi
heldout=$(find "$DATA" -type d -name heldout -print -quit)
base=${heldout:+$(dirname "$heldout")}
if [[ -z "$base" ]]; then
    content=$(find "$DATA" -type d -name content -print -quit)
    base=${content:+$(dirname "$content")}
fi
[[ -n "$base" && -d "$base/content" && -d "$base/style" ]] || die "$DATA_TAR has no content/ and style/ folders"

# 3. Train for the budget.
RUN=$WORK/run
amp_flag=(--precision fp16)
[[ "${AMP:-1}" == 1 ]] || amp_flag=(--precision fp32)
heldout_flag=()
[[ -d "$base/heldout/content" && -d "$base/heldout/style" ]] && heldout_flag=(--heldout-dir "$base/heldout")
if [[ -f "$RUN/checkpoint.safetensors" ]]; then
    say "continuing the run in $RUN"
    train_args=(train --resume "$RUN")
else
    train_args=(train --run-dir "$RUN" --content-dir "$base/content" --style-dir "$base/style"
                --encoder "$ENCODER" --batch-size "$BATCH" --crop "$CROP" --resize "$RESIZE"
                --seed "$SEED")
fi
train_args+=(--device "$DEVICE" "${amp_flag[@]}" --iterations "$ITERATIONS" --max-minutes "$MINUTES"
             --workers "$WORKERS" --save-every 1000 --sample-every 1000 --log-every 200
             "${heldout_flag[@]}")
# shellcheck disable=SC2206
extra=(${EXTRA_ARGS:-})
say "training for $MINUTES min: $BIN ${train_args[*]} ${extra[*]}"
start=$(date +%s)
"$BIN" "${train_args[@]}" "${extra[@]}" 2>&1 | tee "$OUT/train.log"
wall=$(( $(date +%s) - start ))

# 4. Export and measure.
"$BIN" export "$RUN" "$OUT/decoder.safetensors" | tee -a "$OUT/train.log"
eval_device=$DEVICE
heldout_content=${heldout_flag:+$base/heldout/content}
heldout_style=${heldout_flag:+$base/heldout/style}
if [[ -z "$heldout_content" ]]; then
    say "no heldout/ in the pack: measuring on the training folders"
    heldout_content=$base/content heldout_style=$base/style
fi
"$BIN" eval --decoder "$OUT/decoder.safetensors" --encoder "$ENCODER" \
    --content-dir "$heldout_content" --style-dir "$heldout_style" \
    --device "$eval_device" --grid "$OUT/heldout-grid.png" > "$OUT/eval.txt"

cp "$RUN/config.json" "$RUN/losses.csv" "$OUT/"
[[ -f "$RUN/losses.png" ]] && cp "$RUN/losses.png" "$OUT/"
last_sample=$(ls "$RUN"/samples/*.png 2>/dev/null | tail -1 || true)
[[ -n "$last_sample" ]] && cp "$last_sample" "$OUT/last-sample.png"

# 5. The table (last thing printed).
awk -F, -v wall="$wall" -v batch="$BATCH" -v crop="$CROP" -v device="$DEVICE" \
    -v amp="${AMP:-1}" -v gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" '
    NR > 1 { n++; it = $1 + 1; secs = $6; c[n] = $3; s[n] = $4; t[n] = $5 }
    END {
        k = (n < 100 ? n : 100); sc = ss = st = 0
        for (i = n - k + 1; i <= n; i++) { sc += c[i]; ss += s[i]; st += t[i] }
        printf "iterations        %d\n", it
        printf "batch x crop      %d x %d px\n", batch, crop
        printf "device            %s%s%s\n", device, (gpu != "" ? " (" gpu ")" : ""), (amp == 1 && device ~ /^cuda/ ? ", fp16 autocast" : "")
        printf "training time     %.1f s (%.4f s/it); script wall %d s\n", secs, (it ? secs / it : 0), wall
        printf "train loss (last %d it)  content %.4f  style %.4f  total %.4f\n", k, sc / k, ss / k, st / k
    }' "$RUN/losses.csv" > "$OUT/report.txt"
{
    grep -E '^pairs' "$OUT/eval.txt" | sed 's/^pairs */held-out pairs    /'
    grep -E '^content_loss' "$OUT/eval.txt" | sed 's/^content_loss */held-out content  /'
    grep -E '^style_loss' "$OUT/eval.txt" | sed 's/^style_loss */held-out style    /'
    echo "decoder           $OUT/decoder.safetensors"
} >> "$OUT/report.txt"
echo
cat "$OUT/report.txt"

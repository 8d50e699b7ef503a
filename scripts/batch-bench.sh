#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The batch driver (batch/) on this machine, on a Ray cluster of one-CPU nodes on loopback (in a
# network and PID namespace of its own, so it needs root): prints the two tables of BENCHMARKS.md.
#   seams  the demo clip stylised in one process, and by adainstyle-batch cut into segments of
#          SEAM_SEGMENT seconds (default 0.9: a cut every second keyframe) with neither warm-up
#          nor cool-down, with WARMUP seconds of warm-up (default 1), and with that warm-up and
#          COOLDOWN seconds of cool-down (default 1); the warping error at the seams against the
#          rest of the clip (tools/join_seams.py, frames at 384x216), with its 95 % bootstrap
#          interval and where each seam pair ranks among the clip's other pairs.
#   scale  frames/s of one job over COPIES (default 2) copies of the clip on 1 and 2 nodes, cut
#          into segments of SCALE_SEGMENT seconds (default 3), and of stylize-file alone on one
#          thread.
# PARTS (default "seams scale") picks the tables. Network options: OPTS (default: the network
# model=auto picks, at processing-size 256 in bf16; add --bitrate N to change x264's 4000 kbit/s,
# for the one-process runs too). Installs opencv-python-headless into the project venv if missing
# (tools/warp_error.py needs it).
#
#   scripts/batch-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
PY=$ADAINSTYLE_PYTHON
BIN=$PWD/target/release/examples
CLIP=$ADAINSTYLE_HOME/data/cityCC0.mpg
SEAM_SEGMENT=${SEAM_SEGMENT:-0.9}
SCALE_SEGMENT=${SCALE_SEGMENT:-3}
WARMUP=${WARMUP:-1}
COOLDOWN=${COOLDOWN:-1}
COPIES=${COPIES:-2}
PARTS=${PARTS:-seams scale}
read -r -a NET <<< "${OPTS:---processing-size 256 --precision bf16 --device cpu}"
OUT=$PWD/out/batch-bench
export PYTHONPATH=$PWD/batch
for b in stylize-file video-index join-segments; do
  [ -x "$BIN/$b" ] || { echo "build first: cargo build --release --examples" >&2; exit 1; }
done
"$PY" -c 'import cv2' 2>/dev/null ||
  "$PY" -m pip install -q --disable-pip-version-check "opencv-python-headless==4.12.0.88"
rm -rf "$OUT" && mkdir -p "$OUT"

# Runs adainstyle-batch on a loopback cluster of $1 nodes; the rest are its arguments.
batch() {
  local nodes=$1
  shift
  unshare -n -p -f --mount-proc --kill-child \
    "$PY" -m adainstyle_batch.loopback --nodes "$nodes" --cpus 1 -- \
    "$PY" -m adainstyle_batch.cli --bin-dir "$BIN" --progress-every 30 "${NET[@]}" "$@"
}
# Decodes $1 into numbered PNGs at 384x216 in $2.
frames() {
  mkdir -p "$2"
  gst-launch-1.0 -q filesrc location="$1" ! decodebin ! videoconvert ! videoscale ! \
    video/x-raw,format=RGB,width=384,height=216 ! pngenc ! \
    multifilesink location="$2/%05d.png" >/dev/null
}
# Frames/s of a job from its summary line.
fps() { sed -n 's/.*frames stylised in .* s (\(.*\) frames\/s).*/\1/p' "$1" | tail -1; }

# Seams.
if [[ " $PARTS " == *" seams "* ]]; then
frames "$CLIP" "$OUT/in"
"$BIN/stylize-file" "$CLIP" "$OUT/whole.mp4" "${NET[@]}" --threads 2 > "$OUT/whole.log"
frames "$OUT/whole.mp4" "$OUT/whole"
seams=$("$PY" - "$BIN" "$CLIP" "$SEAM_SEGMENT" "$WARMUP" <<'PY'
import json, subprocess, sys
from adainstyle_batch import plan
bin_dir, clip, segment, warmup = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
ix = json.loads(subprocess.check_output([f"{bin_dir}/video-index", clip]))
pts = sorted(ix["pts_ns"])
print(",".join(str(pts.index(plan.first_frame_ns(ix, s)))
               for s in plan.plan(ix, segment, warmup)[1:]))
PY
)
echo "segments begin at frames $seams"
echo "| run | warm-up | cool-down | seam pairs | warping-error ratio at the seams | elsewhere | seams / elsewhere | 95 % interval | seams' ranks among the other pairs |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
row() {
  "$PY" tools/join_seams.py "$OUT/in" "$OUT/$1" --seams "$seams" | "$PY" -c "
import json, sys
r = json.load(sys.stdin)
lo, hi = r['seam_over_rest_95']
ranks = ' '.join(f'{p:.2f}' for p in sorted(r['seam_percentiles']))
print(f\"| $2 | $3 | $4 | {r['seam_pairs']} | {r['seam_ratio']:.3f} | {r['rest_ratio']:.3f} | {r['seam_over_rest']:.3f} | {lo:.2f}-{hi:.2f} | {ranks} |\")"
}
row whole "one process (no seams)" "-" "-"
for wc in "0 0" "$WARMUP 0" "$WARMUP $COOLDOWN"; do
  read -r w c <<< "$wc"
  batch 2 "$CLIP" --output "$OUT/w$w-c$c" --segment-seconds "$SEAM_SEGMENT" \
    --warmup-seconds "$w" --cooldown-seconds "$c" > "$OUT/w$w-c$c.log"
  frames "$OUT/w$w-c$c/cityCC0.mp4" "$OUT/w$w-c$c/frames"
  row "w$w-c$c/frames" "adainstyle-batch, 2 nodes" "$w s" "$c s"
done
fi


# Scale.
if [[ " $PARTS " == *" scale "* ]]; then
mkdir -p "$OUT/many"
for i in $(seq "$COPIES"); do ln -sf "$CLIP" "$OUT/many/city-$i.mpg"; done
frames_one=$("$BIN/video-index" "$CLIP" | "$PY" -c 'import json,sys;print(json.load(sys.stdin)["frames"])')
frames_total=$(( COPIES * frames_one ))
start=$(date +%s.%N)
"$BIN/stylize-file" "$CLIP" "$OUT/one-thread.mp4" "${NET[@]}" --threads 1 > "$OUT/one-thread.log"
single=$("$PY" -c "import sys; print(f'{$frames_one / ($(date +%s.%N) - $start):.2f}')")
echo
echo "| run | nodes x CPUs | frames | frames/s |"
echo "|---|---|---:|---:|"
echo "| stylize-file, one process, 1 thread | 1 x 1 | $frames_one | $single |"
for n in 1 2; do
  batch "$n" "$OUT/many" --output "$OUT/scale$n" --segment-seconds "$SCALE_SEGMENT" \
    --warmup-seconds "$WARMUP" --cooldown-seconds "$COOLDOWN" > "$OUT/scale$n.log"
  echo "| adainstyle-batch, $COPIES files | $n x 1 | $frames_total | $(fps "$OUT/scale$n.log") |"
done
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

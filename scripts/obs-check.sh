#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make obs-check` (opt-in, not part of `make test`): OBS Studio itself plays the stylised stream.
# Installs obs-studio and xvfb (Debian) and websockets (PyPI, into the venv) when missing, starts
# the `live` example serving SRT, starts OBS headless under Xvfb with its websocket API on,
# creates a scene with a Media Source on the stream through that API, and takes a screenshot of
# the source (tools/obs_check.py): docs/obs-media-source.png when it shows stylised frames.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/obs-config.sh
SRT_PORT=${SRT_PORT:-18888}
WS_PORT=${WS_PORT:-14455}
DISPLAY_NO=${DISPLAY_NO:-97}
OUT=${OUT:-docs/obs-media-source.png}

ADAINSTYLE_EXTRA_DEB="obs-studio xvfb" bash scripts/setup.sh
"$PY" -c 'import websockets' 2>/dev/null ||
  "$PY" -m pip install -q --disable-pip-version-check "websockets==15.0.1"
[ -x target/release/examples/live ] || { echo "run make build first" >&2; exit 1; }

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The stream: the first frame of the demo clip (CC0), stylised live, styles changing every 4 s.
gst-launch-1.0 -q filesrc location="$HOME_DIR/data/cityCC0.mpg" ! decodebin ! \
  identity eos-after=1 ! videoconvert ! pngenc ! filesink location="$WORK/city.png" >/dev/null
target/release/examples/live --source "image:$WORK/city.png" --sink "srt://127.0.0.1:$SRT_PORT" \
  --width 640 --height 360 --switch-every 4 > "$WORK/live.log" 2>&1 &
pids+=($!)

obs_private_config "$WORK/home" "$WS_PORT"
Xvfb ":$DISPLAY_NO" -screen 0 1280x720x24 -nolisten tcp > "$WORK/xvfb.log" 2>&1 &
pids+=($!)
sleep 2
HOME="$WORK/home" DISPLAY=":$DISPLAY_NO" LIBGL_ALWAYS_SOFTWARE=1 \
  obs --disable-shutdown-check --multi > "$WORK/obs.log" 2>&1 &
pids+=($!)

if "$PY" tools/obs_check.py --url "srt://127.0.0.1:$SRT_PORT" --port "$WS_PORT" --out "$OUT" \
    --reference "$WORK/city.png"; then
  echo "[obs-check] OBS shows stylised frames: $OUT"
else
  echo "[obs-check] FAILED; OBS log:" >&2
  tail -30 "$WORK/obs.log" >&2
  exit 1
fi

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make obs-filter-check` (opt-in, not part of `make test`): the OBS module's filter, tested in
# OBS Studio itself. Installs obs-studio and xvfb (Debian) and websockets (PyPI, into the venv)
# when missing, builds the module, installs it into a private OBS configuration's plugin folder,
# and, in a network namespace of its own (OBS's websocket server listens on every interface),
# starts Xvfb and OBS headless and runs tools/obs_filter_check.py against it through the
# websocket API. OBS_SHOT=docs/obs-filter.png also saves OBS's window with the filters dialog
# open; OBS_STATS=1 also measures OBS's render time with the filter at 1280x720.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/obs-config.sh
WS_PORT=${WS_PORT:-14456}
DISPLAY_NO=${DISPLAY_NO:-98}

ADAINSTYLE_EXTRA_DEB="obs-studio xvfb iproute2" bash scripts/setup.sh
"$PY" -c 'import websockets, Xlib' 2>/dev/null ||
  "$PY" -m pip install -q --disable-pip-version-check "websockets==15.0.1" "python-xlib==0.33"
true
cargo build --release --example stylize-image

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PLUGIN="$WORK/home/.config/obs-studio/plugins/adainstyle-obs"
bash scripts/obs-plugin.sh "$PLUGIN" >/dev/null
obs_private_config "$WORK/home" "$WS_PORT"

# The inputs: the astronaut (public domain) as PNG, the library's output for it with the settings
# the check gives the filter, a 1280x720 copy for OBS's figures, the demo clip (CC0).
"$PY" - "$WORK" <<'PY'
import sys
from PIL import Image
work = sys.argv[1]
im = Image.open("tests/data/people/astronaut.jpg").convert("RGB")
im.save(f"{work}/photo.png")
canvas = Image.new("RGB", (1280, 720), (40, 40, 48))
canvas.paste(im.resize((720, 720)), (280, 0))
canvas.save(f"{work}/photo-720p.png")
PY
# The second style by a path relative to OBS's working folder ($WORK), as a user may give it.
cp styles/night-cafe.jpg "$WORK/"
target/release/examples/stylize-image "$WORK/photo.png" -o "$WORK/reference.png" --model lite >/dev/null

args=(--port "$WS_PORT" --photo "$WORK/photo.png" --reference "$WORK/reference.png"
      --other-style night-cafe.jpg --clip "$HOME_DIR/data/cityCC0.mpg"
      --log-dir "$WORK/home/.config/obs-studio/logs" --quit)
[ -n "${OBS_SHOT:-}" ] && args+=(--window-shot "$PWD/$OBS_SHOT")
[ -n "${OBS_STATS:-}" ] && args+=(--stats-photo "$WORK/photo-720p.png")

# Everything below runs in a network namespace with only loopback.
export WORK PY DISPLAY_NO
unshare -n bash -c '
  set -euo pipefail
  ip link set lo up
  Xvfb ":$DISPLAY_NO" -screen 0 1280x800x24 -nolisten tcp > "$WORK/xvfb.log" 2>&1 &
  xvfb=$!
  sleep 2
  (cd "$WORK" && HOME="$WORK/home" DISPLAY=":$DISPLAY_NO" LIBGL_ALWAYS_SOFTWARE=1 \
     exec obs --disable-shutdown-check --multi > "$WORK/obs.log" 2>&1) &
  obs=$!
  status=0
  DISPLAY=":$DISPLAY_NO" "$PY" tools/obs_filter_check.py "$@" || status=$?
  # The check closed OBS'"'"'s window: OBS must end by itself, cleanly, within 60 s.
  ended=0
  for _ in $(seq 60); do kill -0 "$obs" 2>/dev/null || { ended=1; break; }; sleep 1; done
  if [ "$ended" = 1 ]; then
    wait "$obs" && obs_status=0 || obs_status=$?
    if [ "$obs_status" != 0 ] || ! grep -q "Freeing OBS context data" "$WORK/obs.log"; then
      echo "[obs-filter-check] OBS did not end cleanly (exit $obs_status)" >&2; status=1
    fi
  else
    echo "[obs-filter-check] OBS did not quit within 60 s of its window closing" >&2
    kill -KILL "$obs" 2>/dev/null || true; status=1
  fi
  kill "$xvfb" 2>/dev/null || true
  if [ "$status" != 0 ]; then
    echo "[obs-filter-check] FAILED; the end of OBS log:" >&2
    tail -40 "$WORK/obs.log" >&2
  fi
  exit "$status"
' _ "${args[@]}"
echo "[obs-filter-check] OK"

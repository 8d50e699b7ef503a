#!/usr/bin/env bash
# `make meson-check`: meson setup, compile and install into a temporary prefix, then check that
# gst-inspect-1.0 loads the installed plugin and that the element finds its installed models.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cd "$ROOT"
rm -rf build-meson
meson setup build-meson --prefix "$prefix" -Dplugins_dir="$prefix/lib/gstreamer-1.0" >/dev/null
meson compile -C build-meson
meson install -C build-meson >/dev/null
GST_PLUGIN_PATH="$prefix/lib/gstreamer-1.0" gst-inspect-1.0 adainstyle | grep -E "decoder|encoder" -A3 | grep Default
# Run from another folder so nothing is found through the source tree by accident.
cd "$prefix"
GST_PLUGIN_PATH="$prefix/lib/gstreamer-1.0" gst-launch-1.0 -q videotestsrc num-buffers=2 ! \
  video/x-raw,format=RGB,width=32,height=32 ! adainstyle device=cpu ! fakesink
echo "meson install into $prefix: OK"

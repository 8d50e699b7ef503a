#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
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
defaults=$(GST_PLUGIN_PATH="$prefix/lib/gstreamer-1.0" gst-inspect-1.0 adainstyle \
  | grep -E "^  (decoder|encoder|style) " -A3 | grep Default)
echo "$defaults"
# The installed plugin must point at the installed data, never at this source tree.
if grep -v -q -F "$prefix/share/adainstyle" <<<"$defaults" || grep -q -F "$ROOT" <<<"$defaults"; then
  echo "meson-check: the installed plugin's defaults are not all under $prefix/share/adainstyle" >&2
  exit 1
fi
if strings "$prefix/lib/gstreamer-1.0/libgstadainstyle.so" | grep -q -F "$ROOT/models"; then
  echo "meson-check: the installed plugin embeds the source tree's path" >&2
  exit 1
fi
# Run from another folder, with the source tree's models out of reach of any fallback.
cd "$prefix"
GST_PLUGIN_PATH="$prefix/lib/gstreamer-1.0" gst-launch-1.0 -q videotestsrc num-buffers=2 ! \
  video/x-raw,format=RGB,width=32,height=32 ! adainstyle device=cpu ! fakesink
# The person segmenter is installed beside the networks.
GST_PLUGIN_PATH="$prefix/lib/gstreamer-1.0" gst-launch-1.0 -q videotestsrc num-buffers=2 ! \
  video/x-raw,format=RGB,width=64,height=36 ! adainstyle device=cpu mask=person ! fakesink
echo "meson install into $prefix: OK"

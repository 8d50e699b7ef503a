#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sourced by the GPU scripts: points the prebuilt binaries of gpu-bundle/ at the machine's own
# torch (python3) and at Debian's GStreamer runtime unpacked inside the bundle (never into /).
#   source scripts/gpu-env.sh BUNDLE_DIR
B=$(cd "$1" && pwd)
PY=${PYTHON:-python3}
TORCH_LIB=$("$PY" -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')
GST_ROOT=$B/gst-runtime
if [ ! -f "$GST_ROOT/.unpacked" ]; then
  mkdir -p "$GST_ROOT"
  for deb in "$B"/debs/*.deb; do dpkg-deb -x "$deb" "$GST_ROOT" 2>/dev/null || dpkg -x "$deb" "$GST_ROOT"; done
  touch "$GST_ROOT/.unpacked"
fi
ARCH_LIB=$GST_ROOT/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$TORCH_LIB:$ARCH_LIB:$GST_ROOT/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export GST_PLUGIN_SYSTEM_PATH=$ARCH_LIB/gstreamer-1.0
export GST_PLUGIN_PATH=$B/lib
export GST_PLUGIN_SCANNER=$ARCH_LIB/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner
export GST_REGISTRY=$B/gst-registry.bin
export PATH=$GST_ROOT/usr/bin:$PATH
export ADAINSTYLE_PYTHON=$PY
# Models and styles come from this checkout, wherever it lies on that machine.
export ADAINSTYLE_DATADIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

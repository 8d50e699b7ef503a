#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make obs-plugin`: builds the OBS module (obs/, GPL-2.0-or-later) and installs it into OBS's
# per-user plugin folder (or the folder given), as OBS 29 on Linux looks for it:
#   <folder>/bin/64bit/adainstyle-obs.so
# The module finds the models and styles of this checkout (or ADAINSTYLE_DATADIR) and libtorch
# in the project's venv (an rpath), as the GStreamer plugin built here does.
set -euo pipefail
cd "$(dirname "$0")/.."
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
DEST=${1:-$HOME/.config/obs-studio/plugins/adainstyle-obs}
# A build folder of its own: in target/release, beside libgstadainstyle.so, GStreamer would try
# the module as a plugin whenever GST_PLUGIN_PATH points there (README), and warn.
cargo build --release -p adainstyle-obs --target-dir target/obs
mkdir -p "$DEST/bin/64bit"
install -m 0755 target/obs/release/libadainstyle_obs.so "$DEST/bin/64bit/adainstyle-obs.so.part"
mv -f "$DEST/bin/64bit/adainstyle-obs.so.part" "$DEST/bin/64bit/adainstyle-obs.so"
echo "installed $DEST/bin/64bit/adainstyle-obs.so"

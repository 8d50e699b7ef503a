#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Used by meson.build: builds the plugin in release mode with the install data directory baked in,
# and copies the .so to meson's output path.
# It shares the source tree's target/ with cargo (only the library and the plugin rebuild for the
# baked-in directory), so a meson build after `make build` takes a minute, not a full compile.
#   cargo-build.sh SOURCE_ROOT INSTALL_DATADIR OUTPUT
set -euo pipefail
src=$1 datadir=$2 output=$3
target=${CARGO_TARGET_DIR:-$src/target}
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
export ADAINSTYLE_INSTALL_DATADIR=$datadir
cargo build --release --manifest-path "$src/Cargo.toml" -p gst-plugin-adainstyle --target-dir "$target"
cp "$target/release/libgstadainstyle.so" "$output"

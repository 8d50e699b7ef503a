#!/usr/bin/env bash
# Used by meson.build: builds the plugin in release mode with the install data directory baked in,
# and copies the .so to meson's output path.
#   cargo-build.sh SOURCE_ROOT CARGO_TARGET_DIR INSTALL_DATADIR OUTPUT
set -euo pipefail
src=$1 target=$2 datadir=$3 output=$4
source "${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}/env"
export ADAINSTYLE_INSTALL_DATADIR=$datadir
cargo build --release --manifest-path "$src/Cargo.toml" -p gst-plugin-adainstyle --target-dir "$target"
cp "$target/release/libgstadainstyle.so" "$output"

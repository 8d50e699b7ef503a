# SPDX-License-Identifier: MIT
"""The adainstyle model's layout in pytorch-AdaIN's terms, and a reproducible safetensors writer:
plain Python and NumPy, so the tools that need no PyTorch (tools/adain_np.py) share them with
those that do (tools/adain_ref.py).
"""

from __future__ import annotations

import json

import numpy as np

# Encoder convs: Sequential index -> (in, out, kernel).
ENCODER_CONVS = {0: (3, 3, 1), 2: (3, 64, 3), 5: (64, 64, 3), 9: (64, 128, 3),
                 12: (128, 128, 3), 16: (128, 256, 3), 19: (256, 256, 3),
                 22: (256, 256, 3), 25: (256, 256, 3), 29: (256, 512, 3)}
ENCODER_POOLS = (7, 14, 27)
# Taps: name -> index of the ReLU whose output it is.
TAPS = {"relu1_1": 3, "relu2_1": 10, "relu3_1": 17, "relu4_1": 30}

DECODER_CONVS = {1: (512, 256), 5: (256, 256), 8: (256, 256), 11: (256, 256),
                 14: (256, 128), 18: (128, 128), 21: (128, 64), 25: (64, 64),
                 28: (64, 3)}
DECODER_UPSAMPLES = (3, 16, 23)

# Caffe/ImageNet VGG input convention (BGR order, 0..255, minus these means).
VGG_BGR_MEAN = (103.939, 116.779, 123.68)


def write_safetensors(tensors: dict, path: str, metadata: dict[str, str] | None = None,
                      dtype: str | None = "<f4") -> None:
    """Writes NumPy arrays as safetensors of `dtype` (`<f4` fp32 or `<f2` fp16; None keeps each
    array's own: u8, fp16 or fp32), by hand so that the bytes are reproducible:
    keys sorted and the metadata in sorted order (the `safetensors` package writes metadata in
    hash-map order, which varies from run to run). The format: an 8-byte little-endian header
    length, a JSON header, then the raw little-endian data."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {k: str(metadata[k]) for k in sorted(metadata)}
    blobs, offset = [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k], dtype=dtype)
        a = a.astype(a.dtype.newbyteorder("<"))
        data = a.tobytes()
        kind = {"uint8": "U8", "float16": "F16", "float32": "F32"}[a.dtype.name]
        header[k] = {"dtype": kind, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fh:
        fh.write(len(h).to_bytes(8, "little"))
        fh.write(h)
        for data in blobs:
            fh.write(data)

# SPDX-License-Identifier: MIT
"""A NumPy reference of the adainstyle model's forward pass (pytorch-AdaIN's layout, float64),
independent of libtorch: what tests/model.rs checks the Rust library against, on a machine whose
torch has no CUDA libraries (and so cannot be imported) as well as on any other.

    encode_taps(weights, x)   the encoder's taps of x (C, H, W)
    decode(weights, t)        the decoder's output for relu4_1-shaped t
    adain(content, style)     AdaIN with pytorch-AdaIN's unbiased variance
"""

from __future__ import annotations

import numpy as np

from adain_layout import DECODER_CONVS, DECODER_UPSAMPLES, ENCODER_CONVS, ENCODER_POOLS, TAPS


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A valid (unpadded) 2-D convolution of x (C, H, W) with w (O, C, kh, kw), plus b."""
    o, c, kh, kw = w.shape
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    _, oh, ow = windows.shape[:3]
    cols = windows.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c * kh * kw)
    return (cols @ w.reshape(o, -1).T + b.reshape(1, o)).T.reshape(o, oh, ow)


def reflect_conv(x, w, b):
    """A 3x3 convolution after a 1-pixel reflection pad."""
    return conv(np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect"), w, b)


def max_pool(x: np.ndarray) -> np.ndarray:
    """2x2 max pooling, stride 2, ceil mode (a last odd row or column is pooled alone)."""
    c, h, w = x.shape
    padded = np.full((c, h + h % 2, w + w % 2), -np.inf)
    padded[:, :h, :w] = x
    return padded.reshape(c, padded.shape[1] // 2, 2, padded.shape[2] // 2, 2).max(axis=(2, 4))


def weights_of(tensors: dict, index: int):
    w = np.asarray(tensors[f"{index}.weight"], dtype=np.float64)
    return w, np.asarray(tensors[f"{index}.bias"], dtype=np.float64)


def encode_taps(tensors: dict, x: np.ndarray, taps=TAPS) -> dict:
    """The encoder (Sequential 0..30) on x (C, H, W); the taps asked for, name -> (C, H, W)."""
    want = {idx: name for name, idx in taps.items()}
    out = {}
    x = np.asarray(x, dtype=np.float64)
    for idx in range(31):
        if idx in ENCODER_CONVS:
            w, b = weights_of(tensors, idx)
            x = conv(x, w, b) if ENCODER_CONVS[idx][2] == 1 else reflect_conv(x, w, b)
        elif idx in ENCODER_POOLS:
            x = max_pool(x)
        elif ENCODER_CONVS.get(idx - 1, (0, 0, 1))[2] == 3:
            # The ReLU after each 3x3 convolution (the 1x1 one at 0 has none; index 1 is the
            # reflection pad of conv 2, which reflect_conv does).
            x = np.maximum(x, 0.0)
        if idx in want:
            out[want[idx]] = x
    return out


def decode(tensors: dict, t: np.ndarray) -> np.ndarray:
    """The decoder (Sequential 0..28) on t (512, h, w): reflection-padded 3x3 convolutions, ReLU
    after each but the last, nearest x2 upsampling at 3, 16 and 23."""
    x = np.asarray(t, dtype=np.float64)
    for idx in range(29):
        if idx in DECODER_CONVS:
            x = reflect_conv(x, *weights_of(tensors, idx))
            if idx != 28:
                x = np.maximum(x, 0.0)
        elif idx in DECODER_UPSAMPLES:
            x = x.repeat(2, axis=1).repeat(2, axis=2)
    return x


def mean_std(feat: np.ndarray, eps: float = 1e-5):
    """Per-channel mean and sqrt(unbiased variance + eps) over H, W, shaped (C, 1, 1)."""
    flat = feat.reshape(feat.shape[0], -1)
    return flat.mean(1)[:, None, None], np.sqrt(flat.var(1, ddof=1) + eps)[:, None, None]


def adain(content: np.ndarray, style: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """AdaIN(c, s) = std_s * (c - mean_c) / std_c + mean_s."""
    (cm, cs), (sm, ss) = mean_std(content, eps), mean_std(style, eps)
    return (content - cm) / cs * ss + sm

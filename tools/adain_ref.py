# SPDX-License-Identifier: MIT
"""PyTorch reference of the adainstyle model (pytorch-AdaIN layout, key for key).

Importable helper used by tools/make_encoder.py, tools/reference_outputs.py and
tools/convert_pth.py; the Rust library must match it (tests/model.rs checks that).

    encoder()   nn.Sequential 0..30: the normalised VGG-19 up to relu4_1
    decoder()   nn.Sequential 0..28 mirroring the encoder
    mean_std()  per-channel mean/std over H, W
    adain()     adaptive instance normalisation
    load_safetensors(), save_safetensors()

Variance convention: mean_std() uses the unbiased variance (divide by H*W-1),
as pytorch-AdaIN's `calc_mean_std` does (torch.var's default), so that its
checkpoints see the statistics they were trained with; the Rust library matches.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# The layout (one description, shared with the NumPy reference of tools/adain_np.py).
from adain_layout import (  # noqa: E402,F401
    DECODER_CONVS,
    DECODER_UPSAMPLES,
    ENCODER_CONVS,
    ENCODER_POOLS,
    TAPS,
    VGG_BGR_MEAN,
    write_safetensors,
)


def encoder() -> nn.Sequential:
    """pytorch-AdaIN's `vgg` truncated after relu4_1 (indices 0..30).

    0: 1x1 conv 3->3 (RGB in [0,1] -> BGR*255 - mean once weights are loaded),
    then ReflectionPad2d(1) + 3x3 conv + ReLU blocks, MaxPool2d(2, 2, ceil_mode)
    at 7, 14, 27."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    i = 1
    while i <= 30:
        if i in ENCODER_POOLS:
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
            i += 1
        elif i + 1 in ENCODER_CONVS:
            cin, cout, k = ENCODER_CONVS[i + 1]
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, k), nn.ReLU()]
            i += 3
        else:  # the ReLU right after conv 0
            layers.append(nn.ReLU())
            i += 1
    seq = nn.Sequential(*layers)
    assert len(seq) == 31
    for idx, (cin, cout, k) in ENCODER_CONVS.items():
        assert isinstance(seq[idx], nn.Conv2d) and seq[idx].weight.shape == (cout, cin, k, k)
    return seq


def decoder() -> nn.Sequential:
    """pytorch-AdaIN's `decoder` (keys 1, 5, 8, 11, 14, 18, 21, 25, 28).

    Every conv is 3x3 after ReflectionPad2d(1); ReLU after each conv except the
    last (28); nearest x2 upsampling at 3, 16, 23."""
    layers: list[nn.Module] = []
    i = 0
    while i <= 28:
        if i in DECODER_UPSAMPLES:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            i += 1
        else:
            cin, cout = DECODER_CONVS[i + 1]
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
            i += 2
            if i <= 28:
                layers.append(nn.ReLU())
                i += 1
    seq = nn.Sequential(*layers)
    assert len(seq) == 29
    for idx, (cin, cout) in DECODER_CONVS.items():
        assert isinstance(seq[idx], nn.Conv2d) and seq[idx].weight.shape == (cout, cin, 3, 3)
    return seq


def encode_taps(enc: nn.Sequential, x: torch.Tensor, taps=TAPS) -> dict[str, torch.Tensor]:
    """Run the encoder once and return the requested taps (name -> tensor)."""
    want = {idx: name for name, idx in taps.items()}
    out = {}
    for idx, layer in enumerate(enc):
        x = layer(x)
        if idx in want:
            out[want[idx]] = x
            if len(out) == len(want):
                break
    return out


def mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and std over H, W, shaped (N, C, 1, 1).

    std = sqrt(unbiased variance + eps), as pytorch-AdaIN."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    mean = flat.mean(dim=2)
    var = flat.var(dim=2, unbiased=True)
    return mean.reshape(n, c, 1, 1), (var + eps).sqrt().reshape(n, c, 1, 1)


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """AdaIN(c, s) = std_s * (c - mean_c) / std_c + mean_s (statistics per channel)."""
    c_mean, c_std = mean_std(content, eps)
    s_mean, s_std = mean_std(style, eps)
    return (content - c_mean) / c_std * s_std + s_mean


def stylize(enc, dec, content, style, alpha: float = 1.0) -> torch.Tensor:
    """Full forward: t = alpha*adain(f(c), f(s)) + (1-alpha)*f(c); returns dec(t)."""
    fc = encode_taps(enc, content, {"relu4_1": 30})["relu4_1"]
    fs = encode_taps(enc, style, {"relu4_1": 30})["relu4_1"]
    t = alpha * adain(fc, fs) + (1 - alpha) * fc
    return dec(t)


def _conv_keys(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in module.state_dict().items()}


def load_safetensors(module: nn.Module, path: str, strict: bool = True) -> nn.Module:
    """Load `<idx>.weight` / `<idx>.bias` tensors from a safetensors file.

    With strict=True every parameter of `module` must be present with the same
    shape and the file must not hold extra keys."""
    from safetensors.torch import load_file

    tensors = load_file(path)
    own = _conv_keys(module)
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if strict and (missing or extra):
        raise KeyError(f"{path}: missing keys {missing}, unexpected keys {extra}")
    for k, v in tensors.items():
        if k in own and own[k].shape != v.shape:
            raise ValueError(f"{path}: {k} has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    module.load_state_dict({k: v for k, v in tensors.items() if k in own}, strict=strict)
    return module


def save_safetensors(module_or_dict, path: str, metadata: dict[str, str] | None = None) -> None:
    """Save a module's parameters or a dict of tensors as fp32 safetensors with reproducible
    bytes (adain_layout.write_safetensors)."""
    sd = module_or_dict if isinstance(module_or_dict, dict) else module_or_dict.state_dict()
    write_safetensors({k: v.detach().to(torch.float32).cpu().numpy() for k, v in sd.items()},
                      path, metadata)


def rgb_to_vgg_conv0() -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (3,3,1,1) and bias of conv 0: RGB in [0,1] -> BGR*255 - mean."""
    w = torch.zeros(3, 3, 1, 1)
    for out_ch, in_ch in enumerate((2, 1, 0)):  # B <- R index 2, G <- 1, R <- 0
        w[out_ch, in_ch, 0, 0] = 255.0
    b = -torch.tensor(VGG_BGR_MEAN)
    return w, b


def _selftest() -> None:
    enc, dec = encoder(), decoder()
    x = torch.rand(1, 3, 45, 67)
    taps = encode_taps(enc, x)
    assert taps["relu4_1"].shape == (1, 512, 6, 9), taps["relu4_1"].shape  # ceil_mode pools
    y = dec(taps["relu4_1"])
    assert y.shape == (1, 3, 48, 72)
    m, s = mean_std(taps["relu4_1"])
    ref = taps["relu4_1"].reshape(1, 512, -1)
    assert torch.allclose(s.flatten() ** 2 - 1e-5, ref.var(2, unbiased=True).flatten(), atol=1e-5)
    print("adain_ref self-test ok")


if __name__ == "__main__":
    _selftest()

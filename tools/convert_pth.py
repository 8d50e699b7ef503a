#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Convert pytorch-AdaIN checkpoints (.pth state dicts) to safetensors.

Usage: convert_pth.py IN.pth OUT.safetensors [--kind auto|vgg|decoder]

  vgg_normalised.pth -> keeps only the encoder part up to relu4_1 (keys of
                        Sequential indices 0..29: convs 0,2,5,9,12,16,19,22,25,29)
  decoder.pth        -> all nine convs (1,5,8,11,14,18,21,25,28)

The file is read with torch.load(map_location="cpu", weights_only=True); the
key set and every shape are checked against tools/adain_ref.py, and the script
exits with status 1 and a message naming the offending key otherwise. Output
tensors are fp32 and contiguous, keys `<idx>.weight` / `<idx>.bias`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adain_ref  # noqa: E402


def expected(kind: str) -> dict[str, tuple[int, ...]]:
    if kind == "vgg":
        convs = {i: (o, c, k, k) for i, (c, o, k) in adain_ref.ENCODER_CONVS.items()}
    else:
        convs = {i: (o, c, 3, 3) for i, (c, o) in adain_ref.DECODER_CONVS.items()}
    out = {}
    for i, shape in convs.items():
        out[f"{i}.weight"] = shape
        out[f"{i}.bias"] = (shape[0],)
    return out


def fail(msg: str) -> None:
    print(f"convert_pth: error: {msg}", file=sys.stderr)
    sys.exit(1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--kind", choices=["auto", "vgg", "decoder"], default="auto")
    args = ap.parse_args(argv)

    try:
        sd = torch.load(args.input, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        fail(f"cannot load {args.input} as a state dict: {e}")
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        fail(f"{args.input} does not hold a state dict of tensors")

    kind = args.kind
    if kind == "auto":
        w0 = sd.get("0.weight")
        if w0 is not None and tuple(w0.shape) == (3, 3, 1, 1):
            kind = "vgg"
        elif "1.weight" in sd:
            kind = "decoder"
        else:
            fail("cannot tell whether this is vgg_normalised.pth (needs 0.weight of shape "
                 "(3, 3, 1, 1)) or decoder.pth (needs 1.weight); pass --kind")

    want = expected(kind)
    dropped = []
    if kind == "vgg":
        keep = {}
        for k, v in sd.items():
            idx = k.split(".", 1)[0]
            if not idx.isdigit():
                fail(f"unexpected key '{k}' (not of the form <index>.weight/bias)")
            if int(idx) <= 29:
                keep[k] = v
            else:
                dropped.append(k)
        sd = keep
    for k, shape in want.items():
        if k not in sd:
            fail(f"missing key '{k}' (expected shape {shape}) in {args.input} ({kind})")
        if tuple(sd[k].shape) != shape:
            fail(f"key '{k}' has shape {tuple(sd[k].shape)}, expected {shape} ({kind})")
    extra = sorted(set(sd) - set(want))
    if extra:
        fail(f"unexpected key '{extra[0]}' in {args.input} ({kind}); "
             f"all unexpected: {extra}")

    out = {k: sd[k].detach().to(torch.float32).contiguous() for k in want}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    adain_ref.save_safetensors(out, str(args.output), metadata={
        "format": "pt", "converted_from": args.input.name, "kind": kind})
    note = f", dropped {len(dropped)} keys past relu4_1" if dropped else ""
    print(f"wrote {args.output}: {kind}, {len(out)} tensors{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write reference tensors of the AdaIN model (pytorch-AdaIN's layout) for the Rust parity tests.

Usage:
  reference_outputs.py ENCODER DECODER OUT.safetensors [--height 45] [--width 67] [--seed 0]
  reference_outputs.py ENCODER DECODER OUT.safetensors --random-decoder
  reference_outputs.py ENCODER OUT.safetensors --random-decoder NEW_DECODER.safetensors

Creates deterministic random images (uniform in [0,1], NumPy's generator seeded
with --seed): `content` (1,3,H,W) and `style` (1,3,64,80). Runs the NumPy
reference of tools/adain_np.py (float64, independent of libtorch, so it also runs
where torch without CUDA's libraries cannot be imported) and stores, all fp32:
  content, style                  the inputs
  relu1_1, relu2_1, relu3_1, relu4_1   encoder taps of the content
  style_relu4_1                   relu4_1 of the style
  adain                           AdaIN target, alpha = 1 (eps 1e-5, unbiased variance)
  decoded                         decoder(adain), raw (not clamped)

--random-decoder (needs PyTorch): there is no trained decoder yet; make a decoder
with PyTorch's default init after torch.manual_seed(--seed) and save it first (to
DECODER, or to the given path). An existing file is only overwritten if it was itself made by
--random-decoder (metadata "init" = "random").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import adain_np  # noqa: E402
from adain_layout import write_safetensors  # noqa: E402

STYLE_HW = (64, 80)


def make_random_decoder(path: Path, seed: int) -> None:
    import adain_ref
    import torch
    from safetensors import safe_open

    if path.exists():
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("init") != "random":
                sys.exit(f"error: {path} exists and is not a random-init decoder; refusing to "
                         "overwrite it")
    torch.manual_seed(seed)
    dec = adain_ref.decoder()
    path.parent.mkdir(parents=True, exist_ok=True)
    adain_ref.save_safetensors(dec, str(path), metadata={
        "format": "pt", "init": "random", "seed": str(seed),
        "note": "untrained decoder (PyTorch default init) for parity tests only"})
    print(f"wrote random-init decoder {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", metavar="ENCODER [DECODER] OUT")
    ap.add_argument("--height", type=int, default=45)
    ap.add_argument("--width", type=int, default=67)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random-decoder", nargs="?", const=True, default=None,
                    metavar="NEW_DECODER")
    args = ap.parse_args(argv)

    if len(args.paths) == 3:
        enc_path, dec_path, out = map(Path, args.paths)
        if isinstance(args.random_decoder, str) and Path(args.random_decoder) != dec_path:
            ap.error("--random-decoder PATH must equal DECODER when DECODER is given")
    elif len(args.paths) == 2 and isinstance(args.random_decoder, str):
        enc_path, out = map(Path, args.paths)
        dec_path = Path(args.random_decoder)
    else:
        ap.error("expected ENCODER DECODER OUT, or ENCODER OUT --random-decoder NEW_DECODER")
    if args.random_decoder is not None:
        make_random_decoder(dec_path, args.seed)

    from safetensors.numpy import load_file

    enc, dec = load_file(str(enc_path)), load_file(str(dec_path))
    rng = np.random.default_rng(args.seed)
    content = rng.random((3, args.height, args.width))
    style = rng.random((3, *STYLE_HW))

    taps = adain_np.encode_taps(enc, content)
    style_f = adain_np.encode_taps(enc, style, {"relu4_1": 30})["relu4_1"]
    target = adain_np.adain(taps["relu4_1"], style_f)
    decoded = adain_np.decode(dec, target)

    tensors = {k: v[None] for k, v in {"content": content, "style": style, **taps,
                                       "style_relu4_1": style_f, "adain": target,
                                       "decoded": decoded}.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(tensors, str(out), metadata={
        "seed": str(args.seed), "alpha": "1.0", "eps": "1e-5", "variance": "unbiased",
        "encoder": enc_path.name, "decoder": dec_path.name, "reference": "numpy float64"})
    for k, v in tensors.items():
        print(f"{k:14} {tuple(v.shape)!s:20} mean {v.mean():+.4f} std {v.std():.4f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

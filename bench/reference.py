#!/usr/bin/env python3
"""PyTorch eager reference for the benchmark: the plain AdaIN forward (encoder, AdaIN with cached
style statistics, decoder) with the same weights, under torch.no_grad, on a tensor already on the
device. Prints one JSON line in the format of the Rust bench (bench/throughput.rs).

    bench/reference.py --width 512 --height 512 --device cpu --frames 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
# Shipped models and styles, looked up like the Rust side does (ADAINSTYLE_DATADIR first).
DATA = Path(os.environ.get("ADAINSTYLE_DATADIR", ROOT))
import adain_ref  # noqa: E402


def flops_per_frame(h: int, w: int) -> float:
    """Convolution FLOPs at the padded size (same count as adainstyle::model::flops_per_frame)."""
    h, w = -(-h // 8) * 8, -(-w // 8) * 8
    enc = [(3, 3, 1, 1), (3, 64, 3, 1), (64, 64, 3, 1), (64, 128, 3, 2), (128, 128, 3, 2),
           (128, 256, 3, 4), (256, 256, 3, 4), (256, 256, 3, 4), (256, 256, 3, 4), (256, 512, 3, 8)]
    dec = [(512, 256, 3, 8), (256, 256, 3, 4), (256, 256, 3, 4), (256, 256, 3, 4), (256, 128, 3, 4),
           (128, 128, 3, 2), (128, 64, 3, 2), (64, 64, 3, 1), (64, 3, 3, 1)]
    return sum(2 * ci * co * k * k * (h / d) * (w / d) for ci, co, k, d in enc + dec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--encoder", default=str(DATA / "models/vgg19-normalised.safetensors"))
    ap.add_argument("--decoder", default=str(DATA / "models/decoder.safetensors"))
    ap.add_argument("--style", default=str(DATA / "styles/cafe-terrace-at-night.jpg"))
    args = ap.parse_args()

    device = torch.device(args.device)
    enc = adain_ref.load_safetensors(adain_ref.encoder(), args.encoder).to(device).eval()
    dec = adain_ref.load_safetensors(adain_ref.decoder(), args.decoder).to(device).eval()
    from PIL import Image
    import numpy as np
    img = Image.open(args.style).convert("RGB")
    img.thumbnail((512, 512))
    style = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float().div(255).to(device)
    content = torch.rand(1, 3, args.height, args.width, device=device)
    h, w = args.height, args.width
    ph, pw = (-h) % 8, (-w) % 8

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        s_mean, s_std = adain_ref.mean_std(enc(style))  # cached once, like the element

        def forward(x):
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
            f = enc(x)
            c_mean, c_std = adain_ref.mean_std(f)
            t = (f - c_mean) / c_std * s_std + s_mean
            return dec(t)[:, :, :h, :w]

        for _ in range(args.warmup):
            forward(content)
        sync()
        start = time.perf_counter()
        for _ in range(args.frames):
            forward(content)
        sync()
        seconds = (time.perf_counter() - start) / args.frames

    flops = flops_per_frame(h, w)
    print(json.dumps({
        "impl": "reference", "device": device.type, "precision": "fp32", "width": w, "height": h,
        "ms": round(seconds * 1e3, 2), "fps": round(1 / seconds, 3),
        "gflop_per_frame": round(flops / 1e9, 1), "gflops": round(flops / seconds / 1e9, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": torch.get_num_threads(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

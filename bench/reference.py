#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch eager reference for the benchmark: the plain AdaIN forward (encoder, AdaIN with cached
style statistics, decoder) with the same weights, under torch.no_grad, on a tensor already on the
device, in fp32 or under PyTorch's own autocast (bf16 on the CPU, fp16 or bf16 on CUDA), with
channels-last weights and input. Prints one JSON line in the format of the Rust bench
(bench/throughput.rs): median and fastest time per frame.

    bench/reference.py --width 512 --height 512 --device cpu --frames 5 --precision bf16
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


def conv_flops(modules, x: torch.Tensor, run) -> float:
    """Convolution FLOPs (2 per multiply-add) of `run(x)`, counted on the modules themselves."""
    total = 0.0

    def count(m, _inp, out):
        nonlocal total
        total += 2 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] \
            * out.shape[2] * out.shape[3]

    hooks = [m.register_forward_hook(count) for net in modules for m in net.modules()
             if isinstance(m, torch.nn.Conv2d)]
    run(x)
    for h in hooks:
        h.remove()
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, required=True)
    ap.add_argument("--height", type=int, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                    help="fp32, or autocast to bf16/fp16 (statistics stay fp32 under autocast)")
    ap.add_argument("--encoder", default=str(DATA / "models/vgg19-normalised.safetensors"))
    ap.add_argument("--decoder", default=str(DATA / "models/decoder.safetensors"))
    ap.add_argument("--style", default=str(DATA / "styles/cafe-terrace-at-night.jpg"))
    args = ap.parse_args()

    device = torch.device(args.device)
    cl = torch.channels_last
    enc = adain_ref.load_safetensors(adain_ref.encoder(), args.encoder).to(device, memory_format=cl).eval()
    dec = adain_ref.load_safetensors(adain_ref.decoder(), args.decoder).to(device, memory_format=cl).eval()
    from PIL import Image
    import numpy as np
    img = Image.open(args.style).convert("RGB")
    img.thumbnail((512, 512))
    style = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float().div(255).to(device)
    content = torch.rand(1, 3, args.height, args.width, device=device).contiguous(memory_format=cl)
    autocast = torch.autocast(device.type, dtype={"bf16": torch.bfloat16, "fp16": torch.float16}
                              .get(args.precision, torch.float32), enabled=args.precision != "fp32")
    h, w = args.height, args.width
    ph, pw = (-h) % 8, (-w) % 8

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad(), autocast:
        s_mean, s_std = adain_ref.mean_std(enc(style).float())  # cached once, like the element

        def forward(x):
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
            f = enc(x).float()
            c_mean, c_std = adain_ref.mean_std(f)
            t = (f - c_mean) / c_std * s_std + s_mean
            return dec(t)[:, :, :h, :w].float()

        for _ in range(args.warmup):
            forward(content)
        sync()
        times = []
        for _ in range(args.frames):
            start = time.perf_counter()
            forward(content)
            sync()
            times.append(time.perf_counter() - start)
        times.sort()
        seconds, fastest = times[len(times) // 2], times[0]

    with torch.no_grad():
        flops = conv_flops((enc, dec), content, forward)
    print(json.dumps({
        "impl": "reference", "device": device.type, "precision": args.precision, "width": w,
        "height": h, "ms": round(seconds * 1e3, 2), "ms_min": round(fastest * 1e3, 2),
        "frames": len(times), "fps": round(1 / seconds, 3),
        "gflop_per_frame": round(flops / 1e9, 1), "gflops": round(flops / seconds / 1e9, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "threads": torch.get_num_threads(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

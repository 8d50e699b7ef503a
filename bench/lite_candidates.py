#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Speed of candidate light networks on this machine, untrained (random weights): the
measurement the `lite` architecture was chosen by. Each candidate is a plain encoder -> AdaIN ->
decoder of convolutions, pixel (un)shuffles and resamplings, run as the element runs it: no
gradients, channels-last, fp32 or bf16 (the weights cast, statistics in fp32), one frame at a
time. Prints one markdown row per candidate, size and precision: GFLOP per frame, median and
fastest ms per frame.

    bench/lite_candidates.py [--threads 2] [--frames 15] [--sizes 640x360,1280x720] [--only NAME]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# A candidate is a list of steps. ("conv", c_in, c_out, stride, relu), ("unshuffle", r),
# ("shuffle", r), ("up", "nearest"|"bilinear"), ("blur",), ("adain",), ("save",) keeps the activation for a
# skip connection and ("skip",) concatenates the kept one (normalised by AdaIN, with the style's
# statistics at that level) to the current one; ("pad", "zero"|"reflect") sets the padding of the
# 3x3 convolutions that follow.
# The body of u2-s2s2-c128-skip4 (the shipped light network) up to the convolution after its join
# at 1/4 size (64 channels there), reflection-padded.
SKIP4_BODY = [("pad", "reflect"), ("unshuffle", 2), ("conv", 12, 32, 1, True),
              ("conv", 32, 64, 2, True), ("conv", 64, 64, 1, True), ("save",),
              ("conv", 64, 128, 2, True), ("conv", 128, 128, 1, True), ("adain",),
              ("conv", 128, 128, 1, True), ("conv", 128, 256, 1, True),
              ("shuffle", 2), ("skip",), ("conv", 128, 64, 1, True), ("conv", 64, 64, 1, True)]

# lite-smooth's body: SKIP4_BODY with the bottleneck brought to 1/4 size by a 64-channel
# convolution and a bilinear x2 instead of 256 channels and a pixel shuffle.
SMOOTH_BODY = SKIP4_BODY[:10] + [("conv", 128, 64, 1, True), ("up", "bilinear"), ("skip",),
                                ("conv", 128, 64, 1, True), ("conv", 64, 64, 1, True)]

CANDIDATES = {
    # Pixel-unshuffle by 4, a body of 64 channels at 1/4 size, pixel-shuffle back.
    "u4-c64x8": [("unshuffle", 4), ("conv", 48, 64, 1, True), ("conv", 64, 64, 1, True),
                 ("conv", 64, 64, 1, True), ("adain",), ("conv", 64, 64, 1, True),
                 ("conv", 64, 64, 1, True), ("conv", 64, 64, 1, True), ("conv", 64, 64, 1, True),
                 ("conv", 64, 48, 1, False), ("shuffle", 4)],
    # The same with a wider middle (128 channels around AdaIN).
    "u4-c128": [("unshuffle", 4), ("conv", 48, 64, 1, True), ("conv", 64, 128, 1, True),
                ("conv", 128, 128, 1, True), ("adain",), ("conv", 128, 128, 1, True),
                ("conv", 128, 64, 1, True), ("conv", 64, 64, 1, True),
                ("conv", 64, 48, 1, False), ("shuffle", 4)],
    # Two stride-2 convolutions down to 1/4, 64 channels, nearest-up + conv back.
    "s2s2-c64": [("conv", 3, 32, 2, True), ("conv", 32, 64, 2, True), ("conv", 64, 64, 1, True),
                 ("conv", 64, 64, 1, True), ("adain",), ("conv", 64, 64, 1, True),
                 ("conv", 64, 64, 1, True), ("up", "nearest"), ("conv", 64, 32, 1, True),
                 ("up", "nearest"), ("conv", 32, 3, 1, False)],
    # Down to 1/8 with 128 channels around AdaIN (VGG-like depth, few channels), pixel
    # shuffles up.
    "u2-s2s2-c128": [("unshuffle", 2), ("conv", 12, 32, 1, True), ("conv", 32, 64, 2, True),
                     ("conv", 64, 64, 1, True), ("conv", 64, 128, 2, True),
                     ("conv", 128, 128, 1, True), ("adain",), ("conv", 128, 128, 1, True),
                     ("conv", 128, 256, 1, True), ("shuffle", 2), ("conv", 64, 64, 1, True),
                     ("conv", 64, 128, 1, True), ("shuffle", 2), ("conv", 32, 12, 1, False),
                     ("shuffle", 2)],
    # u2-s2s2-c128 with a skip at 1/2 size: the 32-channel features there, normalised by AdaIN
    # with the style's statistics at that level, join the decoder before its last convolutions.
    "u2-s2s2-c128-skip": [("unshuffle", 2), ("conv", 12, 32, 1, True), ("save",),
                          ("conv", 32, 64, 2, True), ("conv", 64, 64, 1, True),
                          ("conv", 64, 128, 2, True), ("conv", 128, 128, 1, True), ("adain",),
                          ("conv", 128, 128, 1, True), ("conv", 128, 256, 1, True),
                          ("shuffle", 2), ("conv", 64, 64, 1, True), ("conv", 64, 128, 1, True),
                          ("shuffle", 2), ("skip",), ("conv", 64, 32, 1, True),
                          ("conv", 32, 12, 1, False), ("shuffle", 2)],
    # The same body with the skip at 1/4 size (64 channels) and pixel shuffles by 4 at the end.
    "u2-s2s2-c128-skip4": [("unshuffle", 2), ("conv", 12, 32, 1, True),
                           ("conv", 32, 64, 2, True), ("conv", 64, 64, 1, True), ("save",),
                           ("conv", 64, 128, 2, True), ("conv", 128, 128, 1, True), ("adain",),
                           ("conv", 128, 128, 1, True), ("conv", 128, 256, 1, True),
                           ("shuffle", 2), ("skip",), ("conv", 128, 64, 1, True),
                           ("conv", 64, 64, 1, True), ("conv", 64, 48, 1, False),
                           ("shuffle", 4)],
    # skip4 with a pixel-unshuffle by 4 at the start instead of a convolution at 1/2 size.
    "u4-s2-c128-skip4": [("pad", "reflect"), ("unshuffle", 4), ("conv", 48, 64, 1, True),
                         ("conv", 64, 64, 1, True), ("save",), ("conv", 64, 128, 2, True),
                         ("conv", 128, 128, 1, True), ("adain",), ("conv", 128, 128, 1, True),
                         ("conv", 128, 256, 1, True), ("shuffle", 2), ("skip",),
                         ("conv", 128, 64, 1, True), ("conv", 64, 64, 1, True),
                         ("conv", 64, 48, 1, False), ("shuffle", 4)],
    # skip4 (the shipped shape) ending with two convolutions at full size (3 -> 16 -> 3), so
    # neighbouring 4x4 blocks of the final pixel-shuffle see each other.
    "skip4-refine": [("pad", "reflect"), ("unshuffle", 2), ("conv", 12, 32, 1, True),
                     ("conv", 32, 64, 2, True), ("conv", 64, 64, 1, True), ("save",),
                     ("conv", 64, 128, 2, True), ("conv", 128, 128, 1, True), ("adain",),
                     ("conv", 128, 128, 1, True), ("conv", 128, 256, 1, True),
                     ("shuffle", 2), ("skip",), ("conv", 128, 64, 1, True),
                     ("conv", 64, 64, 1, True), ("conv", 64, 48, 1, True), ("shuffle", 4),
                     ("conv", 3, 16, 1, True), ("conv", 16, 3, 1, False)],
    # skip4 ending at 1/2 size instead: a pixel-shuffle by 2 to 16 channels, two convolutions
    # there (16 -> 32 -> 12), a pixel-shuffle by 2.
    "skip4-up2": [("pad", "reflect"), ("unshuffle", 2), ("conv", 12, 32, 1, True),
                  ("conv", 32, 64, 2, True), ("conv", 64, 64, 1, True), ("save",),
                  ("conv", 64, 128, 2, True), ("conv", 128, 128, 1, True), ("adain",),
                  ("conv", 128, 128, 1, True), ("conv", 128, 256, 1, True),
                  ("shuffle", 2), ("skip",), ("conv", 128, 64, 1, True),
                  ("conv", 64, 64, 1, True), ("shuffle", 2), ("conv", 16, 32, 1, True),
                  ("conv", 32, 12, 1, False), ("shuffle", 2)],
    # skip4-up2 with bilinear upsampling + a convolution at full size (12 -> 3) at the end
    # instead of the last pixel-shuffle.
    "skip4-up2-bilinear": [("pad", "reflect"), ("unshuffle", 2), ("conv", 12, 32, 1, True),
                           ("conv", 32, 64, 2, True), ("conv", 64, 64, 1, True), ("save",),
                           ("conv", 64, 128, 2, True), ("conv", 128, 128, 1, True), ("adain",),
                           ("conv", 128, 128, 1, True), ("conv", 128, 256, 1, True),
                           ("shuffle", 2), ("skip",), ("conv", 128, 64, 1, True),
                           ("conv", 64, 64, 1, True), ("shuffle", 2), ("conv", 16, 32, 1, True),
                           ("conv", 32, 12, 1, True), ("up", "bilinear"),
                           ("conv", 12, 3, 1, False)],
    # Light network v2 endings (issue: the light network without its mosaic). The body of
    # u2-s2s2-c128-skip4 up to its join at 1/4 size, then no pixel shuffle to full size:
    # bilinear x2, a convolution at 1/2, bilinear x2, a convolution at full size (32 -> 16 -> 3).
    "v2-bilinear": SKIP4_BODY + [("conv", 64, 32, 1, True), ("up", "bilinear"),
                                 ("conv", 32, 16, 1, True), ("up", "bilinear"),
                                 ("conv", 16, 3, 1, False)],
    # The same with one more 16-channel convolution at full size.
    "v2-bilinear-full2": SKIP4_BODY + [("conv", 64, 32, 1, True), ("up", "bilinear"),
                                       ("conv", 32, 16, 1, True), ("up", "bilinear"),
                                       ("conv", 16, 16, 1, True), ("conv", 16, 3, 1, False)],
    # 8 channels at full size: bilinear x2 to 1/2 (32 -> 16), bilinear x2, 16 -> 8 -> 3.
    "v2-bilinear-8": SKIP4_BODY + [("conv", 64, 32, 1, True), ("up", "bilinear"),
                                   ("conv", 32, 16, 1, True), ("up", "bilinear"),
                                   ("conv", 16, 8, 1, True), ("conv", 8, 3, 1, False)],
    # The least work at full size: 64 -> 16 at 1/4, bilinear x4, 16 -> 3 at full size.
    "v2-bilinear4": SKIP4_BODY + [("conv", 64, 16, 1, True), ("up", "bilinear", 4),
                                  ("conv", 16, 3, 1, False)],
    # Bilinear x2 twice with 8 channels at full size: 64 -> 32 at 1/4, 32 -> 8 at 1/2, 8 -> 3.
    "v2-bilinear-c8": SKIP4_BODY + [("conv", 64, 32, 1, True), ("up", "bilinear"),
                                    ("conv", 32, 8, 1, True), ("up", "bilinear"),
                                    ("conv", 8, 3, 1, False)],
    # Content-guided: per-pixel affine colour coefficients (3 x 4) and an RGB residual predicted
    # at 1/4 size, upsampled bilinearly by 4 and applied to the full-size input.
    "v2-guided": SKIP4_BODY + [("conv", 64, 15, 1, False), ("up", "bilinear", 4), ("guide",)],
    # lite-smooth (round L5 of trainer/README.md): no pixel shuffle in the body either (the
    # bottleneck to 64 channels and bilinear x2 to its join at 1/4), and a [1 2 1] blur before
    # the last upsampling; 16 -> 3 at full size.
    "v2-smooth": SMOOTH_BODY + [("conv", 64, 32, 1, True), ("up", "bilinear"),
                                ("conv", 32, 16, 1, True), ("blur",), ("up", "bilinear"),
                                ("conv", 16, 3, 1, False)],
    # The same with a nonlinear step at full size (16 -> 8 with a ReLU, 8 -> 3), which can draw
    # detail finer than the blurred 1/2-size maps carry.
    "v2-smooth-8": SMOOTH_BODY + [("conv", 64, 32, 1, True), ("up", "bilinear"),
                                  ("conv", 32, 16, 1, True), ("blur",), ("up", "bilinear"),
                                  ("conv", 16, 8, 1, True), ("conv", 8, 3, 1, False)],
    # The nonlinear full-size step on 8 channels: 32 -> 8 at 1/2 size, blur, bilinear x2,
    # 8 -> 8 with a ReLU and 8 -> 3 at full size.
    "v2-smooth-c8": SMOOTH_BODY + [("conv", 64, 32, 1, True), ("up", "bilinear"),
                                   ("conv", 32, 8, 1, True), ("blur",), ("up", "bilinear"),
                                   ("conv", 8, 8, 1, True), ("conv", 8, 3, 1, False)],
    # u4-c64x8 with reflection padding (what the full network uses) instead of zeros.
    "u4-c64x8-reflect": [("pad", "reflect")],
}
CANDIDATES["u4-c64x8-reflect"] += CANDIDATES["u4-c64x8"]


def adain(x, style_mean, style_std):
    f = x.float()
    mean = f.mean((2, 3), keepdim=True)
    std = (f.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    return ((f - mean) / std * style_std + style_mean).to(x.dtype)


class Net(torch.nn.Module):
    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.convs = torch.nn.ModuleList()
        for s in steps:
            if s[0] == "conv":
                self.convs.append(torch.nn.Conv2d(s[1], s[2], 3, stride=s[3], padding=0))

    def forward(self, x, style_mean, style_std):
        image = x
        pad = "zero"
        i = 0
        saved = None
        for s in self.steps:
            kind = s[0]
            if kind == "pad":
                pad = s[1]
            elif kind == "conv":
                conv = self.convs[i]
                i += 1
                if pad == "reflect":
                    x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight, conv.bias,
                                 stride=s[3])
                else:
                    x = F.conv2d(x, conv.weight, conv.bias, stride=s[3], padding=1)
                if s[4]:
                    x = torch.relu_(x)
            elif kind == "unshuffle":
                x = F.pixel_unshuffle(x, s[1]).contiguous(memory_format=torch.channels_last)
            elif kind == "shuffle":
                x = F.pixel_shuffle(x, s[1]).contiguous(memory_format=torch.channels_last)
            elif kind == "up":
                factor = s[2] if len(s) > 2 else 2
                x = F.interpolate(x, scale_factor=factor, mode=s[1])
            elif kind == "blur":
                # A [1 2 1] x [1 2 1] / 16 blur per channel (reflected at the edges).
                k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype)
                k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
                x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=x.shape[1])
            elif kind == "guide":
                # x: 12 affine coefficients (3 x [r, g, b, 1]) and 3 residual channels.
                rgb = image.float()
                a = x.float()
                out = [a[:, 4 * i + 3:4 * i + 4] + a[:, 12 + i:13 + i]
                       + (a[:, 4 * i:4 * i + 3] * rgb).sum(1, keepdim=True) for i in range(3)]
                x = torch.cat(out, 1).to(image.dtype)
            elif kind == "adain":
                x = adain(x, style_mean[:, : x.shape[1]], style_std[:, : x.shape[1]])
            elif kind == "save":
                saved = x
            elif kind == "skip":
                c = saved.shape[1]
                x = torch.cat([x, adain(saved, style_mean[:, :c], style_std[:, :c])], 1)
        return x


def flops(steps, h, w):
    total = 0.0
    c_h, c_w = h, w
    for s in steps:
        if s[0] == "conv":
            c_h, c_w = -(-c_h // s[3]), -(-c_w // s[3])
            total += 2 * s[1] * s[2] * 9 * c_h * c_w
        elif s[0] == "unshuffle":
            c_h, c_w = c_h // s[1], c_w // s[1]
        elif s[0] == "shuffle":
            c_h, c_w = c_h * s[1], c_w * s[1]
        elif s[0] == "up":
            factor = s[2] if len(s) > 2 else 2
            c_h, c_w = c_h * factor, c_w * factor
    return total


def adain_channels(steps):
    c = 3
    for s in steps:
        if s[0] == "skip":
            raise ValueError("skip before adain")
        if s[0] == "conv":
            c = s[2]
        elif s[0] == "adain":
            return c
        elif s[0] == "unshuffle":
            c *= s[1] ** 2
        elif s[0] == "shuffle":
            c //= s[1] ** 2
    raise ValueError("no adain step")


def measure(name, steps, h, w, precision, frames, warmup):
    torch.manual_seed(0)
    net = Net(steps).eval().to(memory_format=torch.channels_last)
    kind = torch.bfloat16 if precision == "bf16" else torch.float32
    net = net.to(kind)
    mean = torch.rand(1, 512, 1, 1)
    std = torch.rand(1, 512, 1, 1) + 0.5
    x = torch.rand(1, 3, h, w).to(kind).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        for i in range(warmup + frames):
            t0 = time.perf_counter()
            y = net(x, mean, std)
            y.float().clamp_(0, 1)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    assert y.shape == (1, 3, h, w), (name, y.shape)
    return statistics.median(times), min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--sizes", default="640x360,1280x720")
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--only", action="append", help="candidate name (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.only or list(CANDIDATES)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.frames} frames after "
          f"{args.warmup} warm-up")
    print("| candidate | AdaIN channels | size | precision | GFLOP | median ms | fastest ms | fps |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for name in names:
        steps = CANDIDATES[name]
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            for p in args.precisions.split(","):
                med, best = measure(name, steps, h, w, p, args.frames, args.warmup)
                print(f"| {name} | {adain_channels(steps)} | {w}x{h} | {p} | "
                      f"{flops(steps, h, w) / 1e9:.1f} | {med:.1f} | {best:.1f} | "
                      f"{1e3 / med:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

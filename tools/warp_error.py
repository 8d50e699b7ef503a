#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Temporal warping error of a stylised clip, relative to the input clip's own.

    warp_error.py INPUT_DIR OUTPUT_DIR [--max-frames N]

INPUT_DIR and OUTPUT_DIR hold the input frames and the stylised frames as
numbered PNGs with the same names (sorted order = time). For each pair of
consecutive frames t-1, t:

1. optical flow from frame t to frame t-1 and back, on the *input* frames
   (OpenCV's DIS flow, medium preset, on grey levels);
2. pixels that fail the forward-backward check are masked as occluded
   (|f(p) + b(p + f(p))|^2 > 0.01 (|f|^2 + |b|^2) + 0.5, after Sundaram et al.);
3. frame t-1 is warped onto frame t along the flow, and the mean squared
   difference (RGB in [0, 1]) over the unmasked pixels is the warping error.

The same warp is applied to the input frames and to the stylised frames; the
figure that matters is the ratio output / input: how much more the stylised
clip changes along the motion than the clip itself does (1 = no added flicker).
Prints one JSON line: the ratio, both mean errors, the frames and the share of
pixels kept by the occlusion check.

Needs numpy, Pillow and opencv-python-headless (scripts/temporal-bench.sh
installs it into the project venv).
"""

import argparse
import json
import pathlib

import cv2
import numpy as np
from PIL import Image


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def grey(rgb):
    return cv2.cvtColor((rgb * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def flows(dis, a, b):
    """Flow from a to b and from b to a."""
    return dis.calc(a, b, None), dis.calc(b, a, None)


def warp(image, flow):
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def valid_mask(to_prev, to_next):
    """Pixels of frame t whose flow to t-1 comes back (forward-backward check)."""
    back_at_target = warp(to_next, to_prev)
    total = to_prev + back_at_target
    lhs = (total ** 2).sum(axis=2)
    rhs = 0.01 * ((to_prev ** 2).sum(axis=2) + (back_at_target ** 2).sum(axis=2)) + 0.5
    h, w = to_prev.shape[:2]
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    tx, ty = xs + to_prev[..., 0], ys + to_prev[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return (lhs <= rhs) & inside


def pair_errors(input_dir, output_dir, names):
    """For each pair of consecutive frames ``names[t-1], names[t]``: the input's and the
    output's warping error (None, None when the occlusion check keeps no pixel) and the share of
    pixels kept."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    prev_in, prev_out = load(input_dir / names[0]), load(output_dir / names[0])
    for name in names[1:]:
        cur_in, cur_out = load(input_dir / name), load(output_dir / name)
        if cur_out.shape != cur_in.shape:
            raise SystemExit(f"{name}: output {cur_out.shape} != input {cur_in.shape}")
        to_prev, to_next = flows(dis, grey(cur_in), grey(prev_in))
        mask = valid_mask(to_prev, to_next)
        errors = [None, None]
        if mask.any():
            for i, (prev, cur) in enumerate(((prev_in, cur_in), (prev_out, cur_out))):
                diff = (cur - warp(prev, to_prev)) ** 2
                errors[i] = float(diff[mask].mean())
        yield errors[0], errors[1], float(mask.mean())
        prev_in, prev_out = cur_in, cur_out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("input_dir", type=pathlib.Path)
    ap.add_argument("output_dir", type=pathlib.Path)
    ap.add_argument("--max-frames", type=int, default=0)
    args = ap.parse_args()
    names = sorted(p.name for p in args.input_dir.glob("*.png"))
    if args.max_frames:
        names = names[: args.max_frames]
    missing = [n for n in names if not (args.output_dir / n).exists()]
    if len(names) < 2 or missing:
        raise SystemExit(f"need >= 2 frames in both folders; missing outputs: {missing[:3]}")
    errors_in, errors_out, kept = [], [], []
    for e_in, e_out, share in pair_errors(args.input_dir, args.output_dir, names):
        kept.append(share)
        if e_in is not None:
            errors_in.append(e_in)
            errors_out.append(e_out)
    e_in, e_out = float(np.mean(errors_in)), float(np.mean(errors_out))
    print(json.dumps({
        "ratio": e_out / e_in,
        "output_error": e_out,
        "input_error": e_in,
        "frames": len(names),
        "kept": float(np.mean(kept)),
    }))


if __name__ == "__main__":
    main()

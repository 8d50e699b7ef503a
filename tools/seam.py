#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How visible the boundary of a mask is in a picture.

    seam.py IMAGE MASK

IMAGE is a stylised picture, MASK the grey mask it was made with (same size;
white = styled). The seam figure is the mean absolute difference between
neighbouring pixels that straddle the mask's boundary (one inside, one
outside; 8-bit levels, averaged over R, G, B and over horizontal and vertical
neighbours), divided by the same mean over neighbouring pixels that lie both
inside or both outside and at least 4 pixels away from the boundary. 1 means
the boundary is as smooth as the rest of the picture; a visible seam gives
more. Prints the figure and its two parts as one JSON line.

Needs numpy and Pillow (the project venv has both).
"""

import json
import sys

import numpy as np
from PIL import Image


def seam(image, mask):
    img = np.asarray(image.convert("RGB"), dtype=np.float64)
    inside = np.asarray(mask.convert("L"), dtype=np.float64) >= 128
    if inside.shape != img.shape[:2]:
        raise SystemExit(f"mask is {inside.shape[::-1]}, image {img.shape[1::-1]}")
    # Distance to the boundary, up to 4 pixels, by repeated dilation of the boundary.
    edge = np.zeros_like(inside)
    edge[:, 1:] |= inside[:, 1:] != inside[:, :-1]
    edge[:, :-1] |= inside[:, 1:] != inside[:, :-1]
    edge[1:, :] |= inside[1:, :] != inside[:-1, :]
    edge[:-1, :] |= inside[1:, :] != inside[:-1, :]
    near = edge.copy()
    for _ in range(4):
        grown = near.copy()
        grown[1:, :] |= near[:-1, :]
        grown[:-1, :] |= near[1:, :]
        grown[:, 1:] |= near[:, :-1]
        grown[:, :-1] |= near[:, 1:]
        near = grown
    across, within = [], []
    for axis in (0, 1):
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        a, b = tuple(a), tuple(b)
        diff = np.abs(img[a] - img[b]).mean(axis=2)
        straddles = inside[a] != inside[b]
        far = ~near[a] & ~near[b]
        across.append(diff[straddles])
        within.append(diff[far])
    across = np.concatenate(across)
    within = np.concatenate(within)
    if across.size == 0 or within.size == 0:
        raise SystemExit("the mask has no boundary, or no pixels away from it")
    return {
        "seam": float(across.mean() / within.mean()),
        "across": float(across.mean()),
        "within": float(within.mean()),
        "boundary_pairs": int(across.size),
    }


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(json.dumps(seam(Image.open(sys.argv[1]), Image.open(sys.argv[2]))))


if __name__ == "__main__":
    main()

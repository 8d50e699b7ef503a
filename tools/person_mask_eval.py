#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How well `mask=person` keeps the person and styles the room, against hand-drawn ground truth
(tests/data/people/ground-truth.json: polygons of the people, and of what they hold, which is
left out).

For each image, `stylize-image --mask person` (and, as the ceiling, the same without a mask) runs
on a PNG copy of it (so that input and output are compared in one decoder's pixels). Pixels
closer than BAND pixels to the drawn boundary are left out of both figures (the soft edge of
`mask-feather`, and the drawing's own accuracy):

- **person kept**: the share of the person's pixels that come out within LEVELS levels of the
  input on every channel;
- **background styled**: the share of the background's pixels that differ from the input by
  more than LEVELS levels on some channel (and the same share with no mask: the ceiling, since a
  styled pixel can land near its input by chance).

    tools/person_mask_eval.py --bin target/release/examples/stylize-image \\
        [--model lite] [--band 8 --band 16] [--levels 3] [-- extra stylize-image flags]

Prints a Markdown table; exits 1 if an image or a run fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = ROOT / "tests" / "data" / "people"


def polygons(shape: tuple[int, int], polys: list) -> np.ndarray:
    """A boolean (H, W) raster of the filled polygons."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(img)
    for poly in polys:
        draw.polygon([tuple(v) for v in poly], fill=255)
    return np.asarray(img) > 127


def shrink(mask: np.ndarray, band: int) -> np.ndarray:
    """`mask` without the pixels closer than `band` to its outside (a square erosion)."""
    if band <= 0:
        return mask
    img = Image.fromarray((mask * 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.MinFilter(2 * band + 1))) > 127


def grow(mask: np.ndarray, band: int) -> np.ndarray:
    """`mask` with the pixels closer than `band` to it (a square dilation)."""
    return ~shrink(~mask, band)


def stylize(binary: Path, content: Path, out: Path, flags: list[str]) -> np.ndarray:
    run = subprocess.run([str(binary), str(content), "-o", str(out), *flags],
                         capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        sys.exit(f"error: {binary.name} {content.name} failed:\n{run.stderr.strip()}")
    return np.asarray(Image.open(out).convert("RGB")).astype(np.int16)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, required=True, help="the stylize-image example")
    ap.add_argument("--model", default="lite")
    ap.add_argument("--band", type=int, action="append",
                    help="pixels left out on each side of the boundary (repeatable; default 8 16)")
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("flags", nargs="*", help="more stylize-image flags (after --)")
    args = ap.parse_args()
    bands = args.band or [8, 16]
    truth = json.loads((PEOPLE / "ground-truth.json").read_text())
    rows = []
    with tempfile.TemporaryDirectory(prefix="person-eval-") as tmp:
        tmp = Path(tmp)
        for name, drawn in truth.items():
            if name == "about":
                continue
            rgb = Image.open(PEOPLE / name).convert("RGB")
            content = tmp / f"{Path(name).stem}.png"
            rgb.save(content)
            source = np.asarray(rgb).astype(np.int16)
            common = ["--model", args.model, *args.flags]
            masked = stylize(args.bin, content, tmp / "masked.png", ["--mask", "person", *common])
            full = stylize(args.bin, content, tmp / "full.png", common)
            person = polygons(source.shape[:2], drawn["person"])
            ignore = polygons(source.shape[:2], drawn.get("ignore", []))
            for band in bands:
                core = shrink(person, band) & ~ignore
                room = shrink(~person, band) & ~grow(ignore, band)

                def changed(out: np.ndarray) -> np.ndarray:
                    return np.abs(out - source).max(axis=2) > args.levels

                rows.append((name, band, core.sum(), (~changed(masked))[core].mean(),
                             room.sum(), changed(masked)[room].mean(), changed(full)[room].mean()))
    print(f"| image | band px | person px | person kept | background px | background styled "
          f"| styled with no mask |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, band, npx, kept, nbg, styled, ceiling in rows:
        print(f"| {name} | {band} | {npx} | {100 * kept:.1f} % | {nbg} | {100 * styled:.1f} % "
              f"| {100 * ceiling:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

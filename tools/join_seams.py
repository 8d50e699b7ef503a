#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How visible the joins of a segmented stylisation are over time.

    join_seams.py INPUT_DIR OUTPUT_DIR --seams T1,T2,...

INPUT_DIR and OUTPUT_DIR hold the input and stylised frames as numbered PNGs (as for
warp_error.py); T1, T2, ... are the frame numbers (0-based, in sorted order) that begin a
segment. The warping error of every pair of consecutive frames is computed as warp_error.py does;
the pairs (T-1, T) are the seams, every other pair the rest. For each group the figure is the
stylised frames' warping error over the input frames' own on the same pairs (sums over the
group), so a seam that is no more visible than any other frame-to-frame change scores the same
as the rest. Prints one JSON line: both ratios, their quotient, the mean errors, a 95 % interval
of the quotient (bootstrap: the seam pairs and the other pairs resampled with replacement, 4000
times, seeded) and where each seam pair's own ratio falls among the other pairs' (0 = below every
one of them, 1 = above every one).

Needs numpy, Pillow and opencv-python-headless.
"""

import argparse
import json
import pathlib
import random
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from warp_error import pair_errors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("input_dir", type=pathlib.Path)
    ap.add_argument("output_dir", type=pathlib.Path)
    ap.add_argument("--seams", required=True, help="frame numbers that begin a segment")
    args = ap.parse_args()
    names = sorted(p.name for p in args.input_dir.glob("*.png"))
    seams = {int(t) for t in args.seams.split(",") if t}
    if len(names) < 2 or not seams or max(seams) >= len(names) or min(seams) < 1:
        raise SystemExit(f"{len(names)} frames; seams must lie in 1..{len(names) - 1}")
    groups = {"seam": [[], []], "rest": [[], []]}
    for t, (e_in, e_out, _) in enumerate(pair_errors(args.input_dir, args.output_dir, names), 1):
        if e_in is None:
            continue
        group = groups["seam" if t in seams else "rest"]
        group[0].append(e_in)
        group[1].append(e_out)
    if not groups["seam"][0] or not groups["rest"][0]:
        raise SystemExit("no seam pair or no other pair kept pixels through the occlusion check")
    result = {}
    for name, (e_in, e_out) in groups.items():
        result[f"{name}_ratio"] = sum(e_out) / sum(e_in)
        result[f"{name}_output_error"] = sum(e_out) / len(e_out)
        result[f"{name}_pairs"] = len(e_out)
    result["seam_over_rest"] = result["seam_ratio"] / result["rest_ratio"]
    seam, rest = (list(zip(*groups[name])) for name in ("seam", "rest"))
    result["seam_over_rest_95"] = interval(seam, rest)
    rest_ratios = sorted(o / i for i, o in rest)
    result["seam_percentiles"] = [
        round(sum(r < o / i for r in rest_ratios) / len(rest_ratios), 3) for i, o in seam
    ]
    print(json.dumps(result))


def ratio(pairs):
    """Summed output error over summed input error of (input, output) pairs."""
    return sum(o for _, o in pairs) / sum(i for i, _ in pairs)


def interval(seam, rest, draws=4000):
    """95 % bootstrap interval of ratio(seam) / ratio(rest)."""
    rng = random.Random(0)
    quotients = sorted(
        ratio(rng.choices(seam, k=len(seam))) / ratio(rng.choices(rest, k=len(rest)))
        for _ in range(draws)
    )
    return [quotients[int(0.025 * draws)], quotients[int(0.975 * draws) - 1]]


if __name__ == "__main__":
    main()

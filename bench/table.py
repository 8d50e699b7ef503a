#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Formats the JSON lines of scripts/bench.sh as one markdown table per device: median and fastest
time per frame, and each configuration's speed against the fp32 PyTorch eager reference and
against the reference in the same precision (PyTorch's autocast), both of the same run and size."""

import json
import sys


def main(path: str) -> int:
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    for device in dict.fromkeys(r["device"] for r in rows):
        here = [r for r in rows if r["device"] == device]
        ref = {(r["width"], r["height"], r["precision"]): r for r in here if r["impl"] == "reference"}
        print(f"\n### {device}\n")
        print("| size | network | implementation | precision | frames | median ms | min ms | frames/s "
              "| achieved GFLOP/s | peak RSS MB | vs fp32 reference | vs reference, same precision |")
        print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        order = {"model": 0, "element": 1, "reference": 2}
        for r in sorted(here, key=lambda r: (r["width"] * r["height"], r.get("model", "full"),
                                             order[r["impl"]], r["precision"])):
            size = (r["width"], r["height"])

            def ratio(p):
                base = ref.get((*size, p))
                if not base or base is r:
                    return ""
                return f"{r['fps'] / base['fps']:.2f}x"

            print(f"| {r['width']}x{r['height']} | {r.get('model', 'full')} | {r['impl']} | "
                  f"{r['precision']} | {r.get('frames', '')} | "
                  f"{r['ms']:.1f} | {r.get('ms_min', r['ms']):.1f} | {r['fps']:.2f} | {r['gflops']:.0f} | "
                  f"{r['peak_rss_mb']:.0f} | {ratio('fp32')} | {ratio(r['precision'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

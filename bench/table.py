#!/usr/bin/env python3
"""Formats the JSON lines of scripts/bench.sh as one markdown table per device, with the ratio
of each element configuration to the fp32 PyTorch eager reference of the same run and size."""

import json
import sys


def main(path: str) -> int:
    rows = [json.loads(line) for line in open(path) if line.strip().startswith("{")]
    for device in dict.fromkeys(r["device"] for r in rows):
        here = [r for r in rows if r["device"] == device]
        ref = {(r["width"], r["height"]): r for r in here if r["impl"] == "reference"}
        print(f"\n### {device}\n")
        print("| size | implementation | precision | ms/frame | frames/s | GFLOP/frame | achieved GFLOP/s "
              "| peak RSS MB | vs reference |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        order = {"model": 0, "element": 1, "reference": 2}
        for r in sorted(here, key=lambda r: (r["width"] * r["height"], order[r["impl"]], r["precision"])):
            base = ref.get((r["width"], r["height"]))
            ratio = f"{r['fps'] / base['fps']:.2f}x" if base and r["impl"] != "reference" else ""
            print(f"| {r['width']}x{r['height']} | {r['impl']} | {r['precision']} | {r['ms']:.1f} | "
                  f"{r['fps']:.2f} | {r['gflop_per_frame']:.0f} | {r['gflops']:.0f} | {r['peak_rss_mb']:.0f} | "
                  f"{ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

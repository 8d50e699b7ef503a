# SPDX-License-Identifier: MIT
"""Where a file is cut into segments: at keyframes, about ``segment_s`` apart.

Pure functions over the JSON index ``video-index`` prints, so they are tested without a cluster.
"""

from dataclasses import dataclass
from typing import List, Optional

NS = 1_000_000_000


@dataclass(frozen=True)
class Segment:
    """One unit of work: the frames with stream time in ``[start_ns, end_ns)``.

    ``warmup_ns`` is how much of the video before ``start_ns`` is stylised and encoded, not
    written, so temporal smoothing and the encoder's rate control have settled by the segment's
    first frame (0 for the first segment); ``cooldown_ns`` how much after ``end_ns`` is, so the
    encoder codes the segment's last frames as in the middle of a stream (0 for the last one).
    """

    index: int
    start_ns: int
    end_ns: Optional[int]
    frames: int
    warmup_ns: int
    cooldown_ns: int = 0


def plan(index: dict, segment_s: float, warmup_s: float, cooldown_s: float = 0.0) -> List[Segment]:
    """Cuts the file ``index`` describes at the first keyframe at least ``segment_s`` after the
    previous cut; a cut that would leave a last segment shorter than a quarter of ``segment_s``
    is not made. ``segment_s <= 0`` keeps the file whole."""
    pts = sorted(index["pts_ns"])
    if not pts:
        raise ValueError(f"{index.get('path', 'input')}: no video frames")
    frames = set(pts)
    keyframes = sorted(k for k in index["keyframes_ns"] if k in frames and k > pts[0])
    length = int(segment_s * NS)
    cuts = []
    if length > 0:
        last = pts[-1]
        previous = pts[0]
        for k in keyframes:
            if k - previous >= length and last - k >= length // 4:
                cuts.append(k)
                previous = k
    bounds = [0] + cuts + [None]
    warmup = max(0, int(warmup_s * NS))
    cooldown = max(0, int(cooldown_s * NS))
    segments = []
    for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
        count = sum(1 for t in pts if t >= start and (end is None or t < end))
        segments.append(
            Segment(
                index=i,
                start_ns=start,
                end_ns=end,
                frames=count,
                warmup_ns=min(warmup, start),
                cooldown_ns=0 if end is None else cooldown,
            )
        )
    return segments


def first_frame_ns(index: dict, segment: Segment) -> int:
    """Stream time of the segment's first frame (where ``join-segments`` puts it back)."""
    return min(t for t in index["pts_ns"] if t >= segment.start_ns)


def seconds(ns: Optional[int]) -> str:
    """Nanoseconds as the exact decimal seconds ``stylize-file`` and ``join-segments`` take."""
    return f"{ns // NS}.{ns % NS:09d}"

# SPDX-License-Identifier: MIT
"""Segment planning and the manifest, without a cluster (run by tests/batch.rs)."""

import os
import tempfile
import time
import unittest

from adainstyle_batch import manifest as mf
from adainstyle_batch import plan as pl
from adainstyle_batch import tasks

MS = 1_000_000


def index(frames, fps, keyframe_every, first=0):
    pts = [first + round(i * 1000 / fps) * MS for i in range(frames)]
    return {"path": "clip.mp4", "pts_ns": pts, "keyframes_ns": pts[::keyframe_every]}


class PlanTest(unittest.TestCase):
    def test_segments_cover_every_frame_once_and_start_on_keyframes(self):
        ix = index(300, 30, 12)
        segments = pl.plan(ix, 2.0, 0.5)
        self.assertEqual(sum(s.frames for s in segments), 300)
        self.assertEqual(segments[0].start_ns, 0)
        self.assertIsNone(segments[-1].end_ns)
        for a, b in zip(segments, segments[1:]):
            self.assertEqual(a.end_ns, b.start_ns)
            self.assertIn(b.start_ns, ix["keyframes_ns"])
            self.assertGreaterEqual(b.start_ns - a.start_ns, 2000 * MS)
            self.assertEqual(b.warmup_ns, 500 * MS)
        self.assertEqual(segments[0].warmup_ns, 0)
        self.assertEqual([s.index for s in segments], list(range(len(segments))))

    def test_no_short_tail_and_zero_length_keeps_the_file_whole(self):
        ix = index(65, 30, 30)  # keyframes at 0, 1 s, 2 s; last frame at 2.133 s
        self.assertEqual(len(pl.plan(ix, 1.0, 0.0)), 2)  # a cut at 2 s would leave 5 frames
        whole = pl.plan(ix, 0.0, 1.0)
        self.assertEqual(len(whole), 1)
        self.assertEqual(whole[0].frames, 65)

    def test_warmup_is_clamped_to_the_start_and_first_frames_are_found(self):
        ix = index(90, 30, 15, first=5 * MS)
        segments = pl.plan(ix, 0.4, 10.0)
        for s in segments[1:]:
            self.assertEqual(s.warmup_ns, s.start_ns)
        self.assertEqual(pl.first_frame_ns(ix, segments[0]), 5 * MS)

    def test_every_segment_but_the_last_cools_down(self):
        segments = pl.plan(index(300, 30, 12), 2.0, 0.5, 0.75)
        self.assertGreater(len(segments), 2)
        for s in segments[:-1]:
            self.assertEqual(s.cooldown_ns, 750 * MS)
        self.assertEqual(segments[-1].cooldown_ns, 0)  # nothing after the file's end

    def test_seconds_are_exact(self):
        self.assertEqual(pl.seconds(66_666_667), "0.066666667")
        self.assertEqual(pl.seconds(12_000_000_001), "12.000000001")


class ManifestTest(unittest.TestCase):
    def test_records_survive_a_reload_and_changes_change_fingerprints(self):
        with tempfile.TemporaryDirectory() as out:
            style = os.path.join(out, "style.jpg")
            with open(style, "w") as f:
                f.write("a")
            first = mf.fingerprint(mf.file_identity(style), ["--alpha", "1"])
            self.assertEqual(first, mf.fingerprint(mf.file_identity(style), ["--alpha", "1"]))
            self.assertNotEqual(first, mf.fingerprint(mf.file_identity(style), ["--alpha", "0.5"]))
            time.sleep(0.01)
            with open(style, "w") as f:
                f.write("b")
            self.assertNotEqual(first, mf.fingerprint(mf.file_identity(style), ["--alpha", "1"]))

            m = mf.Manifest(out)
            key = "ab" * 32
            self.assertFalse(m.finished_segment(key, 10))
            with open(m.segment_file(key), "w") as f:
                f.write("segment")
            m.record_segment(key, frames=10)
            again = mf.Manifest(out)
            self.assertTrue(again.finished_segment(key, 10))
            self.assertFalse(again.finished_segment(key, 11))
            os.remove(again.segment_file(key))
            self.assertFalse(again.finished_segment(key, 10))


class ErrorTextTest(unittest.TestCase):
    def test_anyhow_reports_become_one_line_without_backtraces(self):
        report = (
            "Error: in.mp4: cannot index the video\n\nCaused by:\n"
            "    0: no video frames\n    1: bad atom\n\nStack backtrace:\n   0: main\n"
        )
        self.assertEqual(
            tasks.error_text(report), "in.mp4: cannot index the video: no video frames: bad atom"
        )
        self.assertEqual(tasks.error_text("warning\nsegfault\n"), "warning / segfault")

    def test_the_binaries_one_line_errors_are_their_cause(self):
        element = (
            "0:00:01.2 WARN some log line\n"
            "stylize-file: error: in.mp4: adainstyle0: Cannot load the model: w.safetensors: "
            "holds the weights of the lite network\n"
        )
        self.assertEqual(
            tasks.error_text(element),
            "in.mp4: adainstyle0: Cannot load the model: w.safetensors: holds the weights of "
            "the lite network",
        )
        clap = (
            "error: invalid value for --preserve-color <preserve-color>: `x` is not one of none"
            "\n\nFor more information, try '--help'.\n"
        )
        self.assertEqual(
            tasks.error_text(clap),
            "invalid value for --preserve-color <preserve-color>: `x` is not one of none",
        )


if __name__ == "__main__":
    unittest.main()

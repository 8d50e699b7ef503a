# SPDX-License-Identifier: MIT
"""The output folder's record of finished work.

``<output>/.adainstyle-batch/manifest.json`` maps the fingerprint of every finished segment (the
input file's identity, the stylising options, the identity of every file they name, and the
segment's time range) to the segment file, and the fingerprint of every finished output file to
its path. A restarted driver reuses exactly the entries whose fingerprints it computes again;
anything made with other options or from a changed input has another fingerprint and is redone.
Only the driver writes it, atomically (a temporary file renamed over it).
"""

import hashlib
import json
import os
from typing import Iterable

WORK_DIR = ".adainstyle-batch"
VERSION = 1


def file_identity(path: str) -> dict:
    """What says a file is unchanged: its real path, size and modification time."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def fingerprint(*parts) -> str:
    """A stable hash of JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Manifest:
    """The finished segments and outputs of one output folder."""

    def __init__(self, output_dir: str):
        self.work_dir = os.path.join(output_dir, WORK_DIR)
        self.path = os.path.join(self.work_dir, "manifest.json")
        os.makedirs(self.work_dir, exist_ok=True)
        self.segments = {}
        self.outputs = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                data = json.load(f)
            if data.get("version") == VERSION:
                self.segments = data.get("segments", {})
                self.outputs = data.get("outputs", {})

    def segment_file(self, key: str) -> str:
        """Where the segment with fingerprint ``key`` is written."""
        return os.path.join(self.work_dir, f"seg-{key[:24]}.mp4")

    def finished_segment(self, key: str, frames: int) -> bool:
        """Whether the segment ``key`` is recorded with ``frames`` frames and its file is there."""
        entry = self.segments.get(key)
        return bool(
            entry
            and entry.get("frames") == frames
            and os.path.isfile(self.segment_file(key))
        )

    def finished_output(self, key: str, path: str) -> bool:
        """Whether the output with fingerprint ``key`` was completed at ``path`` and is there."""
        entry = self.outputs.get(key)
        return bool(entry and entry.get("path") == path and os.path.isfile(path))

    def record_segment(self, key: str, **info) -> None:
        """Marks a segment finished and writes the manifest."""
        self.segments[key] = info
        self.save()

    def record_output(self, key: str, **info) -> None:
        """Marks an output finished and writes the manifest."""
        self.outputs[key] = info
        self.save()

    def forget_segments(self, keys: Iterable[str]) -> None:
        """Deletes finished segments (their output is complete) and their records."""
        for key in keys:
            self.segments.pop(key, None)
            try:
                os.remove(self.segment_file(key))
            except FileNotFoundError:
                pass
        self.save()

    def remove_partial_files(self) -> None:
        """Deletes what attempts that died left half-written (call when no task runs)."""
        for name in os.listdir(self.work_dir):
            if ".part-" in name or ".tmp-" in name:
                os.remove(os.path.join(self.work_dir, name))

    def save(self) -> None:
        """Writes the manifest atomically."""
        tmp = f"{self.path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(
                {"version": VERSION, "segments": self.segments, "outputs": self.outputs},
                f,
                indent=1,
                sort_keys=True,
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

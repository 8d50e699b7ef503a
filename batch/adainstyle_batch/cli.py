# SPDX-License-Identifier: MIT
"""``adainstyle-batch``: stylise video files or folders of them on a Ray cluster.

    adainstyle-batch INPUT... --output DIR [--address HOST:PORT] [element options]

Each input is indexed on a worker, cut into segments at keyframes, every segment stylised as its
own Ray task by ``stylize-file`` (with ``--cpus-per-task`` / ``--gpus-per-task`` reserved for it, and
libtorch given that many threads), and the segments of a file joined, without re-encoding, with
the input's audio, into ``DIR/<name>.mp4``. Inputs and ``DIR`` must be on storage every node sees
at the same path, and the binaries in ``--bin-dir`` on every node. Exit status: 0 when every file
was stylised, 1 when some failed (each named with its cause in the summary), 2 on bad usage.
"""

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import manifest as mf
from . import plan as pl
from . import tasks

VIDEO_SUFFIXES = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
}
# Element options: (flag, kind); each is passed on to stylize-file as the same flag when given.
ELEMENT_OPTIONS = [
    ("--style", str, "style image, or a blend PATH:WEIGHT,PATH:WEIGHT (default: the shipped one)"),
    ("--alpha", float, "style strength, 0..1"),
    ("--model", str, "auto, full or lite"),
    ("--precision", str, "auto, fp32, fp16 or bf16"),
    ("--device", str, "auto, cpu, cuda or cuda:N (on the node)"),
    ("--processing-size", int, "longest edge the network runs at (0 = the video's size)"),
    ("--temporal-smoothing", float, "steadiness over time, 0 = off"),
    ("--preserve-color", str, "none, coral or luminance"),
    ("--mask", str, "grey mask image (white = styled) or `alpha`"),
    ("--style-outside", str, "style outside the mask (default: the content is kept)"),
    ("--encoder", str, "the full model's encoder weights"),
    ("--decoder", str, "trained weights of the model"),
    ("--bitrate", int, "x264 bitrate of the output in kbit/s"),
]
# Options whose value names files: their identity goes into the fingerprint.
FILE_OPTIONS = {"--mask", "--encoder", "--decoder"}
STYLE_OPTIONS = {"--style", "--style-outside"}


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="adainstyle-batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("inputs", nargs="+", help="video files, or folders searched for them")
    ap.add_argument("-o", "--output", required=True, help="output folder")
    ap.add_argument(
        "--address",
        help="Ray cluster to use (HOST:PORT or `auto`); default: $RAY_ADDRESS, else start a "
        "local one",
    )
    ap.add_argument("--num-cpus", type=int, help="CPUs of the local cluster (default: all)")
    ap.add_argument("--segment-seconds", type=float, default=30.0,
                    help="cut files at the first keyframe this long after the previous cut")
    ap.add_argument("--warmup-seconds", type=float, default=1.0,
                    help="video before each segment stylised and encoded, not written, so "
                    "smoothing and x264's rate control settle")
    ap.add_argument("--cooldown-seconds", type=float, default=1.0,
                    help="video after each segment stylised and encoded, not written, so x264 "
                    "codes the segment's last frames as in the middle of a stream")
    ap.add_argument("--cpus-per-task", type=float, default=1.0,
                    help="CPUs reserved per segment task (libtorch gets that many threads)")
    ap.add_argument("--gpus-per-task", type=float, default=0.0, help="GPUs per segment task")
    ap.add_argument("--retries", type=int, default=3,
                    help="retries of a segment whose worker or binary is killed")
    ap.add_argument("--bin-dir", help="folder with stylize-file, video-index and join-segments "
                    "on every node (default: $ADAINSTYLE_BIN_DIR, then PATH, then the checkout's "
                    "target/release/examples)")
    ap.add_argument("--keep-segments", action="store_true",
                    help="keep each file's stylised segments once its output is complete")
    ap.add_argument("--progress-every", type=float, default=5.0,
                    help="seconds between progress lines")
    group = ap.add_argument_group("element options (as stylize-file takes them)")
    for flag, kind, text in ELEMENT_OPTIONS:
        group.add_argument(flag, type=kind, help=text)
    return ap.parse_args(argv)


def find_bin_dir(given: Optional[str]) -> str:
    """The folder holding the project's binaries (see ``--bin-dir``)."""
    candidates = [given, os.environ.get("ADAINSTYLE_BIN_DIR")]
    on_path = shutil.which("stylize-file")
    candidates.append(os.path.dirname(on_path) if on_path else None)
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates.append(os.path.join(checkout, "target", "release", "examples"))
    for c in candidates:
        if c and all(
            os.access(os.path.join(c, b), os.X_OK)
            for b in ("stylize-file", "video-index", "join-segments")
        ):
            return os.path.abspath(c)
    raise SystemExit(
        "adainstyle-batch: stylize-file, video-index and join-segments not found; build them "
        "(cargo build --release --examples) and pass --bin-dir"
    )


def collect_inputs(paths: List[str], output_dir: str) -> List[tuple]:
    """(input, output) pairs; folders are searched recursively and keep their layout."""
    pairs = []
    for given in paths:
        if os.path.isdir(given):
            for root, dirs, files in os.walk(given):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES:
                        path = os.path.join(root, name)
                        rel = os.path.relpath(path, given)
                        pairs.append((path, rel))
        elif os.path.isfile(given):
            pairs.append((given, os.path.basename(given)))
        else:
            raise SystemExit(f"adainstyle-batch: {given}: no such file or folder")
    seen = {}
    result = []
    for path, rel in pairs:
        out = os.path.join(os.path.abspath(output_dir), os.path.splitext(rel)[0] + ".mp4")
        if out in seen:
            raise SystemExit(
                f"adainstyle-batch: {path} and {seen[out]} would both be written to {out}"
            )
        seen[out] = path
        result.append((os.path.abspath(path), out))
    return result


def element_options(args) -> tuple:
    """The stylize-file arguments for the element options given, and the identity of every
    file they name (for the fingerprint)."""
    argv, files = [], []

    def identity(flag, path):
        try:
            return mf.file_identity(path)
        except OSError as err:
            raise SystemExit(f"adainstyle-batch: {flag} {path}: {err.strerror}") from None

    for flag, _, _ in ELEMENT_OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None:
            continue
        if flag in FILE_OPTIONS and not (flag == "--mask" and value == "alpha"):
            value = os.path.abspath(value)
            files.append(identity(flag, value))
        if flag in STYLE_OPTIONS:
            for p in mf.style_paths(value):
                files.append(identity(flag, p))
            value = ",".join(
                os.path.abspath(item) if os.path.exists(item) else item
                for item in value.split(",")
            )
        argv += [flag, str(value)]
    return argv, files


@dataclass
class FileJob:
    """One input's way through the job."""

    input: str
    output: str
    key: str
    status: str = "waiting"  # indexing, stylising, joining, done, failed, skipped
    error: Optional[str] = None
    index: Optional[dict] = None
    segments: List[pl.Segment] = field(default_factory=list)
    segment_keys: List[str] = field(default_factory=list)
    remaining: set = field(default_factory=set)
    reused: int = 0
    frames: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0


class Job:
    """Drives every file through index, segments and join with one ``ray.wait`` loop."""

    def __init__(self, args, ray, pairs, bin_dir, options):
        self.args = args
        self.ray = ray
        self.pending: Dict = {}  # ObjectRef -> (kind, FileJob, segment number)
        self.bin_dir = bin_dir
        self.manifest = mf.Manifest(args.output)
        self.options, files = options
        self.threads = max(1, int(args.cpus_per_task))
        light = {"num_cpus": 0.5, "max_retries": args.retries}
        self.index_task = ray.remote(tasks.index).options(**light)
        self.join_task = ray.remote(tasks.join).options(**light)
        self.segment_task = ray.remote(tasks.stylise_segment).options(
            num_cpus=args.cpus_per_task,
            num_gpus=args.gpus_per_task,
            max_retries=args.retries,
            retry_exceptions=[tasks.Killed],
        )
        self.files = []
        for path, out in pairs:
            try:
                identity = mf.file_identity(path)
            except OSError as err:
                job = FileJob(path, out, "")
                self.fail(job, f"{path}: {err.strerror}")
                self.files.append(job)
                continue
            key = mf.fingerprint(
                identity,
                out,
                self.options,
                files,
                args.segment_seconds,
                args.warmup_seconds,
                args.cooldown_seconds,
            )
            self.files.append(FileJob(path, out, key))
        self.total_frames = 0
        self.done_frames = 0
        self.made_frames = 0
        self.started = time.monotonic()
        self.last_report = 0.0

    def fail(self, job: FileJob, message: str) -> None:
        if not message.startswith(job.input):
            message = f"{job.input}: {message}"
        job.status, job.error = "failed", message
        job.seconds = time.monotonic() - job.started
        for ref, (_, other, _) in list(self.pending.items()):
            if other is job:
                self.ray.cancel(ref)
                del self.pending[ref]
        print(f"[batch] FAILED {message}", flush=True)

    def run(self) -> None:
        for job in self.files:
            if job.status == "failed":
                continue
            if self.manifest.finished_output(job.key, job.output):
                job.status = "skipped"
                entry = self.manifest.outputs[job.key]
                job.frames = entry.get("frames", 0)
                print(f"[batch] {job.output} is complete with these options, kept", flush=True)
                continue
            job.status = "indexing"
            ref = self.index_task.remote(self.bin_dir, job.input)
            self.pending[ref] = ("index", job, None)
        while self.pending:
            ready, _ = self.ray.wait(
                list(self.pending), num_returns=1, timeout=self.args.progress_every
            )
            for ref in ready:
                if ref not in self.pending:
                    continue
                kind, job, number = self.pending.pop(ref)
                try:
                    result = self.ray.get(ref)
                except Exception as err:  # a task's failure, reported per file
                    self.fail(job, describe(err))
                    continue
                getattr(self, f"on_{kind}")(job, number, result)
            self.report(force=bool(ready) and not self.pending)
        self.manifest.remove_partial_files()
        for job in self.files:  # joins that died half-written
            directory, name = os.path.split(job.output)
            if os.path.isdir(directory):
                for other in os.listdir(directory):
                    if other.startswith(f".{name}.part-"):
                        os.remove(os.path.join(directory, other))

    def on_index(self, job: FileJob, _number, index: dict) -> None:
        job.index = index
        try:
            job.segments = pl.plan(
                index,
                self.args.segment_seconds,
                self.args.warmup_seconds,
                self.args.cooldown_seconds,
            )
        except ValueError as err:
            self.fail(job, str(err))
            return
        job.frames = index["frames"]
        self.total_frames += job.frames
        os.makedirs(os.path.dirname(job.output), exist_ok=True)
        job.status = "stylising"
        for seg in job.segments:
            key = mf.fingerprint(
                job.key, seg.start_ns, seg.end_ns, seg.warmup_ns, seg.cooldown_ns, seg.frames
            )
            job.segment_keys.append(key)
            if self.manifest.finished_segment(key, seg.frames):
                job.reused += 1
                self.done_frames += seg.frames
                continue
            job.remaining.add(seg.index)
            ref = self.segment_task.remote(
                self.bin_dir,
                job.input,
                self.manifest.segment_file(key),
                self.options,
                seg.start_ns,
                seg.end_ns,
                seg.warmup_ns,
                seg.cooldown_ns,
                seg.frames,
                self.threads,
            )
            self.pending[ref] = ("segment", job, seg.index)
        print(
            f"[batch] {job.input}: {job.frames} frames, {len(job.segments)} segments"
            + (f" ({job.reused} already done)" if job.reused else ""),
            flush=True,
        )
        if not job.remaining:
            self.start_join(job)

    def on_segment(self, job: FileJob, number: int, result: dict) -> None:
        seg = job.segments[number]
        key = job.segment_keys[number]
        self.manifest.record_segment(
            key,
            input=job.input,
            index=number,
            frames=seg.frames,
            start_ns=seg.start_ns,
            end_ns=seg.end_ns,
            node=result["node"],
            seconds=round(result["seconds"], 3),
        )
        self.done_frames += seg.frames
        self.made_frames += seg.frames
        job.remaining.discard(number)
        if not job.remaining:
            self.start_join(job)

    def start_join(self, job: FileJob) -> None:
        job.status = "joining"
        starts = [pl.first_frame_ns(job.index, s) for s in job.segments]
        ref = self.join_task.remote(
            self.bin_dir,
            job.input,
            [self.manifest.segment_file(k) for k in job.segment_keys],
            starts,
            job.index.get("audio_streams", 0) > 0,
            job.output,
            job.frames,
        )
        self.pending[ref] = ("join", job, None)

    def on_join(self, job: FileJob, _number, result: dict) -> None:
        self.manifest.record_output(
            job.key, path=job.output, input=job.input, frames=job.frames,
            segments=job.segment_keys,
        )
        if not self.args.keep_segments:
            self.manifest.forget_segments(job.segment_keys)
        job.status = "done"
        job.seconds = time.monotonic() - job.started
        print(f"[batch] {job.output} done", flush=True)

    def report(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_report < self.args.progress_every:
            return
        self.last_report = now
        elapsed = now - self.started
        fps = self.made_frames / elapsed if elapsed > 0 else 0.0
        waiting = sum(1 for j in self.files if j.status == "indexing")
        total = f"{self.total_frames}" + (f"+ ({waiting} files being indexed)" if waiting else "")
        share = 100.0 * self.done_frames / self.total_frames if self.total_frames else 0.0
        left = self.total_frames - self.done_frames
        eta = f"{left / fps:.0f} s" if fps > 0 and not waiting else "?"
        print(
            f"[batch] {self.done_frames}/{total} frames ({share:.1f} %), {fps:.2f} frames/s, "
            f"ETA {eta}, {elapsed:.0f} s elapsed",
            flush=True,
        )

    def summary(self) -> int:
        print("[batch] summary:")
        failed = 0
        for job in self.files:
            if job.status == "failed":
                failed += 1
                print(f"  FAILED  {job.error}")
            elif job.status == "skipped":
                print(f"  kept    {job.output} ({job.frames} frames, complete before this run)")
            else:
                made = len(job.segments) - job.reused
                print(
                    f"  done    {job.output}: {job.frames} frames, {made} segments stylised, "
                    f"{job.reused} reused, {job.seconds:.1f} s"
                )
        elapsed = time.monotonic() - self.started
        print(
            f"[batch] {len(self.files) - failed}/{len(self.files)} files, {self.made_frames} "
            f"frames stylised in {elapsed:.1f} s "
            f"({self.made_frames / elapsed if elapsed else 0:.2f} frames/s)",
            flush=True,
        )
        return 1 if failed else 0


def describe(err: Exception) -> str:
    """The message of a task's failure, without Ray's traceback around it."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, (tasks.TaskError, tasks.Killed)):
        return str(cause)
    text = str(cause or err).strip().splitlines()
    return text[-1] if text else type(err).__name__


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bin_dir = find_bin_dir(args.bin_dir)
    pairs = collect_inputs(args.inputs, args.output)
    if not pairs:
        raise SystemExit("adainstyle-batch: no video files in the inputs")
    # Checked before a cluster is joined or started: a missing style or mask file ends here.
    options = element_options(args)
    os.makedirs(args.output, exist_ok=True)
    import logging

    import ray

    init = {"log_to_driver": False, "logging_level": logging.WARNING}
    address = args.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **init)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, **init)
    try:
        job = Job(args, ray, pairs, bin_dir, options)
        job.run()
        return job.summary()
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: MIT
"""``adainstyle-batch``: stylise video files or folders of them on a Ray cluster.

    adainstyle-batch INPUT... --output DIR [--address HOST:PORT] [element options]

Each input is indexed on a worker, cut into segments at keyframes, every segment stylised as its
own Ray task by ``stylize-file`` (with ``--cpus-per-task`` / ``--gpus-per-task`` reserved for it, and
libtorch given that many threads), and the segments of a file joined, without re-encoding, with
the input's audio, into ``DIR/<name>.mp4``. Inputs and ``DIR`` must be on storage every node sees
at the same path, and the binaries in ``--bin-dir`` on every node. The element options are the
ones ``stylize-file --print-options`` declares; they, the inputs, the output folder and the
resources asked for are checked before any work, and paths are handed to the nodes absolute.
Exit status: 0 when every file was stylised, 1 when some failed (each named with its cause in
the summary), 2 on bad usage (one line saying what is wrong; nothing done).
"""

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from . import manifest as mf
from . import options as opts
from . import plan as pl
from . import tasks
from .options import UsageError

VIDEO_SUFFIXES = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
}
BINARIES = ("stylize-file", "video-index", "join-segments")


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (``adainstyle-batch: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv: List[str]):
    """The command line, with the element options ``stylize-file --print-options`` declares
    (``--bin-dir`` is read first to find it). ``bin_dir`` is set to the binaries' folder,
    ``element`` to the element options given (``--flag=value``), ``output`` made absolute."""
    early = Parser(prog="adainstyle-batch", add_help=False)
    early.add_argument("--bin-dir")
    try:
        bin_dir = find_bin_dir(early.parse_known_args(argv)[0].bin_dir)
        specs, missing = opts.declared(bin_dir), None
    except UsageError as err:
        if not {"-h", "--help"} & set(argv):
            raise
        bin_dir, specs, missing = None, [], str(err)
    args = build_parser(specs, missing).parse_args(argv)
    args.bin_dir = bin_dir
    args.element = opts.given(args, specs)
    args.output = os.path.abspath(args.output)
    return args


def build_parser(specs: List[dict], missing: Optional[str] = None) -> Parser:
    """The driver's options and the element options ``specs``; ``missing`` says why there are
    none (shown by --help)."""
    ap = Parser(
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
    ap.add_argument("--bitrate", type=int, help="x264 bitrate of the output in kbit/s "
                    "(stylize-file's default unless given)")
    group = ap.add_argument_group(
        "element options (as stylize-file --print-options declares them)",
        f"none: {missing}" if missing else None,
    )
    opts.add_arguments(group, specs)
    return ap


def find_bin_dir(given: Optional[str]) -> str:
    """The folder holding the project's binaries (see ``--bin-dir``)."""
    candidates = [given, os.environ.get("ADAINSTYLE_BIN_DIR")]
    on_path = shutil.which("stylize-file")
    candidates.append(os.path.dirname(on_path) if on_path else None)
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    candidates.append(os.path.join(checkout, "target", "release", "examples"))
    for c in candidates:
        if c and all(os.access(os.path.join(c, b), os.X_OK) for b in BINARIES):
            return os.path.abspath(c)
    raise UsageError(
        "stylize-file, video-index and join-segments not found; build them "
        "(cargo build --release --examples) and pass --bin-dir"
    )


def check_numbers(args) -> None:
    """:class:`UsageError` for a count, resource or time no job can run with."""
    for flag, value, ok, need in (
        ("--num-cpus", args.num_cpus, args.num_cpus is None or args.num_cpus >= 1, "at least 1"),
        ("--cpus-per-task", args.cpus_per_task, args.cpus_per_task > 0, "more than 0"),
        ("--gpus-per-task", args.gpus_per_task, args.gpus_per_task >= 0, "0 or more"),
        ("--retries", args.retries, args.retries >= 0, "0 or more"),
        ("--progress-every", args.progress_every, args.progress_every > 0, "more than 0"),
        ("--segment-seconds", args.segment_seconds, math.isfinite(args.segment_seconds),
         "a number"),
        ("--warmup-seconds", args.warmup_seconds, math.isfinite(args.warmup_seconds),
         "a number"),
        ("--cooldown-seconds", args.cooldown_seconds, math.isfinite(args.cooldown_seconds),
         "a number"),
    ):
        if not ok:
            raise UsageError(f"{flag} {value}: must be {need}")


def check_fits(args, nodes: List[dict], kinds=("CPU", "GPU")) -> None:
    """:class:`UsageError` when a segment task asks for more CPUs or GPUs (``kinds``) than the
    largest of ``nodes`` (their Ray resources) has: Ray would wait for such a node forever."""
    for kind in kinds:
        want = getattr(args, f"{kind.lower()}s_per_task")
        most = max((node.get(kind, 0.0) for node in nodes), default=0.0)
        if want > most:
            raise UsageError(
                f"--{kind.lower()}s-per-task {want:g}: no node has that many {kind}s "
                f"(the largest has {most:g})"
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
            raise UsageError(f"{given}: no such file or folder")
    seen = {}
    result = []
    for path, rel in pairs:
        out = os.path.join(os.path.abspath(output_dir), os.path.splitext(rel)[0] + ".mp4")
        if out in seen:
            raise UsageError(f"{path} and {seen[out]} would both be written to {out}")
        seen[out] = path
        result.append((os.path.abspath(path), out))
    return result


def refuse_overwrites(folders: List[str], output_dir: str, pairs: List[tuple]) -> None:
    """:class:`UsageError` when the output folder is, or is inside, an input folder (its outputs
    would be read as inputs), or an output is an input file (by path, symlink or hard link)."""
    out_real = os.path.realpath(output_dir)
    for given in folders:
        real = os.path.realpath(given)
        if os.path.isdir(given) and (out_real + os.sep).startswith(real.rstrip(os.sep) + os.sep):
            raise UsageError(
                f"the output folder {output_dir} is the input folder {given} or inside it"
            )
    inputs = {}
    for path, _ in pairs:
        try:
            st = os.stat(path)
        except OSError:
            continue  # reported as that file's failure
        inputs[(st.st_dev, st.st_ino)] = path
    for _, out in pairs:
        try:
            st = os.stat(out)
        except OSError:
            continue  # not there yet: not an input
        if (st.st_dev, st.st_ino) in inputs:
            raise UsageError(f"the output {out} is the input {inputs[(st.st_dev, st.st_ino)]}")


def element_options(args) -> tuple:
    """The stylize-file arguments of every segment (the element options as ``stylize-file
    --check`` returns them, paths absolute, and ``--bitrate``), and the identity of every file
    they name (for the fingerprint)."""
    encoding = [] if args.bitrate is None else [f"--bitrate={args.bitrate}"]
    flags, files = opts.check(args.bin_dir, args.element + encoding)
    identities = []
    for path in files:
        try:
            identities.append(mf.file_identity(path))
        except OSError as err:
            raise UsageError(f"{path}: {err.strerror}") from None
    return flags + encoding, identities


def prepare_output(output_dir: str) -> None:
    """Creates the output folder and its work folder, and writes a file there;
    :class:`UsageError` when that fails."""
    try:
        os.makedirs(os.path.join(output_dir, mf.WORK_DIR), exist_ok=True)
        with tempfile.TemporaryFile(dir=os.path.join(output_dir, mf.WORK_DIR)):
            pass
    except OSError as err:
        raise UsageError(
            f"cannot create or write the output folder {output_dir}: {err.strerror or err}"
        ) from None


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
    """Runs the job; the exit status (see the module's help)."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        print(f"adainstyle-batch: error: {err}", file=sys.stderr, flush=True)
        return 2


def run(argv: List[str]) -> int:
    """Checks everything a job needs (:class:`UsageError` on bad usage), then runs it."""
    args = parse_args(argv)
    check_numbers(args)
    address = args.address or os.environ.get("RAY_ADDRESS")
    if not address:  # the local cluster's one node, before starting it
        check_fits(args, [{"CPU": float(args.num_cpus or os.cpu_count() or 1)}], ("CPU",))
    pairs = collect_inputs(args.inputs, args.output)
    if not pairs:
        raise UsageError("no video files in the inputs")
    refuse_overwrites(args.inputs, args.output, pairs)
    # Checked before a cluster is joined or started: a bad value or missing file ends here.
    options = element_options(args)
    prepare_output(args.output)
    ray = start_ray(args, address)
    try:
        check_fits(args, [n["Resources"] for n in ray.nodes() if n.get("Alive")])
        job = Job(args, ray, pairs, args.bin_dir, options)
        job.run()
        return job.summary()
    finally:
        ray.shutdown()


def start_ray(args, address: Optional[str]):
    """Ray, joined to the cluster at ``address``, or to a local one it starts."""
    import logging

    import ray

    init = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address:
        ray.init(address=address, **init)
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, **init)
    return ray


if __name__ == "__main__":
    sys.exit(main())

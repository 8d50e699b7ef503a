# SPDX-License-Identifier: MIT
"""The work a Ray worker does: run one of the project's binaries on a file the node can read.

Every function here is a plain function (the driver wraps it with ``ray.remote``), takes and
returns plain data, and raises :class:`TaskError` with a message naming the input file when the
binary fails. A binary killed by a signal raises :class:`Killed`, which the driver lets Ray retry,
like a worker that dies. Outputs are written under a temporary name and renamed only once they
are checked complete, so a file at a final name is always whole.
"""

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import time
from typing import List, Optional

from .plan import seconds

# prctl(PR_SET_PDEATHSIG, SIGKILL): the binary dies with the worker that started it, so a retry
# never races a leftover of the attempt before it.
_PR_SET_PDEATHSIG = 1


class TaskError(Exception):
    """A binary failed on a file; not retried (the same input fails the same way)."""


class Killed(Exception):
    """A binary was killed by a signal (out of memory, a lost node); worth retrying."""


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_binary(
    cmd: List[str], env: Optional[dict] = None, timeout: Optional[float] = None
) -> subprocess.CompletedProcess:
    """Runs one of the project's binaries to its end (text output captured, no stdin, no Rust
    backtrace around its errors, killed with the process that started it); raises
    ``subprocess.TimeoutExpired`` past ``timeout`` seconds and ``OSError`` when it cannot
    start."""
    env = dict(os.environ if env is None else env, RUST_BACKTRACE="0")
    return subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_die_with_parent,
        timeout=timeout,
    )


def _run(
    cmd: List[str], what: str, env: Optional[dict] = None, timeout: Optional[float] = None
) -> str:
    """Runs ``cmd``; returns its stdout, raises with its error report on failure, or when it
    runs longer than ``timeout`` seconds."""
    try:
        proc = run_binary(cmd, env, timeout)
    except subprocess.TimeoutExpired:
        raise TaskError(
            f"{what}: {os.path.basename(cmd[0])} did not finish in {timeout:.0f} s"
        ) from None
    if proc.returncode < 0:
        raise Killed(f"{what}: {os.path.basename(cmd[0])} killed by signal {-proc.returncode}")
    if proc.returncode != 0:
        text = error_text(proc.stderr)
        if text.startswith(f"{cmd[1]}: "):  # the binaries name their input first
            text = text[len(cmd[1]) + 2:]
        raise TaskError(f"{what}: {os.path.basename(cmd[0])} failed: {text}")
    return proc.stdout


# The one line the binaries report an error with (``stylize-file: error: CAUSE``), or clap's
# (``error: CAUSE``) for a bad flag.
_ERROR_LINE = re.compile(r"^(?:[\w.-]+: )?error: (.+)$")


def error_text(stderr: str) -> str:
    """A binary's error report as one line: its ``NAME: error: CAUSE`` line (the cause), else
    anyhow's ``Error: ...`` report and its causes, else its last lines."""
    lines = stderr.strip().splitlines()
    causes = [m.group(1).strip() for m in map(_ERROR_LINE.match, lines) if m]
    if causes:
        return causes[-1]
    start = next((i for i, line in enumerate(lines) if line.startswith("Error: ")), None)
    if start is None:
        return " / ".join(line.strip() for line in lines[-4:]) or "no message"
    parts = []
    for line in lines[start:]:
        line = line.strip()
        if line.startswith("Stack backtrace"):
            break
        if line and line != "Caused by:":
            parts.append(re.sub(r"^(Error: |\d+: )", "", line))
    return ": ".join(parts)


def index(bin_dir: str, path: str) -> dict:
    """The frames, keyframes and streams of ``path`` (``video-index``'s JSON). Indexing only
    parses the file (hundreds of MB/s): one that takes longer than a minute plus a second per
    10 MB is given up, so a file that stalls the demuxer fails instead of stalling the job."""
    limit = 60 + os.path.getsize(path) / 10e6
    out = _run([os.path.join(bin_dir, "video-index"), path], path, timeout=limit)
    return json.loads(out)


def stylise_segment(
    bin_dir: str,
    input_path: str,
    output_path: str,
    options: List[str],
    start_ns: int,
    end_ns: Optional[int],
    warmup_ns: int,
    cooldown_ns: int,
    frames: int,
    threads: int,
) -> dict:
    """Stylises the frames of ``input_path`` in ``[start_ns, end_ns)`` into ``output_path``,
    warming up on ``warmup_ns`` before them and cooling down on ``cooldown_ns`` after them;
    checks exactly ``frames`` frames were written."""
    tmp = f"{output_path}.part-{socket.gethostname()}-{os.getpid()}"
    cmd = [
        os.path.join(bin_dir, "stylize-file"),
        input_path,
        tmp,
        *options,
        "--threads",
        str(threads),
        "--start",
        seconds(start_ns),
        "--warmup",
        seconds(warmup_ns),
    ]
    if end_ns is not None:
        cmd += ["--end", seconds(end_ns), "--cooldown", seconds(cooldown_ns)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    what = f"{input_path} [{seconds(start_ns)} s, {seconds(end_ns) if end_ns else 'end'}]"
    began = time.monotonic()
    try:
        out = _run(cmd, what, env)
        written = re.search(r"^(\d+) frames written$", out, re.M)
        if not written or int(written.group(1)) != frames:
            got = written.group(1) if written else "an unknown number of"
            raise TaskError(f"{what}: {got} frames written, {frames} expected")
        os.replace(tmp, output_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {
        "frames": frames,
        "seconds": time.monotonic() - began,
        "node": socket.gethostname(),
        "pid": os.getpid(),
    }


def join(
    bin_dir: str,
    input_path: str,
    segments: List[str],
    starts_ns: List[int],
    audio: bool,
    output_path: str,
    frames: int,
) -> dict:
    """Joins ``segments`` (in order, the first frame of each at ``starts_ns``) into
    ``output_path`` with the audio of ``input_path``; checks the result has ``frames`` frames
    before renaming it into place."""
    directory, name = os.path.split(output_path)
    tmp = os.path.join(directory, f".{name}.part-{os.getpid()}")
    cmd = [
        os.path.join(bin_dir, "join-segments"),
        tmp,
        *segments,
        "--starts",
        ",".join(seconds(s) for s in starts_ns),
    ]
    if audio:
        cmd += ["--audio-from", input_path]
    began = time.monotonic()
    try:
        _run(cmd, f"{input_path}: joining its segments")
        joined = index(bin_dir, tmp)
        if joined["frames"] != frames:
            raise TaskError(
                f"{input_path}: the joined output has {joined['frames']} frames, {frames} expected"
            )
        os.replace(tmp, output_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"seconds": time.monotonic() - began, "duration_ns": joined["duration_ns"]}

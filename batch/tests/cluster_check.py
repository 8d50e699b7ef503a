# SPDX-License-Identifier: MIT
"""The batch driver on a real two-node Ray cluster (run by tests/batch.rs, which puts it in network
and PID namespaces of its own: only loopback exists, and every process it starts dies with it).

    cluster_check.py --bin-dir DIR --weights LITE.safetensors --style IMAGE --style-b IMAGE \
        --work DIR

1. Makes two short clips (one with audio and B-frames) and an input that does not decode.
2. Stylises each clip in one process with stylize-file: the reference.
3. Starts a head and a second node (one CPU each, a small object store) on 127.0.0.1
   (:mod:`adainstyle_batch.loopback`), in the folder ``/``.
4. Runs adainstyle-batch on the folder, cutting the clips into several segments, and SIGKILLs the
   Ray worker running a segment halfway through. The job must complete both clips (Ray retries
   the segment) and fail the broken input with a message naming it.
5. Checks every output: the input's frame count, duration (within one frame) and audio, and
   frames matching the reference (PSNR bound below).
6. Runs the job again: nothing is stylised, nothing rewritten.
7. Runs a clip from the work folder with a relative ``-o`` and a relative weighted blend of two
   styles (``a.jpg:0.7,b.jpg:0.3``): the nodes, started in ``/``, must get absolute paths; the
   output must be there and differ from the single-style one of step 4 (both styles used).
8. Runs one clip with another alpha (none of the work is reused), kills that driver halfway, and
   starts it again: the segments finished before are reused, the rest made.
Ray is stopped at the end whatever happens. Exits 1 with the reason on the first failed check.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from adainstyle_batch import loopback

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = os.path.dirname(HERE)
PY = sys.executable
# Lowest PSNR allowed between a batch frame and the same frame of the one-process run. The two
# differ by (a) x264 coding each segment on its own (an IDR and fresh rate control at every
# segment start, at a bitrate where both runs are close to lossless) and (b) the temporal state
# at a segment's first frame, rebuilt by the warm-up instead of carried from the previous frame.
# Measured here: 39-49 dB for the worst frame of a clip, 45-51 dB on average. The patterns scroll
# 4-5 pixels a frame, so a frame one away from where it belongs scores 24 dB at most (checked
# below): the bound tells a misplaced frame or segment from coding differences.
MIN_PSNR_DB = 30.0
# The longest one run of the driver may take here (each takes 5-15 s on two busy cores).
RUN_LIMIT_S = 120
# Highest mean PSNR allowed between the 0.7/0.3 blend's output and the first style's alone, made
# the same way (same segments, same options but the style). An output that ignored the second
# style would be identical to it (the batch is deterministic), or at worst as close as coding
# differences leave (45 dB or more on average, as measured for MIN_PSNR_DB); the blend measured
# 28.7 dB here.
BLEND_MAX_PSNR_DB = 40.0


def fail(msg):
    print(f"cluster_check: FAIL: {msg}", flush=True)
    sys.exit(1)


def run(cmd, **kw):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if proc.returncode != 0:
        fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return proc.stdout


def make_clip(path, width, height, fps, frames, keyint, audio, bframes, pattern, speed):
    """A test pattern scrolling ``speed`` pixels a frame, so every frame differs from the next."""
    video = (
        f"videotestsrc num-buffers={frames} pattern={pattern} horizontal-speed={speed} ! "
        f"video/x-raw,width={width},height={height},framerate={fps}/1 ! "
        f"x264enc key-int-max={keyint} bframes={bframes} bitrate=800 ! mp4mux name=mux ! "
        f"filesink location={path}"
    )
    seconds = frames / fps
    sound = ""
    if audio:
        buffers = int(np.ceil(seconds * 44100 / 1024))
        sound = (
            f" audiotestsrc num-buffers={buffers} samplesperbuffer=1024 ! "
            "audio/x-raw,rate=44100,channels=1 ! audioconvert ! avenc_aac ! mux."
        )
    run(["gst-launch-1.0", "-q", *(video + sound).split()])


def index(bin_dir, path):
    return json.loads(run([os.path.join(bin_dir, "video-index"), path]))


def frames_of(path, width, height):
    """Every decoded frame of ``path`` as uint8 RGB."""
    raw = path + ".rgb"
    run([
        "gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin", "!",
        "videoconvert", "!", f"video/x-raw,format=RGB,width={width},height={height}", "!",
        "filesink", f"location={raw}",
    ])
    data = np.fromfile(raw, dtype=np.uint8)
    os.remove(raw)
    size = width * height * 3
    if data.size % size:
        fail(f"{path}: decoded {data.size} bytes, not whole {width}x{height} frames")
    return data.reshape(-1, height, width, 3)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def descendants_named(name):
    """PIDs of processes called ``name`` (this PID namespace only holds the test's)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == name:
                        found.append(int(pid))
            except OSError:
                pass
    return found


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def batch(args, inputs, out, extra=(), kill=None, after_segments=2, style=None, cwd=None):
    """Runs the driver (in the folder ``cwd``, with ``style``, default ``--style``). With
    ``kill`` = "worker", SIGKILLs the Ray worker of a running segment once ``after_segments``
    segments are in the manifest; with "driver", the driver itself. Returns (exit status,
    output, what was killed)."""
    cmd = [
        PY, "-m", "adainstyle_batch.cli", *inputs, "--output", out,
        "--address", args.address, "--bin-dir", args.bin_dir,
        "--segment-seconds", "0.6", "--warmup-seconds", "0.5",
        "--model", "lite", "--decoder", args.weights, "--style", style or args.style,
        "--processing-size", "64", "--temporal-smoothing", "0.5", "--precision", "fp32",
        "--device", "cpu", "--progress-every", "1", *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=args.env, cwd=cwd)
    killed = None
    manifest = os.path.join(out, ".adainstyle-batch", "manifest.json")
    while kill is not None and killed is None and proc.poll() is None:
        time.sleep(0.2)
        try:
            with open(manifest) as f:
                done = len(json.load(f)["segments"])
        except (OSError, ValueError, KeyError):
            done = 0
        if done < after_segments:
            continue
        if kill == "driver":
            proc.kill()
            killed = proc.pid
            print(f"cluster_check: killed the driver after {done} segments")
            break
        for pid in descendants_named("stylize-file"):
            try:
                worker = parent_of(pid)
                os.kill(worker, signal.SIGKILL)
                killed = worker
                print(f"cluster_check: killed Ray worker {worker} (running stylize-file {pid})")
                break
            except OSError:
                continue
    try:
        text, _ = proc.communicate(timeout=RUN_LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        text, _ = proc.communicate()
        print(text)
        print(subprocess.run(["ps", "-eo", "pid,ppid,stat,etime,args"], text=True,
                             stdout=subprocess.PIPE).stdout)
        fail(f"a driver took more than {RUN_LIMIT_S} s")
    print(text, flush=True)
    return proc.returncode, text, killed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--style-b", required=True, help="the second style of the blend")
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    args.work = os.path.abspath(args.work)
    env = loopback.environment(dict(os.environ, PYTHONPATH=BATCH))
    args.env = env
    inputs = os.path.join(args.work, "in")
    out = os.path.join(args.work, "out")
    refs = os.path.join(args.work, "ref")
    for d in (inputs, out, refs):
        os.makedirs(d, exist_ok=True)
    clips = {
        "scroll": dict(width=128, height=96, fps=15, frames=45, keyint=5, audio=True, bframes=2,
                       pattern="smpte", speed=5),
        "sweep": dict(width=96, height=64, fps=12, frames=30, keyint=4, audio=False, bframes=0,
                      pattern="smpte75", speed=-4),
    }
    for name, c in clips.items():
        make_clip(os.path.join(inputs, f"{name}.mp4"), **c)
    with open(os.path.join(inputs, "broken.mp4"), "wb") as f:
        # An MP4 header, then an atom whose size runs past the end of the file.
        f.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
                + b"\x7f\xff\xff\xffmoov" * 64)

    options = [
        "--model", "lite", "--decoder", args.weights, "--style", args.style,
        "--processing-size", "64", "--temporal-smoothing", "0.5", "--precision", "fp32",
        "--device", "cpu", "--threads", "1",
    ]
    for name in clips:
        run([os.path.join(args.bin_dir, "stylize-file"), os.path.join(inputs, f"{name}.mp4"),
             os.path.join(refs, f"{name}.mp4"), *options])

    # The nodes run in / : a path the driver hands them relative would not be found.
    with loopback.cluster(nodes=2, cpus=1, env=env, cwd="/") as address:
        args.address = address
        check(args, clips, inputs, out, refs)
    print("cluster_check: all checks passed", flush=True)


def check(args, clips, inputs, out, refs):
    started = time.monotonic()
    code, text, killed = batch(args, [inputs], out, kill="worker")
    seconds = time.monotonic() - started
    if killed is None:
        fail("no segment was running to kill: the job ended before")
    if code != 1:
        fail(f"the job exited {code}; 1 expected (one input cannot be decoded)")
    broken = os.path.join(inputs, "broken.mp4")
    if not re.search(rf"FAILED\s+{re.escape(broken)}: ", text):
        fail("the summary does not name the broken input with its cause")
    if os.path.exists(os.path.join(out, "broken.mp4")):
        fail("an output was written for the broken input")
    for name, c in clips.items():
        if not re.search(rf"done\s+{re.escape(os.path.join(out, name + '.mp4'))}", text):
            fail(f"{name}: not reported done")
    leftovers = [n for n in os.listdir(out) if ".part" in n]
    if leftovers:
        fail(f"temporary files left in the output folder: {leftovers}")

    segments = 0
    for name, c in clips.items():
        src = index(args.bin_dir, os.path.join(inputs, f"{name}.mp4"))
        path = os.path.join(out, f"{name}.mp4")
        got = index(args.bin_dir, path)
        frame = 1e9 * 1 / c["fps"]
        if got["frames"] != src["frames"]:
            fail(f"{name}: {got['frames']} frames, the input has {src['frames']}")
        if abs(got["duration_ns"] - src["duration_ns"]) > frame:
            fail(f"{name}: duration {got['duration_ns']} ns, the input's {src['duration_ns']} ns")
        if got["audio_streams"] != (1 if c["audio"] else 0):
            fail(f"{name}: {got['audio_streams']} audio streams")
        ours = frames_of(path, c["width"], c["height"])
        ref = frames_of(os.path.join(refs, f"{name}.mp4"), c["width"], c["height"])
        if len(ours) != c["frames"] or len(ref) != c["frames"]:
            fail(f"{name}: decoded {len(ours)} frames (reference {len(ref)}), {c['frames']} made")
        values = [psnr(a, b) for a, b in zip(ours, ref)]
        worst = int(np.argmin(values))
        print(f"cluster_check: {name}: PSNR against the one-process run: min {values[worst]:.1f} "
              f"dB (frame {worst}), mean {np.mean(values):.1f} dB")
        if values[worst] < MIN_PSNR_DB:
            fail(f"{name}: frame {worst} is {values[worst]:.1f} dB from the reference")
        # The bound must tell frames apart: each frame against the reference's next one.
        shifted = max(psnr(a, b) for a, b in zip(ours, ref[1:]))
        print(f"cluster_check: {name}: against the next reference frame: max {shifted:.1f} dB")
        if shifted >= MIN_PSNR_DB:
            fail(f"{name}: frames one apart are within {MIN_PSNR_DB} dB: the check is blind")
        m = re.search(rf"{re.escape(src['path'])}: \d+ frames, (\d+) segments", text)
        if not m or int(m.group(1)) < 3:
            fail(f"{name}: not split into several segments")
        segments += int(m.group(1))
    print(f"cluster_check: first run {seconds:.1f} s, {segments} segments, worker {killed} killed")

    stamps = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
    code, text, _ = batch(args, [inputs], out)
    if code != 1:
        fail(f"the rerun exited {code}")
    for name in clips:
        if not re.search(rf"kept\s+{re.escape(os.path.join(out, name + '.mp4'))}", text):
            fail(f"{name}: redone on the rerun")
    if not re.search(r"\b0 frames stylised", text):
        fail("the rerun stylised frames")
    if {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)} != stamps:
        fail("the rerun rewrote files in the output folder")

    check_relative_blend(args, clips["sweep"], os.path.join(out, "sweep.mp4"))

    one = os.path.join(inputs, "sweep.mp4")
    code, text, killed = batch(args, [one], out, extra=["--alpha", "0.8"], kill="driver")
    if killed is None or code != -signal.SIGKILL:
        fail(f"the driver was not killed in the middle of the job (exit status {code})")
    if re.search(r"sweep\.mp4: \d+ frames, \d+ segments \(", text) or "kept" in text:
        fail("a job with another --alpha reused work done with the first")
    code, text, _ = batch(args, [one], out, extra=["--alpha", "0.8"])
    m = re.search(r"done\s+\S+sweep\.mp4: \d+ frames, (\d+) segments stylised, (\d+) reused",
                  text)
    if code != 0 or not m or int(m.group(2)) < 2:
        fail("the restarted driver did not reuse the segments finished before it was killed")
    made, reused = int(m.group(1)), int(m.group(2))
    got = index(args.bin_dir, os.path.join(out, "sweep.mp4"))
    if got["frames"] != clips["sweep"]["frames"]:
        fail(f"sweep: {got['frames']} frames after the restart")
    print(f"cluster_check: restarted driver: {reused} segments reused, {made} stylised")


def check_relative_blend(args, clip, single):
    """Runs the sweep clip from the work folder with a relative -o and a relative weighted blend
    of copies of the two styles; checks the output is made and is not ``single`` (the first
    style's alone, made the same way)."""
    shutil.copy(args.style, os.path.join(args.work, "a.jpg"))
    shutil.copy(args.style_b, os.path.join(args.work, "b.jpg"))
    code, text, _ = batch(args, [os.path.join("in", "sweep.mp4")], "blend-out",
                          style="a.jpg:0.7,b.jpg:0.3", cwd=args.work)
    blended = os.path.join(args.work, "blend-out", "sweep.mp4")
    if code != 0 or not re.search(rf"done\s+{re.escape(blended)}:", text):
        fail(f"the job with a relative -o and a relative blend exited {code}, {blended} not done")
    got = index(args.bin_dir, blended)
    if got["frames"] != clip["frames"]:
        fail(f"the blend's output has {got['frames']} frames, {clip['frames']} expected")
    ours = frames_of(blended, clip["width"], clip["height"])
    alone = frames_of(single, clip["width"], clip["height"])
    values = [psnr(a, b) for a, b in zip(ours, alone)]
    print(f"cluster_check: blend against the first style alone: mean {np.mean(values):.1f} dB, "
          f"max {max(values):.1f} dB")
    if np.mean(values) > BLEND_MAX_PSNR_DB:
        fail("the blend's output is the first style's alone: the second style was not used")


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: MIT
"""The driver's command line, without a cluster (run by tests/batch.rs): element options come
from ``stylize-file --print-options`` and are checked by ``stylize-file --check``; bad usage is
one line and exit status 2 before any work (Ray is a stand-in that fails the test if started).

Tests that need the element's real parsing run the project's stylize-file (found as the driver
finds it) and are skipped only when it is not built; the others use a stand-in binary.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from adainstyle_batch import cli
from adainstyle_batch.options import UsageError

STYLES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "styles"
)
# What the stand-in stylize-file declares: none of the real element's options.
FAKE_OPTIONS = [
    {"name": "frobnicate", "flag": "--frobnicate", "type": "uint", "default": "0", "min": 0,
     "max": 9, "files": False, "help": "how much, 100% at most"},
    {"name": "glow", "flag": "--glow", "type": "bool", "default": "false", "files": False,
     "help": "glow"},
    {"name": "tint", "flag": "--tint", "type": "enum", "choices": ["red", "blue"],
     "default": "red", "files": False, "help": "tint"},
    {"name": "threads", "flag": "--threads", "type": "uint", "default": "0", "min": 0,
     "max": 64, "files": False, "help": "threads"},
]
FAKE_STYLIZE_FILE = """#!{python}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
if sys.argv[1:2] == ["--print-options"]:
    with open(os.path.join(here, "options.json")) as f:
        print(f.read())
elif sys.argv[1:2] == ["--check"]:
    flags = dict(a.split("=", 1) for a in sys.argv[2:] if not a.startswith("--bitrate="))
    print(json.dumps({{"flags": flags, "files": []}}))
else:
    sys.exit(2)
"""


def real_bin_dir():
    """The project's binaries, as the driver finds them, or None when they are not built."""
    try:
        return cli.find_bin_dir(None)
    except UsageError:
        return None


def needs_real_binary(test):
    return unittest.skipUnless(real_bin_dir(), "stylize-file is not built")(test)


def scratch(test) -> str:
    """A temporary folder (its real path) removed after ``test``."""
    path = os.path.realpath(tempfile.mkdtemp(prefix="adainstyle-cli-"))
    test.addCleanup(shutil.rmtree, path, True)
    return path


def fake_bin_dir(test) -> str:
    """A folder with a stand-in stylize-file that declares ``FAKE_OPTIONS`` and checks
    nothing, and stand-ins for the other binaries."""
    path = os.path.join(scratch(test), "bin")
    os.makedirs(path)
    with open(os.path.join(path, "options.json"), "w") as f:
        json.dump(FAKE_OPTIONS, f)
    scripts = {
        "stylize-file": FAKE_STYLIZE_FILE.format(python=sys.executable),
        "video-index": "#!/bin/sh\nexit 1\n",
        "join-segments": "#!/bin/sh\nexit 1\n",
    }
    for name, text in scripts.items():
        with open(os.path.join(path, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(path, name), 0o755)
    return path


def clip(folder: str, name: str = "clip.mp4") -> str:
    """A file the driver takes as an input (never decoded here)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(b"not decoded: the driver refuses before indexing")
    return path


def in_folder(test, path: str) -> None:
    """Runs the rest of ``test`` in ``path``."""
    test.addCleanup(os.chdir, os.getcwd())
    os.chdir(path)


class RayStarted(Exception):
    """The stand-in Ray was started by a driver that should have stopped before."""


class FakeRay:
    """Ray as the driver uses it: ``init`` raises :class:`RayStarted` unless ``nodes`` are
    given (a cluster to join); no task may be submitted."""

    def __init__(self, nodes=None):
        self._nodes = nodes
        self.inits = []
        self.shut_down = False

    def init(self, **kw):
        self.inits.append(kw)
        if self._nodes is None:
            raise RayStarted(kw)

    def nodes(self):
        return self._nodes

    def shutdown(self):
        self.shut_down = True

    def remote(self, *_):
        raise AssertionError("a task was submitted")


def run_main(argv, ray=None):
    """The driver's exit status and what it wrote on stderr, with ``ray`` (a :class:`FakeRay`)
    as Ray and no $RAY_ADDRESS."""
    ray = ray or FakeRay()
    err = io.StringIO()
    with mock.patch.dict(sys.modules, {"ray": ray}), mock.patch.dict(os.environ), \
            contextlib.redirect_stderr(err):
        os.environ.pop("RAY_ADDRESS", None)
        try:
            code = cli.main(argv)
        except SystemExit as exit:  # argparse's errors
            code = exit.code
    return code, err.getvalue()


class UsageCase(unittest.TestCase):
    def assertUsageError(self, argv, *words, ray=None):
        """``argv`` is refused with exit status 2 and one line holding ``words``, before Ray
        starts; returns that line."""
        ray = ray or FakeRay()
        code, err = run_main(argv, ray)
        lines = err.strip().splitlines()
        self.assertEqual(code, 2, err)
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("adainstyle-batch: error: "), err)
        for word in words:
            self.assertIn(word, lines[0])
        if ray._nodes is None:
            self.assertEqual(ray.inits, [], "Ray was started")
        return lines[0]


class OptionsTest(UsageCase):
    def test_element_options_are_the_ones_the_binary_declares(self):
        bins = fake_bin_dir(self)
        base = ["clip.mp4", "-o", "out", "--bin-dir", bins]
        args = cli.parse_args(base + ["--frobnicate", "3", "--glow", "--tint", "blue"])
        self.assertEqual(args.element, ["--frobnicate=3", "--glow=true", "--tint=blue"])
        self.assertEqual(cli.parse_args(base + ["--glow", "false"]).element, ["--glow=false"])
        self.assertEqual(cli.parse_args(base).element, [])
        help_text = cli.build_parser(FAKE_OPTIONS).format_help()
        self.assertIn("how much, 100% at most", help_text)
        self.assertIn("Exit status: 0", help_text)
        # Not declared by this binary (--alpha), declared but set by the driver (--threads),
        # or not a value of its type: bad usage.
        for extra in (["--alpha", "0.5"], ["--threads", "2"], ["--tint", "green"],
                      ["--frobnicate", "x"], ["--glow", "maybe"]):
            self.assertUsageError(base + extra, extra[0])

    @needs_real_binary
    def test_every_option_of_the_real_binary_is_offered(self):
        binary = os.path.join(real_bin_dir(), "stylize-file")
        declared = json.loads(subprocess.check_output([binary, "--print-options"], text=True))
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
            cli.parse_args(["--help"])
        offered = {word.strip("[],") for word in out.getvalue().split() if word.startswith("--")}
        for option in declared:
            if option["flag"] != "--threads":  # the driver's: from --cpus-per-task
                self.assertIn(option["flag"], offered)
        self.assertNotIn("--threads", offered)
        self.assertUsageError(
            ["clip.mp4", "-o", "out", "--preserve-color", "bogus"], "--preserve-color", "bogus"
        )

    @needs_real_binary
    def test_bad_values_and_missing_files_are_the_binarys_one_line(self):
        work = scratch(self)
        in_folder(self, work)
        clip(work)
        shutil.copy(os.path.join(STYLES, "night-cafe.jpg"), "a.jpg")
        base = ["clip.mp4", "-o", "out"]
        self.assertUsageError(base + ["--style", "a.jpg:x"], "--style", "bad weight `x`")
        self.assertUsageError(
            base + ["--style", "a.jpg:0.5,nosuch.jpg:0.5"],
            f"{work}/nosuch.jpg", "No such file or directory",
        )
        self.assertUsageError(base + ["--alpha", "3"], "--alpha", "out of range")
        self.assertFalse(os.path.exists("out"), "the output folder was made")

    @needs_real_binary
    def test_relative_blends_and_output_reach_the_nodes_absolute(self):
        work = scratch(self)
        in_folder(self, work)
        clip(work)
        shutil.copy(os.path.join(STYLES, "night-cafe.jpg"), "a.jpg")
        shutil.copy(os.path.join(STYLES, "langlois-bridge.jpg"), "b.jpg")
        seen = {}

        class Job:
            def __init__(self, args, ray, pairs, bin_dir, options):
                seen.update(output=args.output, pairs=pairs, options=options)

            def run(self):
                pass

            def summary(self):
                return 0

        ray = FakeRay(nodes=[{"Alive": True, "Resources": {"CPU": 4.0}}])
        argv = ["clip.mp4", "-o", "out", "--style", "a.jpg:0.7,b.jpg:0.3", "--bitrate", "900",
                "--mask-invert", "--address", "127.0.0.1:1"]
        with mock.patch.object(cli, "Job", Job):
            code, err = run_main(argv, ray)
        self.assertEqual(code, 0, err)
        self.assertTrue(ray.shut_down)
        self.assertEqual(seen["output"], os.path.join(work, "out"))
        self.assertEqual(seen["pairs"], [(f"{work}/clip.mp4", f"{work}/out/clip.mp4")])
        flags, files = seen["options"]
        self.assertIn(f"--style={work}/a.jpg:0.7,{work}/b.jpg:0.3", flags)
        self.assertIn("--mask-invert=true", flags)
        self.assertIn("--bitrate=900", flags)
        self.assertEqual([f["path"] for f in files], [f"{work}/a.jpg", f"{work}/b.jpg"])


class OutputTest(UsageCase):
    def setUp(self):
        self.bins = fake_bin_dir(self)
        self.work = scratch(self)
        self.folder = os.path.join(self.work, "videos")
        self.input = clip(self.folder)
        with open(self.input, "rb") as f:
            self.content = f.read()
        self.stamp = os.stat(self.input).st_mtime_ns

    def refused(self, inputs, output, *words):
        self.assertUsageError(inputs + ["-o", output, "--bin-dir", self.bins], *words)
        with open(self.input, "rb") as f:
            self.assertEqual(f.read(), self.content)
        self.assertEqual(os.stat(self.input).st_mtime_ns, self.stamp)
        self.assertEqual(os.listdir(self.folder), ["clip.mp4"])

    def test_an_output_folder_that_is_an_input_folder_is_refused(self):
        self.refused([self.folder + "/"], self.folder + "/", "input folder")
        self.refused([self.folder], os.path.join(self.folder, "styled"), "input folder")
        os.symlink(self.folder, os.path.join(self.work, "link"))
        self.refused([self.folder], os.path.join(self.work, "link"), "input folder")

    def test_an_output_that_is_an_input_file_is_refused(self):
        self.refused([self.input], self.folder, f"the output {self.input} is the input")
        by_symlink = os.path.join(self.work, "symlinked")
        os.makedirs(by_symlink)
        os.symlink(self.input, os.path.join(by_symlink, "clip.mp4"))
        self.refused([self.input], by_symlink, "is the input")
        by_hard_link = os.path.join(self.work, "hard-linked")
        os.makedirs(by_hard_link)
        os.link(self.input, os.path.join(by_hard_link, "clip.mp4"))
        self.refused([self.input], by_hard_link, "is the input")

    def test_a_relative_output_is_made_absolute(self):
        in_folder(self, self.work)
        args = cli.parse_args(["videos", "-o", "out", "--bin-dir", self.bins])
        self.assertEqual(args.output, os.path.join(self.work, "out"))

    def test_an_output_folder_that_cannot_be_made_is_one_line(self):
        self.assertUsageError([self.input, "-o", "/proc/x", "--bin-dir", self.bins], "/proc/x")

    def test_missing_inputs_are_usage_errors(self):
        self.assertUsageError(
            [os.path.join(self.work, "nosuch.mp4"), "-o", self.work, "--bin-dir", self.bins],
            "nosuch.mp4: no such file or folder",
        )


class ResourcesTest(UsageCase):
    def setUp(self):
        work = scratch(self)
        self.base = [clip(work), "-o", os.path.join(work, "out"), "--bin-dir", fake_bin_dir(self)]

    def test_impossible_local_resources_are_refused_before_ray_starts(self):
        cpus = os.cpu_count()
        for extra, word in (
            (["--num-cpus", "0"], "--num-cpus 0"),
            (["--num-cpus", "-2"], "--num-cpus -2"),
            (["--cpus-per-task", "0"], "--cpus-per-task"),
            (["--gpus-per-task", "-1"], "--gpus-per-task"),
            (["--num-cpus", "2", "--cpus-per-task", "3"], "--cpus-per-task 3"),
            (["--cpus-per-task", str(cpus + 1)], f"--cpus-per-task {cpus + 1}"),
            (["--progress-every", "0"], "--progress-every"),
        ):
            self.assertUsageError(self.base + extra, word)

    def test_a_task_larger_than_every_node_of_a_cluster_is_refused_after_joining(self):
        nodes = [
            {"Alive": True, "Resources": {"CPU": 4.0}},
            {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},  # gone
        ]
        for extra, word in ((["--cpus-per-task", "8"], "the largest has 4"),
                            (["--gpus-per-task", "1"], "--gpus-per-task 1")):
            ray = FakeRay(nodes)
            self.assertUsageError(
                self.base + ["--address", "127.0.0.1:1"] + extra, word, ray=ray
            )
            self.assertEqual(len(ray.inits), 1)
            self.assertTrue(ray.shut_down)


if __name__ == "__main__":
    unittest.main()

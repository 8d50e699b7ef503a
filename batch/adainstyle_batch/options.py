# SPDX-License-Identifier: MIT
"""The element options, declared once: by ``stylize-file --print-options``.

The driver offers every option that JSON list declares (with its type, choices and help) and
declares none itself. Before any work it hands the values given to ``stylize-file --check``,
which parses them exactly as the element does (enum nicks, ranges, the style blend grammar,
files existing and regular) and returns them normalised, every path made absolute, with the
list of files they name: the workers get those flags, the fingerprint those files' identities.
"""

import json
import os
import subprocess
from typing import List, Tuple

from .tasks import error_text, run_binary

# Element options the driver sets itself: --threads follows --cpus-per-task in every task.
SET_BY_DRIVER = {"--threads"}


class UsageError(Exception):
    """Bad usage found before any work: reported as one line, exit status 2."""


def _stylize_file(bin_dir: str, *args: str) -> str:
    """``stylize-file ARGS`` run in the current folder: its stdout, or :class:`UsageError` with
    the one line it reports on failure."""
    cmd = [os.path.join(bin_dir, "stylize-file"), *args]
    try:
        proc = run_binary(cmd, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"{cmd[0]}: {err}") from None
    if proc.returncode != 0:
        raise UsageError(error_text(proc.stderr))
    return proc.stdout


def declared(bin_dir: str) -> List[dict]:
    """The element options ``stylize-file --print-options`` declares, less those the driver
    sets itself."""
    text = _stylize_file(bin_dir, "--print-options")
    try:
        specs = json.loads(text)
    except ValueError:
        raise UsageError(f"{bin_dir}/stylize-file --print-options printed no JSON") from None
    return [s for s in specs if s["flag"] not in SET_BY_DRIVER]


def dest(spec: dict) -> str:
    """The argparse attribute of an element option (apart from the driver's own options)."""
    return "element_" + spec["name"].replace("-", "_")


def _help(spec: dict) -> str:
    """An option's help line: the binary's text, its range and its default."""
    facts = []
    if "min" in spec and "max" in spec:
        facts.append(f"{spec['min']}..{spec['max']}")
    facts.append(f"default: {spec['default'] or 'empty'}")
    return f"{spec['help']} [{', '.join(facts)}]".replace("%", "%%")


def _kind(spec: dict) -> dict:
    """The argparse keywords for an option of the binary's ``type``; ranges, the blend grammar
    and files are checked by ``stylize-file --check``."""
    kind = spec["type"]
    if kind == "bool":
        return {"nargs": "?", "const": "true", "choices": ("true", "false")}
    if kind == "enum":
        return {"choices": spec["choices"]}
    metavar = spec["name"].upper()
    if kind == "uint":
        return {"type": int, "metavar": metavar}
    if kind == "double":
        return {"type": float, "metavar": metavar}
    return {"metavar": metavar}


def add_arguments(group, specs: List[dict]) -> None:
    """Adds every element option of ``specs`` to the argparse ``group``."""
    for spec in specs:
        group.add_argument(spec["flag"], dest=dest(spec), help=_help(spec), **_kind(spec))


def given(args, specs: List[dict]) -> List[str]:
    """``--flag=value`` for every element option given on the command line."""
    return [
        f"{spec['flag']}={value}"
        for spec in specs
        if (value := getattr(args, dest(spec))) is not None
    ]


def check(bin_dir: str, argv: List[str]) -> Tuple[List[str], List[str]]:
    """``stylize-file --check ARGV`` in the current folder: the element options as
    ``--flag=value`` arguments, normalised and with absolute paths, and the files they name;
    :class:`UsageError` with the binary's one line for a bad value."""
    text = _stylize_file(bin_dir, "--check", *argv)
    try:
        checked = json.loads(text)
        flags, files = checked["flags"], checked["files"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{bin_dir}/stylize-file --check printed no flags and files") from None
    return [f"{flag}={value}" for flag, value in sorted(flags.items())], list(files)

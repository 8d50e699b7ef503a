# SPDX-License-Identifier: MIT
"""Batch stylising of many videos on a Ray cluster.

The driver (:mod:`adainstyle_batch.cli`) indexes each input with the project's ``video-index``,
splits it into segments at keyframes (:mod:`adainstyle_batch.plan`), stylises every segment as a
Ray task that runs ``stylize-file --start/--end/--warmup`` on a node
(:mod:`adainstyle_batch.tasks`), and joins each file's segments with ``join-segments``, without
re-encoding them, under a temporary name that is renamed once the output is complete. A manifest
in the output folder (:mod:`adainstyle_batch.manifest`) records the finished segments and the
options they were made with, so a restarted driver redoes only what is missing. No model logic
lives here: the stylising is the element's, run by the project's binaries, and so are its
options, declared and checked by ``stylize-file`` (:mod:`adainstyle_batch.options`).
"""

__version__ = "0.1.0"

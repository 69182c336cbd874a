"""The command line of every measured subprocess: ``<script or -m module> <workload> <params.json>``.

Runs under both interpreters, so standard library only. ``_workloads.py`` runs as a plain script
(also under the reference interpreter) and imports this as ``_entry`` (this directory is then
``sys.path[0]``); the modules run with ``python -m benchmarks.<module>`` import it as
``benchmarks._entry``.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, NoReturn, Union

Result = dict[str, Any]
Workload = Callable[[dict[str, Any]], Union[Result, Coroutine[Any, Any, Result]]]


def main(argv: Sequence[str], workloads: Mapping[str, Workload]) -> int:
    """Run the workload named ``argv[1]`` on the params in the JSON file ``argv[2]``.

    Prints one line ``RESULT <json>`` on stdout, with the version and the file of the ``posthog``
    that was imported. The ``posthog`` logger is silenced: the same (silent) logging cost on both
    sides. A workload that returns a coroutine runs in ``asyncio.run``.
    """
    import posthog

    name, params_path = argv[1], argv[2]
    with open(params_path, encoding="utf-8") as handle:
        params = json.load(handle)
    logging.getLogger("posthog").disabled = True
    result = workloads[name](params)
    if inspect.iscoroutine(result):
        import asyncio

        result = asyncio.run(result)
    result["version"] = posthog.VERSION
    result["module"] = posthog.__file__
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def run(workloads: Mapping[str, Workload]) -> NoReturn:
    """``main`` on ``sys.argv``, then leave the interpreter at once with its exit code.

    Every workload has delivered, or shut its clients down, before its result: the exit hooks
    are skipped, as their idle waits (the reference's consumer join waits ``flush_interval``)
    are not part of what is measured.
    """
    code = main(sys.argv, workloads)
    sys.stderr.flush()
    os._exit(code)

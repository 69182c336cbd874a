"""Rows 2v and 9v: our client with capture v1 (``capture_mode="v1"``) against our client with v0.

The reference 3.25.0 has no capture v1, so both columns run our package: the "ref" column holds
our client with ``capture_mode="v0"`` (events to ``POST /batch/``), the "ours" column the same
client with ``capture_mode="v1"`` (``POST /i/v1/analytics/events``, per-event results); the ratio
is v1 / v0. Both protocols are explicit, so ``POSTHOG_CAPTURE_MODE`` in the environment changes
nothing.

- 2v: row 2's workload (``throughput`` in ``_workloads.py``: the same events, gzip off), events/s
  from the first capture until the fake holds every event; a second line compares v1 with zstd
  body compression against the same v0 runs (``-`` without ``zstandard``). The configurations
  alternate order over the repetitions. A v1 run gets a 400 fault on ``/batch/``, so a client
  that fell back to v0 would lose its events and make the row invalid, as would any capture v1
  protocol violation the fake notices.
- 9v: row 9's outage (same durations per mode: 10 captures/s while the server answers 503, then
  refuses connections, then recovers), the v0 and the v1 client at the same time against the same
  servers; the 503s cover both ``/batch/`` and ``/i/v1/analytics/events``. Events are counted by
  uuid as in row 9.
"""

from __future__ import annotations

import statistics
import subprocess
from collections.abc import Callable, Sequence
from typing import Final

from benchmarks._harness import FakeServer, Row, Runner, Side, clean_env, finish, fmt
from benchmarks._rows_delivery import DELIVERY_MODES, OutageSlot, outage_what, run_outage, score_outage

__all__ = [
    "OUTAGE_V1_ROW",
    "PROTOCOL_SMOKE_SKIPS",
    "THROUGHPUT_V1_ROW",
    "outage_v1_step",
    "throughput_v1_step",
]

THROUGHPUT_V1_ROW: Final = "2v"
OUTAGE_V1_ROW: Final = "9v"
#: Rows --smoke leaves out unless named in --rows (9v, like row 9, needs seconds of outage).
PROTOCOL_SMOKE_SKIPS: Final = frozenset({OUTAGE_V1_ROW})
V1_PATH: Final = "/i/v1/analytics/events"
V0: Final = "v0"
V1: Final = "v1"
V1_ZSTD: Final = "v1+zstd"
#: The client settings of each measured configuration (on top of row 2's params).
CONFIGS: Final[dict[str, dict[str, str]]] = {
    V0: {"capture_mode": "v0"},
    V1: {"capture_mode": "v1", "capture_compression": "none"},
    V1_ZSTD: {"capture_mode": "v1", "capture_compression": "zstd"},
}
#: The columns of each 2v line: (the "ref" configuration, the "ours" configuration).
LINES: Final = (
    ("throughput_v1_plain_eps", "2v. delivery throughput, gzip off: v1 vs v0", V0, V1),
    ("throughput_v1_zstd_eps", "2v. delivery throughput: v1 + zstd vs v0 uncompressed", V0, V1_ZSTD),
)

Step = tuple[set[str], Callable[[FakeServer], list[Row]]]


def throughput_v1_step(runner: Runner, n: int, reps: int) -> Step:
    """Row 2v as ``benchmarks.run`` schedules it; ``n`` and ``reps`` are row 2's sizes."""
    return {THROUGHPUT_V1_ROW}, lambda server: throughput_v1_rows(runner, server, n, reps)


def outage_v1_step(runner: Runner, mode: str) -> Step:
    """Row 9v as ``benchmarks.run`` schedules it (row 9's durations for ``mode``)."""
    return {OUTAGE_V1_ROW}, lambda server: outage_v1_rows(runner, mode)


def _ours(runner: Runner) -> Side:
    return next(side for side in runner.sides if side.name == "ours")


def _label_ref(row: Row, configuration: str) -> Row:
    if row.ref is not None:
        row.ref_text = f"{fmt(row.ref, row.decimals)} (ours {configuration})"
    return row


def _has_module(side: Side, module: str) -> bool:
    done = subprocess.run(
        [side.python, "-c", f"import {module}"],
        cwd=side.cwd,
        env=clean_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


# --- row 2v -----------------------------------------------------------------------------------------


def _settings(config: str) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in CONFIGS[config].items())


def _median_text(values: dict[str, list[float]]) -> str:
    return ", ".join(f"{name} {statistics.median(v):.2f}" for name, v in values.items() if v)


def throughput_v1_rows(runner: Runner, server: FakeServer, n: int, reps: int) -> list[Row]:
    """Row 2v: events/s of row 2's workload, v0 against v1 (and v1 + zstd)."""
    side = _ours(runner)
    have_zstd = _has_module(side, "zstandard")
    configs = [name for name in CONFIGS if have_zstd or name != V1_ZSTD]
    params = {"url": server.url, "n": n, "gzip": False, "max_queue_size": n + 1000, "wait_timeout": 120}
    samples: dict[str, list[float]] = {name: [] for name in configs}
    client_cpu: dict[str, list[float]] = {name: [] for name in configs}
    server_cpu: dict[str, list[float]] = {name: [] for name in configs}
    problems: dict[str, list[str]] = {name: [] for name in configs}
    for rep in range(reps):
        for name in configs if rep % 2 == 0 else reversed(configs):
            server.reset()
            v1 = CONFIGS[name]["capture_mode"] == "v1"
            if v1:  # a v1 client that sent to /batch/ would lose its events: the row turns invalid
                server.control("POST", "/_fake/fault", {"path": "/batch", "status": 400, "times": None})
            before = server.cpu_seconds()
            result = runner.workload(side, "throughput", {**params, **CONFIGS[name]}, timeout=180)
            server_cpu[name].append(server.cpu_seconds() - before)
            violations = server.v1_violations() if v1 else []
            if not result["all_arrived"] or result["server_events"] != n or result["failed"]:
                problems[name].append(
                    f"{name} lost events (server has {result['server_events']}/{n}, "
                    f"failed={result['failed']})"
                )
                continue
            if violations:
                problems[name].append(f"{name}: {len(violations)} v1 violations, first {violations[0]}")
                continue
            samples[name].append(result["events_per_s"])
            client_cpu[name].append(result["cpu_s"])
    rows: list[Row] = []
    for key, label, base, measured in LINES:
        row = Row(THROUGHPUT_V1_ROW, key, label, "events/s", "-")
        if measured not in samples:
            row.note = "skipped: zstandard is not installed in ours (pip install 'posthog[zstd]')"
            rows.append(_label_ref(finish(row), base))
            continue
        row.samples = {"ref": samples[base], "ours": samples[measured]}
        settings = _settings(measured)
        if not rows:
            note = (
                f"ref column: our client, {_settings(base)} (POST /batch/); ours: {settings} "
                f"(POST {V1_PATH}); {n:,} events as row 2, median of {reps}; CPU s per run, "
                f"client process: {_median_text(client_cpu)}; fake server: {_median_text(server_cpu)}"
            )
        else:
            note = f"the same {base} runs in the ref column; ours: {settings}"
        found = problems[base] + problems[measured]
        row.note = f"INVALID: {'; '.join(found)}; {note}" if found else note
        rows.append(_label_ref(finish(row, higher_is_better=True), base))
    return rows


# --- row 9v -----------------------------------------------------------------------------------------


def outage_v1_rows(runner: Runner, mode: str) -> list[Row]:
    """Row 9v: row 9's outage, our v0 and our v1 client side by side."""
    sizes = DELIVERY_MODES[mode]
    what = outage_what(sizes)
    group = OUTAGE_V1_ROW
    rows = (
        Row(group, "outage_v1_delivered_pct", f"9v-a. v1 vs v0: delivered once, {what}", "%", "ours=100%"),
        Row(group, "outage_v1_dropped", "9v-b. v1 vs v0: reported dropped (on_error)", "events", "ours=0"),
        Row(group, "outage_v1_duplicates", "9v-c. v1 vs v0: delivered more than once", "events", "ours=0"),
    )
    rows[0].decimals = 2
    side = _ours(runner)
    slots: Sequence[OutageSlot] = (
        OutageSlot("ref", side, {"capture_mode": "v0"}, V0),
        OutageSlot("ours", side, {"capture_mode": "v1"}, V1),
    )
    run = run_outage(runner, sizes, slots, ("/batch", V1_PATH), "row 9v")
    score_outage(run.results, run.received, rows, {"ref": V0, "ours": V1})
    delivered = rows[0]
    extra: list[str] = ["ref column: our client with capture_mode='v0'; ours: capture_mode='v1'"]
    if run.v1_violations:
        extra.append(f"{len(run.v1_violations)} v1 protocol violations, first: {run.v1_violations[0]}")
    extra.extend(run.errors)
    delivered.note = f"{delivered.note}; {'; '.join(extra)}"
    return [_label_ref(row, V0) for row in rows]

"""Side-by-side benchmarks of our package against posthog 3.25.0, reported as ratios.

    python -m benchmarks.run [--quick] [--smoke] [--rows 1,2,2v,3,3e,...,10,1b,growth] [--json FILE]

Each measurement runs ``benchmarks/_workloads.py`` in a fresh subprocess: ``.venv/bin/python``
from the repository for ours, ``.venv-ref/bin/python`` from an empty temporary directory for the
reference (so our ``posthog/`` cannot shadow it). The two sides alternate order over the
repetitions; the table shows medians. The fake PostHog runs in its own process (record off, so it
only counts) and tells us how many events arrived. Without ``.venv-ref`` only ours is measured.
Rows 3 and 3e (local flags, hard and easy mix) live in ``benchmarks/_rows_flags.py``; rows 8, 9,
10 and 1b (delivery under a burst, an outage and a large backlog) in
``benchmarks/_rows_delivery.py``; rows 2v and 9v (our capture v1 against our v0: throughput and
the outage) in ``benchmarks/_rows_protocol.py``; the shared process plumbing in
``benchmarks/_harness.py``; the printed table in ``benchmarks/_report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Optional

from benchmarks._harness import (
    REF_VERSION,
    REPO,
    FakeServer,
    Row,
    Runner,
    Side,
    WorkloadError,
    fake_server,
    finish,
    ours_python,
    progress,
)
from benchmarks._report import render
from benchmarks._rows_async import ASYNC_ROWS, async_steps
from benchmarks._rows_async_app import APP_ROWS, APP_SMOKE_SKIPS, app_steps
from benchmarks._rows_delivery import DELIVERY_ROWS, delivery_steps
from benchmarks._rows_delivery import SMOKE_SKIPS as DELIVERY_SMOKE_SKIPS
from benchmarks._rows_flags import FLAG_ROWS, flag_steps, flags_file
from benchmarks._rows_flags_random import RANDOM_ROW, random_flag_step
from benchmarks._rows_fleet import FLEET_ROWS, fleet_steps
from benchmarks._rows_protocol import (
    OUTAGE_V1_ROW,
    PROTOCOL_SMOKE_SKIPS,
    THROUGHPUT_V1_ROW,
    outage_v1_step,
    throughput_v1_step,
)

OUR_SHUTDOWN_DEADLINE: Final = 5.0 + 1.0  # documented default shutdown timeout + margin
IMPORT_CODE: Final = (
    "import time; t = time.perf_counter(); import posthog; "
    "print('RESULT', time.perf_counter() - t, posthog.VERSION)"
)
#: Overrides the reference interpreter (default ``.venv-ref/bin/python``); a missing path means "ours only".
REF_PYTHON_ENV: Final = "POSTHOG_BENCH_REF_PYTHON"
ALL_ROWS: Final = (
    "1",
    "2",
    THROUGHPUT_V1_ROW,
    *FLAG_ROWS,
    RANDOM_ROW,
    "4",
    "5",
    "6",
    "7",
    "growth",
    *DELIVERY_ROWS,
    OUTAGE_V1_ROW,
    *ASYNC_ROWS,
    *APP_ROWS,
    *FLEET_ROWS,
)
#: Rows --smoke leaves out unless named in --rows (the outage rows need seconds of outage).
SMOKE_SKIPS: Final = DELIVERY_SMOKE_SKIPS | PROTOCOL_SMOKE_SKIPS | APP_SMOKE_SKIPS


@dataclass(frozen=True)
class Sizes:
    """How much work each row does in one mode."""

    reps: int
    capture_n: int
    warmup: int
    throughput_n: int
    throughput_reps: int
    flag_one_n: int
    flag_all_n: int
    import_runs: int
    shutdown_reps: int
    enrich_n: int
    growth_capture_n: int
    growth_flag_calls: int  # calls x definitions per get_all_flags growth measurement
    growth_reps: int
    ref_shutdown: bool  # run the reference shutdown (capped at 90 s)
    check_contexts: int = 40
    settle: bool = True  # flush after the warm-up so timing starts with an empty queue
    growth_properties: tuple[int, ...] = (1, 10, 100)
    growth_definitions: tuple[int, ...] = (10, 100, 1000)


MODES: Final = {
    "full": Sizes(5, 20000, 2000, 30000, 3, 20000, 2000, 15, 3, 5000, 5000, 30000, 3, True),
    "quick": Sizes(3, 5000, 500, 5000, 2, 5000, 500, 5, 1, 1000, 1000, 6000, 1, False),
    "smoke": Sizes(
        1,
        300,
        50,
        300,
        1,
        300,
        30,
        1,
        1,
        100,
        100,
        300,
        1,
        False,
        8,
        settle=False,
        growth_properties=(1, 100),
        growth_definitions=(10, 100),
    ),
}


# --- rows -------------------------------------------------------------------------------------------


def capture_rows(runner: Runner, server: FakeServer, sizes: Sizes) -> tuple[Row, Row]:
    """Row 1 (µs per capture) and row 5 (peak RSS of the same processes)."""
    cost = Row("1", "capture_us", "1. capture() on caller's thread", "µs/call", "<=0.10")
    rss = Row("5", "peak_rss_mib", "5. peak RSS of the row-1 process", "MiB", "<=1.0")
    expected = sizes.warmup + sizes.capture_n
    backlog: dict[str, list[int]] = {}
    params = {
        "url": server.url,
        "n": sizes.capture_n,
        "warmup": sizes.warmup,
        "settle": sizes.settle,
        "max_queue_size": expected + 1000,
    }
    for rep in range(sizes.reps):
        for side in runner.order(rep):
            server.reset()
            result = runner.workload(side, "capture", params, timeout=180)
            arrived = server.events()
            if result["failed"] or arrived != expected or not result["props_unchanged"]:
                cost.note = rss.note = (
                    f"INVALID: {side.name} failed={result['failed']} arrived={arrived}/{expected} "
                    f"props_unchanged={result['props_unchanged']}"
                )
            cost.samples.setdefault(side.name, []).append(result["us_per_call"])
            rss.samples.setdefault(side.name, []).append(result["peak_rss_kib"] / 1024)
            backlog.setdefault(side.name, []).append(result["backlog"])
    if not rss.note:
        rss.note = "queue backlog when the capture loop ended (median): " + ", ".join(
            f"{name} {statistics.median(values):.0f}" for name, values in backlog.items()
        )
    return finish(cost, limit=0.10), finish(rss, limit=1.0)


def throughput_row(runner: Runner, server: FakeServer, sizes: Sizes, *, gzip: bool) -> Row:
    """Row 2: events/s until the server holds every event."""
    row = Row(
        "2",
        f"throughput_{'gzip' if gzip else 'plain'}_eps",
        f"2. delivery throughput, gzip {'on' if gzip else 'off'}",
        "events/s",
        ">=8",
    )
    n = sizes.throughput_n
    params = {"url": server.url, "n": n, "gzip": gzip, "max_queue_size": n + 1000, "wait_timeout": 120}
    for rep in range(sizes.throughput_reps):
        for side in runner.order(rep):
            server.reset()
            result = runner.workload(side, "throughput", params, timeout=180)
            if not result["all_arrived"] or result["server_events"] != n or result["failed"]:
                row.note = (
                    f"INVALID: {side.name} lost events (server has {result['server_events']}/{n}, "
                    f"failed={result['failed']})"
                )
                continue
            row.samples.setdefault(side.name, []).append(result["events_per_s"])
    return finish(row, higher_is_better=True, limit=8.0)


def import_row(runner: Runner, sizes: Sizes) -> Row:
    """Row 4: ``import posthog`` in a fresh interpreter (after one untimed run to warm the caches)."""
    row = Row("4", "import_ms", "4. import posthog (fresh interpreter)", "ms", "<=0.5")
    for side in runner.sides:
        runner.import_time(side, IMPORT_CODE)
    for rep in range(sizes.import_runs):
        for side in runner.order(rep):
            row.samples.setdefault(side.name, []).append(runner.import_time(side, IMPORT_CODE) * 1000)
    return finish(row, limit=0.5)


def shutdown_row(runner: Runner, sizes: Sizes) -> Row:
    """Row 6: shutdown() with 1000 events queued against a server that never answers."""
    row = Row(
        "6",
        "shutdown_s",
        "6. shutdown(), 1000 queued, silent server",
        "s",
        f"ours<={OUR_SHUTDOWN_DEADLINE:.1f}s",
    )
    n = 1000
    lost: dict[str, list[Any]] = {}
    with fake_server(silent=True, max_seconds=200 if sizes.ref_shutdown else 60) as server:
        params = {"url": server.url, "n": n}
        for side in runner.sides:
            if side.name == "ref" and not sizes.ref_shutdown:
                row.ref_text = "skipped (>60s known)"
                continue
            for _ in range(1 if side.name == "ref" else sizes.shutdown_reps):
                try:
                    result = runner.workload(
                        side, "shutdown", params, timeout=90 if side.name == "ref" else 30
                    )
                except WorkloadError as exc:
                    if side.name != "ref":
                        raise
                    row.ref_text = "killed at 90s"
                    progress(str(exc))
                    continue
                row.samples.setdefault(side.name, []).append(result["seconds"])
                reported = result["stats_dropped"] if side.name == "ours" else result["lost_on_error"]
                lost.setdefault(side.name, []).append(reported)
    finish(row)
    if row.ref_text == "killed at 90s" and row.ours is not None:
        row.ratio = row.ours / 90.0  # an upper bound: the reference took longer than 90 s
    ours_lost = lost.get("ours", [])
    row.note = f"reported lost: ours {ours_lost}/{n}" + (
        f", ref {lost['ref']}/{n} (on_error)" if "ref" in lost else ""
    )
    if row.ours is not None:
        row.met = "yes" if row.ours <= OUR_SHUTDOWN_DEADLINE and all(x == n for x in ours_lost) else "no"
    return row


def enrichment_row(runner: Runner, server: FakeServer, sizes: Sizes, workdir: Path) -> Row:
    """Row 7: capture() with 50 local flag definitions loaded (3.x adds $feature/* properties)."""
    row = Row("7", "capture_enriched_us", "7. capture() with 50 local flags loaded", "µs/call", "<=0.10")
    warmup = max(50, sizes.enrich_n // 10)
    params = {
        "url": server.url,
        "n": sizes.enrich_n,
        "warmup": warmup,
        "settle": sizes.settle,
        "max_queue_size": sizes.enrich_n + warmup + 1000,
        "flags_file": flags_file(workdir, 50, sizes.check_contexts),
    }
    enrichment: dict[str, Any] = {}
    for rep in range(sizes.reps):
        for side in runner.order(rep):
            server.reset()
            result = runner.workload(side, "capture", params, timeout=300)
            enrichment.setdefault(side.name, result["enrichment"])
            if result["failed"] or server.events() != sizes.enrich_n + warmup:
                row.note = f"INVALID: {side.name} lost events"
            row.samples.setdefault(side.name, []).append(result["us_per_call"])
    if not row.note and "ref" in enrichment:
        same = enrichment["ref"] == enrichment["ours"]
        flags = len(enrichment["ours"].get("$active_feature_flags", []))
        row.note = (
            f"same enrichment ({flags} active flags)" if same else "INVALID: enrichment properties differ"
        )
    return finish(row, limit=0.10)


def growth_rows(runner: Runner, server: FakeServer, sizes: Sizes, workdir: Path) -> list[Row]:
    """How capture and get_all_flags grow with properties and definitions (no targets)."""
    rows: list[Row] = []
    for count in sizes.growth_properties:
        row = Row(
            "growth", f"growth_capture_{count}props_us", f"g. capture(), {count} properties", "µs/call", "-"
        )
        n = sizes.growth_capture_n
        params = {
            "url": server.url,
            "n": n,
            "warmup": 100,
            "settle": sizes.settle,
            "properties": count,
            "max_queue_size": n + 1100,
        }
        for rep in range(sizes.growth_reps):
            for side in runner.order(rep):
                server.reset()
                result = runner.workload(side, "capture", params, timeout=180)
                if result["failed"] or server.events() != n + 100:
                    row.note = f"INVALID: {side.name} lost events"
                row.samples.setdefault(side.name, []).append(result["us_per_call"])
        rows.append(finish(row))
    for count in sizes.growth_definitions:
        row = Row(
            "growth", f"growth_all_flags_{count}defs_us", f"g. get_all_flags, {count} defs", "µs/call", "-"
        )
        params = {
            "url": "http://127.0.0.1:9",
            "flags_file": flags_file(workdir, count, sizes.check_contexts),
            "n_all": max(3, sizes.growth_flag_calls // count),
        }
        for rep in range(sizes.growth_reps):
            for side in runner.order(rep):
                result = runner.workload(side, "flags", params, timeout=180)
                row.samples.setdefault(side.name, []).append(result["all_us"])
        rows.append(finish(row))
    return rows


def _failed_row(group: str, error: Exception) -> Row:
    return Row(
        group, f"row_{group}", f"{group}. (workload failed)", "-", "-", met="no", note=f"INVALID: {error}"
    )


def _parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions (< 1 min)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (for the test)")
    parser.add_argument(
        "--rows",
        help=f"comma-separated subset of {ALL_ROWS} (default: all; --smoke skips {sorted(SMOKE_SKIPS)} "
        "unless named here)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    sizes = MODES[mode]
    if args.rows is None:
        wanted = set(ALL_ROWS) - (SMOKE_SKIPS if mode == "smoke" else set())
    else:
        wanted = {part.strip() for part in args.rows.split(",") if part.strip()}
    unknown = wanted - set(ALL_ROWS)
    if unknown:
        sys.stderr.write(f"unknown rows: {sorted(unknown)}; choose from {ALL_ROWS}\n")
        return 2
    ref_python = Path(os.environ.get(REF_PYTHON_ENV) or REPO / ".venv-ref" / "bin" / "python")
    have_ref = ref_python.exists()
    started = time.monotonic()
    load = os.getloadavg()[0]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="posthog-bench-") as tmp:
        workdir = Path(tmp)
        ref_cwd = workdir / "ref-cwd"
        ref_cwd.mkdir()
        sides = [Side("ours", ours_python(), str(REPO))]
        if have_ref:
            sides.insert(0, Side("ref", str(ref_python), str(ref_cwd)))
        else:
            print(f"reference not found ({ref_python}): measuring ours only (run `make ref-venv`)")
        runner = Runner(sides, workdir)
        steps: list[tuple[set[str], Callable[[FakeServer], list[Row]]]] = [
            ({"1", "5"}, lambda s: list(capture_rows(runner, s, sizes))),
            ({"2"}, lambda s: [throughput_row(runner, s, sizes, gzip=g) for g in (False, True)]),
            throughput_v1_step(runner, sizes.throughput_n, sizes.throughput_reps),
            *flag_steps(runner, sizes, workdir),
            random_flag_step(runner, sizes, workdir),
            ({"4"}, lambda s: [import_row(runner, sizes)]),
            ({"6"}, lambda s: [shutdown_row(runner, sizes)]),
            ({"7"}, lambda s: [enrichment_row(runner, s, sizes, workdir)]),
            ({"growth"}, lambda s: growth_rows(runner, s, sizes, workdir)),
            *delivery_steps(runner, mode),
            outage_v1_step(runner, mode),
            *async_steps(runner, mode),
            *app_steps(runner, mode),
            *fleet_steps(runner, mode),
        ]
        with fake_server(max_seconds=3600) as server:
            for keys, step in steps:
                if keys & wanted:
                    progress(f"rows {sorted(keys)} ({time.monotonic() - started:.0f}s elapsed)")
                    try:
                        rows.extend(r for r in step(server) if r.group in wanted)
                    except WorkloadError as exc:  # one broken row must not hide the others
                        progress(f"rows {sorted(keys)} failed: {exc}")
                        rows.extend(_failed_row(key, exc) for key in sorted(keys & wanted))
    elapsed = time.monotonic() - started
    print(
        f"posthog benchmarks, mode={mode}, {sizes.reps} repetitions (alternating order), "
        f"{elapsed:.0f}s, load average {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(render(rows, have_ref))
    if args.json:
        document = {
            "mode": mode,
            "reference": REF_VERSION if have_ref else None,
            "seconds": elapsed,
            "rows": [asdict(row) for row in rows],
        }
        args.json.write_text(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

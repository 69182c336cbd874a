"""Rows 8, 9, 10, 1b and 15: is every event delivered, under a burst, through an outage, with a
backlog; how many threads do many clients cost?

- 8: a tight loop of N captures with the default settings (max_queue_size=10000), then flush()
  and shutdown(); the share of the N events the server received.
- 9: 10 captures/s throughout while the server answers 503 to /batch, then refuses connections
  (its process stopped, a new one started on the same port later), then recovers. Both sides run
  at the same time against the same servers; events are told apart and counted by uuid.
- 10 / 1b: a tight loop of captures with the queue sized to hold them all (the reference keeps a
  backlog instead of dropping); peak RSS of that process, and µs per capture of the loop.
- 15: the most OS threads a process runs once each of its 200 clients has captured (the main
  thread included); every event must arrive after each client's shutdown().
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Optional

from benchmarks._harness import (
    FakeServer,
    Row,
    Runner,
    Side,
    Spawned,
    WorkloadError,
    finish,
    progress,
    quiet_port,
)

__all__ = [
    "DELIVERY_MODES",
    "DELIVERY_ROWS",
    "SMOKE_SKIPS",
    "DeliverySizes",
    "OutageRun",
    "OutageSlot",
    "delivery_steps",
    "outage_what",
    "run_outage",
    "score_outage",
]

DELIVERY_ROWS: Final = ("8", "9", "10", "1b", "15")
THREAD_BOUND: Final = 8
#: Rows --smoke leaves out unless named in --rows (row 9 needs seconds of outage by nature).
SMOKE_SKIPS: Final = frozenset({"9"})
SHUTDOWN_BOUND: Final = 30.0  # seconds the outage workload lets shutdown() run


@dataclass(frozen=True)
class DeliverySizes:
    burst: tuple[int, ...]  # captures per burst sub-row
    backlog_n: int
    backlog_reps: int
    outage: tuple[float, float, float, float]  # seconds: healthy, 503, refused, recovered
    outage_flush_timeout: float
    outage_rate: float = 10.0  # captures per second
    clients: int = 200  # row 15


DELIVERY_MODES: Final = {
    "full": DeliverySizes((20_000, 100_000, 500_000), 200_000, 3, (3.0, 30.0, 30.0, 5.0), 60.0),
    "quick": DeliverySizes((20_000, 100_000), 50_000, 1, (2.0, 8.0, 8.0, 3.0), 60.0),
    "smoke": DeliverySizes((2_000,), 3_000, 1, (0.5, 1.0, 1.0, 1.0), 10.0, clients=20),
}

Step = tuple[set[str], Callable[[FakeServer], list[Row]]]


def delivery_steps(runner: Runner, mode: str) -> list[Step]:
    """The (row keys, measurement) pairs ``benchmarks.run`` schedules for these rows."""
    sizes = DELIVERY_MODES[mode]
    return [
        ({"8"}, lambda server: burst_rows(runner, server, sizes)),
        ({"1b", "10"}, lambda server: backlog_rows(runner, server, sizes)),
        ({"9"}, lambda server: outage_rows(runner, sizes)),
        ({"15"}, lambda server: [clients_row(runner, server, sizes.clients)]),
    ]


def _count_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _sleep_until(wall_time: float) -> None:
    time.sleep(max(0.0, wall_time - time.time()))


# --- row 8 ------------------------------------------------------------------------------------------


def burst_rows(runner: Runner, server: FakeServer, sizes: DeliverySizes) -> list[Row]:
    """Row 8: % of a burst of N captures the server holds after flush() and shutdown(), defaults."""
    rows: list[Row] = []
    for n in sizes.burst:
        label = _count_label(n)
        row = Row(
            "8",
            f"burst_{label}_pct",
            f"8. delivered, burst of {label}, default settings",
            "%",
            "ours=100%",
            decimals=2,
        )
        bound = 60.0  # per flush() and per shutdown() in the child
        timeout = 60 + n * 1.5e-4 + 2 * bound  # the reference spends ~36 µs per capture once full
        notes: list[str] = []
        arrived: dict[str, int] = {}
        for side in runner.order(0):
            server.reset()
            try:
                result = runner.workload(side, "burst", {"url": server.url, "n": n, "bound": bound}, timeout)
            except WorkloadError as exc:
                notes.append(str(exc))
                if side.name == "ref":
                    row.ref_text = f"killed at {timeout:.0f}s"
                continue
            got = server.wait_events(n, timeout=0.5)  # a last batch may still be in the server
            arrived[side.name] = got
            row.samples[side.name] = [100.0 * got / n]
            unaccounted = n - got - result["refused"]
            notes.append(
                f"{side.name} {got:,}/{n:,} arrived, capture() refused {result['refused']:,}, "
                f"accepted but lost {unaccounted:,} (capture {result['capture_s']:.1f}s, "
                f"flush {result['flush_s']:.1f}s, shutdown {result['shutdown_s']:.1f}s"
                + ("" if result["returned"] else ", flush/shutdown still running at the bound")
                + ")"
            )
        row.note = "; ".join(notes)
        finish(row)
        row.met = "yes" if arrived.get("ours") == n else "no"
        rows.append(row)
    return rows


# --- rows 10 and 1b ---------------------------------------------------------------------------------


def backlog_rows(runner: Runner, server: FakeServer, sizes: DeliverySizes) -> list[Row]:
    """Row 1b (µs per capture) and row 10 (peak RSS) of one loop that builds a large backlog."""
    n = sizes.backlog_n
    label = _count_label(n)
    cost = Row(
        "1b", "backlog_capture_us", f"1b. capture(), consumer running, {label} run", "µs/call", "<=0.10"
    )
    rss = Row("10", "backlog_peak_rss_mib", f"10. peak RSS, {label} captures queued, flushed", "MiB", "<=0.6")
    wait_timeout = 60 + n / 1000
    params = {"url": server.url, "n": n, "max_queue_size": n + 1000, "wait_timeout": wait_timeout}
    backlog: dict[str, list[int]] = {}
    for rep in range(sizes.backlog_reps):
        for side in runner.order(rep):
            server.reset()
            result = runner.workload(side, "backlog", params, timeout=wait_timeout + 60 + n * 1e-4)
            if result["failed"] or result["server_events"] != n:
                cost.note = rss.note = (
                    f"INVALID: {side.name} failed={result['failed']} arrived={result['server_events']}/{n}"
                )
            cost.samples.setdefault(side.name, []).append(result["us_per_call"])
            rss.samples.setdefault(side.name, []).append(result["peak_rss_kib"] / 1024)
            backlog.setdefault(side.name, []).append(result["backlog"])
    if not rss.note:
        rss.note = "queue backlog when the capture loop ended: " + ", ".join(
            f"{name} {values}" for name, values in backlog.items()
        )
    return [finish(cost, limit=0.10), finish(rss, limit=0.6)]


# --- row 15 ---------------------------------------------------------------------------------------


def clients_row(runner: Runner, server: FakeServer, count: int) -> Row:
    """Row 15: OS threads of a process with ``count`` clients that have each captured."""
    row = Row("15", "threads_many_clients", f"15. OS threads, {count} clients that captured", "threads", "")
    row.target = f"ours<={THREAD_BOUND}"
    notes: list[str] = []
    for side in runner.order(0):
        server.reset()
        result = runner.workload(side, "clients", {"url": server.url, "n": count}, timeout=300)
        row.samples.setdefault(side.name, []).append(result["threads"])
        notes.append(
            f"{side.name}: {result['server_events']}/{count} arrived, shutdowns {result['shutdown_s']:.1f}s"
        )
        if result["server_events"] != count:
            row.note = f"INVALID: {side.name} delivered {result['server_events']}/{count}"
    row.note = row.note or "; ".join(notes)
    finish(row)
    if not row.note.startswith("INVALID"):
        row.met = "yes" if row.ours is not None and row.ours <= THREAD_BOUND else "no"
    return row


# --- row 9 ------------------------------------------------------------------------------------------


def outage_what(sizes: DeliverySizes) -> str:
    """The outage in a row label, e.g. ``30s 503 + 30s refused``."""
    _, failing, refusing, _ = sizes.outage
    return f"{failing:g}s 503 + {refusing:g}s refused"


@dataclass(frozen=True)
class OutageSlot:
    """One client of an outage run: the table column it fills, its interpreter, extra params."""

    slot: str  # "ref" or "ours"
    side: Side
    settings: dict[str, Any] = field(default_factory=dict)  # e.g. {"capture_mode": "v1"}
    label: str = ""  # its name in the notes (default: the slot)


def outage_rows(runner: Runner, sizes: DeliverySizes) -> list[Row]:
    """Row 9: delivered once / reported dropped / duplicated through a 503 then refused outage."""
    what = outage_what(sizes)
    rows = (
        Row("9", "outage_delivered_pct", f"9a. delivered once, {what}", "%", "ours=100%", decimals=2),
        Row("9", "outage_dropped", "9b. reported dropped (on_error)", "events", "ours=0"),
        Row("9", "outage_duplicates", "9c. delivered more than once", "events", "ours=0"),
    )
    slots = [OutageSlot(side.name, side) for side in runner.sides]
    run = run_outage(runner, sizes, slots, ("/batch",), "row 9")
    score_outage(run.results, run.received, rows, {})
    if run.errors:
        rows[0].note = f"{'; '.join(run.errors)}; {rows[0].note}"
    return list(rows)


@dataclass
class OutageRun:
    """What one outage run gave."""

    results: dict[str, dict[str, Any]]  # by slot
    received: list[dict[str, Any]]  # every event the servers accepted (v0 and v1 alike)
    errors: list[str]  # of the slots that gave no result
    v1_violations: list[str]  # capture v1 protocol violations the servers noticed


def run_outage(
    runner: Runner, sizes: DeliverySizes, slots: Sequence[OutageSlot], paths: Sequence[str], tag: str
) -> OutageRun:
    """Run the outage workload of every slot at once through the outage, answering 503 to ``paths``
    and then refusing connections; raises if no slot gave a result."""
    lead, failing, refusing, recovery = sizes.outage
    total = lead + failing + refusing + recovery
    child_timeout = 5 + total + sizes.outage_flush_timeout + 5 + SHUTDOWN_BOUND + 30
    lifetime = child_timeout + 60  # the servers stop by themselves whatever happens here
    port = quiet_port()
    first = FakeServer(port=port, record=True, max_seconds=lifetime)
    second: Optional[FakeServer] = None
    spawned: list[tuple[OutageSlot, Spawned]] = []
    received: list[dict[str, Any]] = []
    results: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    violations: list[str] = []
    try:
        start_at = time.time() + 3.0  # the children import and build their client meanwhile
        params = {
            "url": first.url,
            "start_at": start_at,
            "rate": sizes.outage_rate,
            "seconds": total,
            "flush_timeout": sizes.outage_flush_timeout,
            "shutdown_bound": SHUTDOWN_BOUND,
        }
        spawned = [(slot, runner.spawn(slot.side, "outage", {**params, **slot.settings})) for slot in slots]
        _sleep_until(start_at + lead)
        progress(f"{tag}: {', '.join(paths)} answer 503 for {failing:g}s")
        for path in paths:
            first.control("POST", "/_fake/fault", {"path": path, "status": 503, "times": None})
        _sleep_until(start_at + lead + failing)
        received.extend(first.accepted_events())  # the 503s keep anything newer out
        violations.extend(first.v1_violations())
        first.close()
        progress(f"{tag}: nothing listens on port {port} for {refusing:g}s")
        _sleep_until(start_at + lead + failing + refusing)
        second = FakeServer(port=port, record=True, max_seconds=lifetime)
        progress(f"{tag}: server back; waiting for flush() and shutdown()")
        deadline = time.monotonic() + child_timeout
        for slot, item in spawned:
            try:
                results[slot.slot] = runner.collect(item, max(1.0, deadline - time.monotonic()))
            except WorkloadError as exc:
                errors.append(f"{slot.label}: {exc}" if slot.label else str(exc))
        time.sleep(0.3)  # a request sent just before a child exited may still be in the server
        received.extend(second.accepted_events())
        violations.extend(second.v1_violations())
    finally:
        for _, item in spawned:
            item.kill()
        first.close()
        if second is not None:
            second.close()
    if not results:
        raise WorkloadError("; ".join(errors) or f"{tag}: no result")
    return OutageRun(results, received, errors, violations)


def score_outage(
    results: dict[str, dict[str, Any]],
    received: list[dict[str, Any]],
    rows: tuple[Row, Row, Row],
    labels: dict[str, str],
) -> None:
    """Fill the delivered / dropped / duplicates rows; ``labels`` names the slots in the notes."""
    delivered, dropped, duplicates = rows
    counts = Counter(str(event.get("uuid")) for event in received)
    mine: set[str] = set()
    notes: list[str] = []
    for name, result in results.items():
        sent: list[str] = result["sent"]
        mine.update(sent)
        arrived = {u for u in sent if counts[u]}
        reported: list[Any] = result["dropped"]
        reported_ids = {str(u) for u in reported if u}
        extra = sum(counts[u] - 1 for u in arrived)
        silent = sum(1 for u in sent if u not in arrived and u not in reported_ids)
        delivered.samples[name] = [100.0 * len(arrived) / len(sent)]
        dropped.samples[name] = [float(len(reported))]
        duplicates.samples[name] = [float(extra)]
        notes.append(
            f"{labels.get(name, name)} {len(arrived)}/{len(sent)} arrived, {len(reported)} reported dropped "
            f"({len(reported_ids & arrived)} of those arrived anyway), {silent} lost unreported, "
            f"{extra} duplicates, capture() refused {result['refused']}, "
            f"flush {result['flush_s']:.1f}s{'' if result['flush_returned'] else ' (cut off)'}"
            f"{'' if result['flush_timeout_arg'] else ' (no timeout arg: bounded by a thread)'}, "
            f"shutdown {result['shutdown_s']:.1f}s{'' if result['shutdown_returned'] else ' (cut off)'}"
            + (f", started {result['late_start_s']:.1f}s late" if result["late_start_s"] > 0.5 else "")
        )
    foreign = sum(n for u, n in counts.items() if u not in mine)
    delivered.note = "; ".join(notes) + (f"; INVALID: {foreign} events nobody sent" if foreign else "")
    for row in rows:
        finish(row)
    ours = results.get("ours")
    if ours is not None:
        complete = delivered.ours == 100.0 and duplicates.ours == 0
        delivered.met = "yes" if complete and not foreign else "no"
        dropped.met = "yes" if dropped.ours == 0 else "no"
        duplicates.met = "yes" if duplicates.ours == 0 else "no"
    else:
        for row in rows:
            row.met = "no"

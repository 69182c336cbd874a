"""Row 13: definitions requests per minute of a fleet of N processes, with and without Redis.

N real processes (N = 1, 8, 32) each build a ``posthog.Client`` with a personal API key and
``poll_interval=1`` and then sit idle (a 0.5 s sleep loop: no busy work), as web workers between
requests do. They all start together. The fake PostHog (in this process) records every request;
we count the definitions requests (``/api/feature_flag/local_evaluation/``, 200 and 304 alike)
that arrive in a steady window, which opens ``skip`` seconds after the spawn and only once every
process holds definitions, and scale the count to requests per minute.

Both columns run our package: the "ref" column holds the fleet without a provider (every
process polls: about 60·N a minute), the "ours" column the same fleet with
``flag_definition_cache_provider=RedisFlagDefinitionCache(...)`` against a real ``redis-server``
(one leader polls: about 60 a minute whatever N). The ratio is with / without.

The note of the N=1 row also gives the cost of one local ``get_feature_flag`` in a process that
read its definitions from the cache (a follower, while a leader process holds the lock) and in
one that fetched them itself; both evaluate through the same snapshot code, so they must match.

Every process started here is killed at the end, on errors too; each also exits by itself after
``max_seconds`` or when its parent is gone. The processes are in ``_fleet_workers.py``; starting,
watching and counting them is in ``_fleet.py``.
"""

from __future__ import annotations

import json
import signal
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from benchmarks._fleet import (
    DEFINITIONS_PATH,
    STOP_GRACE,
    WORKERS,
    Count,
    Fleet,
    ours_side,
    run_fleets,
)
from benchmarks._fleet_workers import EVAL_CONTEXTS, LOCK_TTL, PERSONAL_KEY, POLL_INTERVAL
from benchmarks._harness import FakeServer, Row, Runner, WorkloadError, finish, fmt, progress

__all__ = ["FLEET_ROWS", "fleet_steps"]

FLEET_ROWS: Final = ("13",)
DEFINITION_COUNT: Final = 20
FLAT_LIMIT: Final = 90.0  # "about flat": one leader poll a second (60/min) plus a little
LINEAR_SHARE: Final = 0.8  # the baseline must reach this share of 60·N to count as linear
EVAL_BAND: Final = 0.10  # cache reader vs fetcher: equal within this share
MODE_NAMES: Final = {"ref": "no provider", "ours": "Redis provider"}


@dataclass(frozen=True)
class FleetSizes:
    ns: tuple[int, ...]  # fleet sizes
    skip: float  # seconds of start-up left out of the window
    measure: float  # seconds counted
    together: bool  # run both fleets of an N at once (smoke only: saves time)
    eval_n: int  # get_feature_flag calls timed per evaluation process
    eval_reps: int  # evaluation processes per kind


FLEET_MODES: Final = {
    "full": FleetSizes((1, 8, 32), 2.0, 18.0, False, 200000, 7),
    "quick": FleetSizes((1, 8, 32), 2.0, 6.0, False, 100000, 5),
    "smoke": FleetSizes((1, 2), 1.0, 2.0, True, 2000, 1),
}

Step = tuple[set[str], Callable[[FakeServer], list[Row]]]


def fleet_steps(runner: Runner, mode: str) -> list[Step]:
    """The (row keys, measurement) pairs ``benchmarks.run`` schedules for this row."""
    sizes = FLEET_MODES[mode]
    return [({"13"}, lambda server: fleet_rows(runner, sizes))]


def _fleet_note(n: int, counts: dict[str, Count], sizes: FleetSizes, servers: dict[str, Any]) -> str:
    parts = []
    for slot in ("ref", "ours"):
        count = counts.get(slot)
        if count is None:
            continue
        polls = sum(int(m["polls"]) for m in count.members)
        total = len(servers[slot].requests_to(DEFINITIONS_PATH))
        reads = sum(int(m["cache_reads"]) for m in count.members)
        text = (
            f"{slot} ({MODE_NAMES[slot]}): {count.requests} requests in {sizes.measure:g} s "
            f"({count.not_modified} answered 304), all {n} up after {count.startup:.1f} s; "
            f"members counted {polls} polls (server: {total} over the run)"
        )
        if slot == "ours":
            errors = sum(int(m["cache_errors"]) for m in count.members)
            held = len(count.leaders) == 1 and count.leaders[0] <= count.window_start
            text += (
                f", {reads} cache reads, {errors} cache errors; {len(count.leaders)} leader at the "
                f"window's end, {'the same' if held else 'not the same'} as at its start"
            )
        parts.append(text)
    return "; ".join(parts)


def _fleet_problems(counts: dict[str, Count]) -> list[str]:
    """What makes the counts meaningless (cache errors are not among them: the note shows them)."""
    problems = [f"{slot}: {p}" for slot, count in counts.items() for p in count.problems]
    ours = counts.get("ours")
    if ours is not None and not ours.problems and len(ours.leaders) != 1:
        problems.append(f"ours: {len(ours.leaders)} leaders at the end of the window, expected 1")
    return problems


def _fleet_row(n: int, counts: dict[str, Count], sizes: FleetSizes, servers: dict[str, Any]) -> Row:
    row = Row(
        "13",
        f"fleet_definitions_per_min_n{n}",
        f"13. definitions requests/min, N={n} processes polling at {POLL_INTERVAL} s: "
        "Redis provider vs no provider",
        "req/min",
        f"ours<={FLAT_LIMIT:g},ref>={LINEAR_SHARE * 60 * n:g}",
    )
    for slot, count in counts.items():
        row.samples[slot] = [count.per_minute]
    row.note = (
        f"ref column: the fleet of {n} without a provider; ours: the same fleet with "
        f"RedisFlagDefinitionCache (lock_ttl {LOCK_TTL:g} s); ratio = with / without; "
        + _fleet_note(n, counts, sizes, servers)
    )
    problems = _fleet_problems(counts)
    if problems:
        row.note = f"INVALID: {'; '.join(problems)}; {row.note}"
    finish(row)
    if row.ref is not None:
        row.ref_text = f"{fmt(row.ref)} (no provider)"
    if not problems and row.ours is not None:
        linear = row.ref is None or row.ref >= LINEAR_SHARE * 60 * n
        row.met = "yes" if row.ours <= FLAT_LIMIT and linear else "no"
    return row


def _wait_ready(fleet: Fleet, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(fleet.ready_times()) < fleet.n:
        if fleet.dead() or time.monotonic() > deadline:
            raise WorkloadError("the leader process for the evaluation measurement did not start")
        time.sleep(0.05)


def _evaluation_note(
    runner: Runner, sizes: FleetSizes, server: Any, redis_url: str, defs_file: str
) -> tuple[str, bool]:
    """µs per local get_feature_flag: definitions read from the cache vs fetched by the process.

    The note, and whether the two are equal within ``EVAL_BAND``.
    """
    server.clear()
    leader = Fleet("ours", 1, server.url, server)
    cost: dict[str, list[float]] = {"cache": [], "fetched": []}
    values: dict[str, set[str]] = {"cache": set(), "fetched": set()}
    problems: list[str] = []
    try:
        leader.start(runner, redis_url, "bench-eval", 120.0)
        _wait_ready(leader, 30.0)
        time.sleep(0.2)  # the leader stores what it fetched right after taking it
        for rep in range(sizes.eval_reps):
            kinds = ("cache", "fetched") if rep % 2 == 0 else ("fetched", "cache")
            for kind in kinds:
                params = {
                    "host": server.url,
                    "redis": redis_url if kind == "cache" else None,
                    "service_key": "bench-eval",
                    "n": sizes.eval_n,
                    "definitions_file": defs_file,
                }
                side = ours_side(runner)
                line = runner._run(side, ["-m", WORKERS, "eval", str(runner._params_file(params))], 60)
                result = runner._parse(side, line)
                cost[kind].append(result["us_per_call"])
                values[kind].add(result["values_digest"])
                stats = result["stats"]
                from_cache = stats["polls"] == 0 and stats["cache_reads"] >= 1 and not stats["leader"]
                fetched = stats["polls"] >= 1 and stats["cache_reads"] == 0
                if not (from_cache if kind == "cache" else fetched):
                    problems.append(f"{kind} process did not get its definitions that way: {stats}")
    finally:
        leader.terminate()
        leader.reap(time.monotonic() + STOP_GRACE)
    same = values["cache"] == values["fetched"] and len(values["cache"]) == 1
    if not same:
        problems.append("the two kinds of process answered differently")
    cache, fetched = statistics.median(cost["cache"]), statistics.median(cost["fetched"])
    within = abs(cache / fetched - 1) <= EVAL_BAND
    text = (
        f"local get_feature_flag ({DEFINITION_COUNT} defs x {EVAL_CONTEXTS} contexts, {sizes.eval_n} "
        f"calls, median of {sizes.eval_reps} processes of each kind): definitions read from the Redis "
        f"cache by a follower {cache:.2f} µs/call vs fetched by the process itself {fetched:.2f} "
        f"µs/call (cache/fetched {cache / fetched:.2f}, within ±{EVAL_BAND:.0%}: "
        f"{'yes' if within else 'no'}; same answers: {'yes' if same else 'no'})"
    )
    if problems:
        text = f"INVALID: {'; '.join(problems)}; {text}"
    return text, within and not problems


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def fleet_rows(runner: Runner, sizes: FleetSizes) -> list[Row]:
    """Row 13, one line per N; the evaluation cost in the N=1 note.

    While it runs, SIGTERM unwinds like Ctrl-C, so that the cleanup below still ends the fleet,
    redis-server and the fake servers.
    """
    if threading.current_thread() is not threading.main_thread():
        return _fleet_rows(runner, sizes)
    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:
        return _fleet_rows(runner, sizes)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fleet_rows(runner: Runner, sizes: FleetSizes) -> list[Row]:
    from benchmarks._data import flag_definitions
    from posthog.testing.fake_server import FakePostHog

    try:
        from tests.support.redis_server import RedisServer, RedisServerMissing
    except ImportError as exc:
        raise WorkloadError(f"cannot import tests.support.redis_server: {exc}") from exc
    try:
        redis = RedisServer()
    except RedisServerMissing as exc:
        raise WorkloadError(str(exc)) from exc
    definitions = flag_definitions(DEFINITION_COUNT)
    defs_file = runner.workdir / "fleet-definitions.json"
    defs_file.write_text(json.dumps(definitions))
    servers: dict[str, Any] = {}
    rows: list[Row] = []
    try:
        redis.start()
        for slot in ("ref", "ours"):
            server = FakePostHog(personal_api_key=PERSONAL_KEY, max_lifetime=3600.0).start()
            server.set_flag_definitions(definitions)
            servers[slot] = server
        for n in sizes.ns:
            groups: Sequence[Sequence[str]] = (("ref", "ours"),) if sizes.together else (("ref",), ("ours",))
            counts: dict[str, Count] = {}
            for slots in groups:
                progress(f"row 13: N={n}, {' and '.join(MODE_NAMES[s] for s in slots)}")
                counts.update(
                    run_fleets(
                        runner, n, slots, servers, redis.url, f"n{n}", skip=sizes.skip, measure=sizes.measure
                    )
                )
            rows.append(_fleet_row(n, counts, sizes, servers))
        progress("row 13: evaluation cost, cache reader vs fetcher")
        try:
            note, equal = _evaluation_note(runner, sizes, servers["ref"], redis.url, str(defs_file))
        except WorkloadError as exc:
            note, equal = f"INVALID: evaluation measurement failed: {exc}", False
        if rows:
            first = rows[0]
            if note.startswith("INVALID"):
                first.note = f"{note}; {first.note.removeprefix('INVALID: ')}"
            else:
                first.note = f"{first.note}; {note}"
            if not equal:
                first.met = "no"
    finally:
        for server in servers.values():
            server.close()
        redis.close()
    return rows

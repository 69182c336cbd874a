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
``max_seconds`` or when its parent is gone.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Optional

from benchmarks._harness import (
    REPO,
    FakeServer,
    Row,
    Runner,
    Side,
    WorkloadError,
    clean_env,
    finish,
    fmt,
    progress,
)

__all__ = ["FLEET_ROWS", "fleet_steps"]

FLEET_ROWS: Final = ("13",)
API_KEY: Final = "phc_fleet_bench"
PERSONAL_KEY: Final = "phx_fleet_bench"
DEFINITIONS_PATH: Final = "/api/feature_flag/local_evaluation"
POLL_INTERVAL: Final = 1  # seconds, for every process
LOCK_TTL: Final = 3.0  # >= 2 x the poll interval
TICK: Final = 0.5  # the idle loop of a member process
DEFINITION_COUNT: Final = 20
EVAL_CONTEXTS: Final = 40
FLAT_LIMIT: Final = 90.0  # "about flat": one leader poll a second (60/min) plus a little
LINEAR_SHARE: Final = 0.8  # the baseline must reach this share of 60·N to count as linear
EVAL_BAND: Final = 0.10  # cache reader vs fetcher: equal within this share
STOP_GRACE: Final = 5.0  # after SIGTERM, then SIGKILL
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


# --- the parent's side ------------------------------------------------------------------------------


def _ours(runner: Runner) -> Side:
    return next(side for side in runner.sides if side.name == "ours")


@dataclass
class Fleet:
    """N member processes of one mode ("ref": no provider, "ours": Redis), started together."""

    slot: str
    n: int
    url: str
    server: Any  # FakePostHog
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    outs: list[Path] = field(default_factory=list)
    readies: list[Path] = field(default_factory=list)
    statuses: list[Path] = field(default_factory=list)
    spawned: float = 0.0

    def start(self, runner: Runner, redis_url: Optional[str], service_key: str, max_seconds: float) -> None:
        side = _ours(runner)
        for _ in range(self.n):
            params = {
                "host": self.url,
                "redis": redis_url,
                "service_key": service_key,
                "max_seconds": max_seconds,
                "parent": os.getpid(),
            }
            params_file = runner._params_file(params)
            ready = params_file.with_suffix(".ready")
            out, err = params_file.with_suffix(".out"), params_file.with_suffix(".err")
            status = params_file.with_suffix(".status")
            params["ready"], params["status"] = str(ready), str(status)
            params_file.write_text(json.dumps(params))
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                proc = subprocess.Popen(
                    [side.python, "-m", "benchmarks._rows_fleet", "member", str(params_file)],
                    cwd=REPO,
                    env=clean_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                )
            self.procs.append(proc)
            self.outs.append(out)
            self.readies.append(ready)
            self.statuses.append(status)
        self.spawned = time.monotonic()

    def ready_times(self) -> list[float]:
        """When each member that holds definitions got them (time.monotonic(), system-wide)."""
        return [float(found["t"]) for found in _read_all(self.readies)]

    def leaders(self) -> list[float]:
        """Since when each member that says it leads has done so, as of its last tick."""
        return [float(found["led_since"]) for found in _read_all(self.statuses) if found["leader"]]

    def dead(self) -> list[int]:
        return [i for i, proc in enumerate(self.procs) if proc.poll() is not None]

    def terminate(self) -> None:
        """SIGTERM everyone (each reports its counters and shuts its client down)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    def reap(self, deadline: float) -> None:
        """Wait until ``deadline`` for the processes to exit, then SIGKILL what is left."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.wait(max(0.05, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        self.kill()

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not refused
                    progress(f"fleet member {proc.pid} did not die after SIGKILL")

    def results(self, runner: Runner) -> tuple[list[dict[str, Any]], list[str]]:
        """The members' final counters, and what went wrong with those that gave none."""
        side = _ours(runner)
        found: list[dict[str, Any]] = []
        failures: dict[str, int] = {}  # the same failure in many members is said once
        for proc, out in zip(self.procs, self.outs):
            lines = [
                line for line in out.read_text(errors="replace").splitlines() if line.startswith("RESULT ")
            ]
            if lines:
                found.append(runner._parse(side, lines[-1][len("RESULT ") :]))
                continue
            err = out.with_suffix(".err").read_text(errors="replace").strip().splitlines()
            failure = f"exit {proc.returncode}: {err[-1] if err else 'no output'}"
            failures[failure] = failures.get(failure, 0) + 1
        problems = [f"{count}/{self.n} members {failure}" for failure, count in failures.items()]
        return found, problems


def _read_all(paths: Sequence[Path]) -> list[dict[str, Any]]:
    found = []
    for path in paths:
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):  # not written yet
            continue
    return found


def _write(path: str, value: dict[str, Any]) -> None:
    """Replace the file at once, so that the parent never reads half of it."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(value, handle)
    os.replace(temporary, path)


@dataclass
class Count:
    """What one fleet did in the window."""

    per_minute: float
    requests: int
    not_modified: int
    startup: float  # seconds from the spawn until the last member held definitions
    leaders: list[float]  # when each member leading at the end of the window took the lead
    window_start: float
    members: list[dict[str, Any]]
    problems: list[str]


def _definitions_between(server: Any, start: float, end: float) -> tuple[int, int]:
    requests = [r for r in server.requests_to(DEFINITIONS_PATH) if start <= r.time < end]
    return len(requests), sum(1 for r in requests if r.status == 304)


def _run_fleets(
    runner: Runner,
    sizes: FleetSizes,
    n: int,
    slots: Sequence[str],
    servers: dict[str, Any],
    redis_url: str,
    run_id: str,
) -> dict[str, Count]:
    """Start the fleets of ``slots`` at once (one per fake server), count their window."""
    startup_budget = 20.0 + 0.5 * n  # 32 interpreters importing at once on 2 cores
    max_seconds = startup_budget + sizes.skip + sizes.measure + 30.0
    fleets: dict[str, Fleet] = {}
    try:
        for slot in slots:
            server = servers[slot]
            server.clear()
            fleet = Fleet(slot, n, server.url, server)
            fleets[slot] = fleet
            fleet.start(runner, redis_url if slot == "ours" else None, f"bench-{run_id}", max_seconds)
        first = min(f.spawned for f in fleets.values())
        deadline = first + startup_budget
        while time.monotonic() < deadline:
            if all(len(f.ready_times()) == n for f in fleets.values()):
                break
            if any(f.dead() for f in fleets.values()):
                break
            time.sleep(0.1)
        problems: dict[str, list[str]] = {slot: [] for slot in fleets}
        for slot, fleet in fleets.items():
            ready = len(fleet.ready_times())
            if ready < n:
                problems[slot].append(f"{n - ready}/{n} members never held definitions")
        all_ready = [max(f.ready_times(), default=first) for f in fleets.values()]
        start = max(first + sizes.skip, max(all_ready) + 0.5)
        end = start + sizes.measure
        while time.monotonic() < end and not any(f.dead() for f in fleets.values()):
            time.sleep(min(0.2, max(0.01, end - time.monotonic())))
        leaders = {slot: fleet.leaders() for slot, fleet in fleets.items()}  # before anyone stops
        time.sleep(0.3)  # requests sent before the end are recorded
        for fleet in fleets.values():
            fleet.terminate()
        stop_deadline = time.monotonic() + STOP_GRACE
        for fleet in fleets.values():
            fleet.reap(stop_deadline)
        counts: dict[str, Count] = {}
        for slot, fleet in fleets.items():
            members, missing = fleet.results(runner)
            requests, not_modified = _definitions_between(fleet.server, start, end)
            counts[slot] = Count(
                requests / sizes.measure * 60.0,
                requests,
                not_modified,
                max(fleet.ready_times(), default=float("nan")) - fleet.spawned,
                leaders[slot],
                start,
                members,
                problems[slot] + missing,
            )
        return counts
    finally:
        for fleet in fleets.values():
            fleet.kill()


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
                side = _ours(runner)
                line = runner._run(
                    side, ["-m", "benchmarks._rows_fleet", "eval", str(runner._params_file(params))], 60
                )
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
                counts.update(_run_fleets(runner, sizes, n, slots, servers, redis.url, f"n{n}"))
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


# --- the measured subprocesses ----------------------------------------------------------------------


def _client(params: dict[str, Any], poll_interval: int) -> Any:
    import posthog

    provider = None
    if params.get("redis"):
        from posthog.flag_cache import RedisFlagDefinitionCache

        provider = RedisFlagDefinitionCache(
            url=params["redis"], api_key=API_KEY, service_key=params["service_key"], lock_ttl=LOCK_TTL
        )
    return posthog.Client(
        API_KEY,
        host=params["host"],
        personal_api_key=PERSONAL_KEY,
        poll_interval=poll_interval,
        flag_definition_cache_provider=provider,
    )


def _stats(client: Any) -> dict[str, Any]:
    stats = client.flag_definitions_stats
    return {
        "polls": stats.polls,
        "not_modified": stats.not_modified,
        "cache_reads": stats.cache_reads,
        "cache_errors": stats.cache_errors,
        "leader": stats.leader,
    }


def _member(params: dict[str, Any]) -> dict[str, Any]:
    """One process of the fleet: poll every second, stay idle, report the counters at SIGTERM."""
    stop = False

    def on_term(signum: int, frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    deadline = time.monotonic() + float(params["max_seconds"])
    parent = int(params["parent"])
    client = _client(params, POLL_INTERVAL)
    loaded = client.wait_for_flags(timeout=15)
    if loaded:
        _write(params["ready"], {"t": time.monotonic(), "pid": os.getpid()})
    status = {"leader": False, "led_since": 0.0}
    while not stop and time.monotonic() < deadline and os.getppid() == parent:
        leader = bool(client.flag_definitions_stats.leader)
        if leader != status["leader"]:  # a file write only when leadership changes
            status = {"leader": leader, "led_since": time.monotonic()}
            _write(params["status"], status)
        time.sleep(TICK)
    result = {**_stats(client), "loaded": loaded, "stopped": stop}
    client.shutdown(timeout=2)
    return result


def _evaluate(params: dict[str, Any]) -> dict[str, Any]:
    """µs per local get_feature_flag once definitions are in (from the cache or fetched)."""
    from benchmarks._data import contexts

    client = _client(params, 60)  # no second poll while timing
    if not client.wait_for_flags(timeout=15):
        raise RuntimeError("no flag definitions within 15 s")
    # A new client imports requests on a background thread. A process that fetched has needed it
    # already; one that read the cache has not, and that import would share the timed loop (about
    # 10 % more per call): wait for it here, as a long-running process has.
    import requests  # noqa: F401

    with open(params["definitions_file"], encoding="utf-8") as handle:
        keys = [flag["key"] for flag in json.load(handle)["flags"]]
    calls = [
        (key, ctx["distinct_id"], ctx["groups"], ctx["person_properties"], ctx["group_properties"])
        for ctx in contexts(EVAL_CONTEXTS)
        for key in keys
    ]

    def one_pass(count: int) -> list[Any]:
        answers = []
        for index in range(count):
            key, distinct_id, groups, person, group = calls[index % len(calls)]
            answers.append(
                client.get_feature_flag(
                    key,
                    distinct_id,
                    groups=groups,
                    person_properties=person,
                    group_properties=group,
                    only_evaluate_locally=True,
                    send_feature_flag_events=False,
                )
            )
        return answers

    values = one_pass(len(calls))  # also the warm-up
    n = int(params["n"])
    # As timeit does: no collection during the loop, so that what each process went through at
    # start-up (an HTTP fetch or a Redis read) does not decide when the collector runs.
    gc.collect()
    gc.disable()
    start = time.perf_counter()
    one_pass(n)
    elapsed = time.perf_counter() - start
    gc.enable()
    stats = _stats(client)
    client.shutdown(timeout=2)
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
    return {"us_per_call": elapsed / n * 1e6, "values_digest": digest, "stats": stats}


WORKLOADS: Final[dict[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "member": _member,
    "eval": _evaluate,
}


def main(argv: Sequence[str]) -> int:
    import posthog

    name, params_path = argv[1], argv[2]
    with open(params_path, encoding="utf-8") as handle:
        params = json.load(handle)
    logging.getLogger("posthog").disabled = True
    result = WORKLOADS[name](params)
    result["version"] = posthog.VERSION
    result["module"] = posthog.__file__
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stderr.flush()
    os._exit(code)  # the client was shut down before the result

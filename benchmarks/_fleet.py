"""Row 13's fleets seen from the parent: start N member processes, watch them, count their requests.

The members are ``python -m benchmarks._fleet_workers member <params.json>`` in our interpreter;
they report through files (``ready``, ``status``) while they run and through their ``RESULT`` line
once SIGTERM stops them. Every process started here is killed at the end, on errors too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Optional

from benchmarks._harness import REPO, Runner, Side, clean_env, progress

WORKERS: Final = "benchmarks._fleet_workers"  # run with -m: member | eval <params.json>
DEFINITIONS_PATH: Final = "/api/feature_flag/local_evaluation"
STOP_GRACE: Final = 5.0  # after SIGTERM, then SIGKILL


def ours_side(runner: Runner) -> Side:
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
        side = ours_side(runner)
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
                    [side.python, "-m", WORKERS, "member", str(params_file)],
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
        side = ours_side(runner)
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


def run_fleets(
    runner: Runner,
    n: int,
    slots: Sequence[str],
    servers: dict[str, Any],
    redis_url: str,
    run_id: str,
    *,
    skip: float,
    measure: float,
) -> dict[str, Count]:
    """Start the fleets of ``slots`` at once (one per fake server), count their window.

    The window opens ``skip`` seconds after the spawn, and no sooner than half a second after
    the last member got its definitions; it lasts ``measure`` seconds.
    """
    startup_budget = 20.0 + 0.5 * n  # 32 interpreters importing at once on 2 cores
    max_seconds = startup_budget + skip + measure + 30.0
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
        start = max(first + skip, max(all_ready) + 0.5)
        end = start + measure
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
                requests / measure * 60.0,
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

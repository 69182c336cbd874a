"""A fleet of real processes sharing flag definitions through a real Redis (issue 15).

Each worker (tests/flag_cache_worker.py) polls every ``poll`` seconds and records its local flag
answers every 0.1 s; the fake PostHog counts the definitions requests of the whole fleet.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import posthog
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, definitions
from tests.support.redis_server import RedisServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS_PATH = "/api/feature_flag/local_evaluation"
USERS = tuple(f"user-{i}" for i in range(10))
FLAGS = ("beta", "rollout", "variant")


def _definitions(version: int) -> dict[str, Any]:
    on = 100 if version == 1 else 0
    rollout = 50 if version == 1 else 20
    split = (("a", 50), ("b", 50)) if version == 1 else (("a", 10), ("b", 90))
    return definitions(
        [
            FlagBuilder("beta").condition([], rollout=on).build(),
            FlagBuilder("rollout").condition([], rollout=rollout).build(),
            FlagBuilder("variant").condition([], rollout=100).variants(*split).build(),
        ],
        {},
        {},
    )


def _expected(version: int) -> dict[str, Any]:
    client = posthog.Client("phc_fleet", flag_definitions=_definitions(version), send=False)
    return {
        f"{flag}:{user}": client.get_feature_flag(flag, user, only_evaluate_locally=True)
        for flag in FLAGS
        for user in USERS
    }


class Fleet:
    """``n`` worker processes writing JSON lines to files under ``workdir``."""

    def __init__(
        self, workdir: Path, server: FakePostHog, redis_url: str, n: int, seconds: float, **options: Any
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.outs = [workdir / f"worker-{i}.jsonl" for i in range(n)]
        self.procs: list[subprocess.Popen[bytes]] = []
        for out in self.outs:
            cmd = [
                sys.executable,
                "-m",
                "tests.flag_cache_worker",
                "--host",
                server.url,
                "--redis",
                redis_url,
            ]
            cmd += ["--out", str(out), "--seconds", str(seconds)]
            for name, value in options.items():
                flag = "--" + name.replace("_", "-")
                cmd += [flag] if value is True else [flag, str(value)]
            self.procs.append(subprocess.Popen(cmd, cwd=REPO_ROOT, stderr=subprocess.DEVNULL))
        self.started = time.monotonic()

    def lines(self, index: int) -> list[dict[str, Any]]:
        path = self.outs[index]
        if not path.exists():
            return []
        out = []
        for raw in path.read_text().splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:  # a line being written
                continue
        return out

    def last(self, index: int) -> Optional[dict[str, Any]]:
        lines = self.lines(index)
        return lines[-1] if lines else None

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def _requests_between(server: FakePostHog, start: float, end: float) -> int:
    return sum(1 for r in server.requests_to(DEFINITIONS_PATH) if start <= r.time < end)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def _fake_server() -> FakePostHog:
    server = FakePostHog(personal_api_key="phx_fleet").start()
    server.set_flag_definitions(_definitions(1))
    return server


def test_eight_processes_poll_about_once_per_interval_and_agree(tmp_path: Path, redis_url: str) -> None:
    server = _fake_server()
    fleet = Fleet(tmp_path, server, redis_url, n=8, seconds=10, poll=1.0)
    try:
        _sleep_until(fleet.started + 5.0)
        server.set_flag_definitions(_definitions(2))
        changed = time.monotonic()
        fleet.wait(timeout=25)
    finally:
        fleet.kill_all()
        server.close()
    requests = len(server.requests_to(DEFINITIONS_PATH))
    # One leader polling every second for ~10 s, plus a few at start-up; eight without sharing.
    assert 8 <= requests <= 18, requests
    old, new = _expected(1), _expected(2)
    assert old != new
    for index in range(8):
        lines = fleet.lines(index)
        assert len(lines) > 50
        assert all(line["answers"] in (old, new) for line in lines)  # never a mix of other values
        assert lines[-1]["answers"] == new
        # Right after the change every process follows within about two intervals.
        late = [line for line in lines if line["t"] - time.time() + time.monotonic() > changed + 2.5]
        assert late and all(line["answers"] == new for line in late)
    # What the processes counted agrees with the server (a poll may follow a worker's last line).
    counted = sum(fleet.last(i)["polls"] for i in range(8))  # type: ignore[index]
    assert requests - 8 <= counted <= requests


def test_another_process_leads_after_the_leader_is_killed(tmp_path: Path, redis_url: str) -> None:
    server = _fake_server()
    fleet = Fleet(tmp_path, server, redis_url, n=5, seconds=14, poll=0.5, lock_ttl=2.0)
    try:
        _sleep_until(fleet.started + 4.0)
        leaders = [i for i in range(5) if (fleet.last(i) or {}).get("leader")]
        assert len(leaders) == 1, leaders
        [leader] = leaders
        fleet.procs[leader].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        others = [i for i in range(5) if i != leader]
        new_leader = None
        while new_leader is None and time.monotonic() < killed + 6:
            time.sleep(0.1)
            new_leader = next((i for i in others if (fleet.last(i) or {}).get("leader")), None)
        took_over = time.monotonic() - killed
        assert new_leader is not None
        assert took_over <= 2.0 + 2 * 0.5 + 0.5  # the lock TTL, plus a poll or two
        _sleep_until(killed + 8.0)
        window = _requests_between(server, killed + 4.0, killed + 8.0)
        fleet.wait(timeout=20)
    finally:
        fleet.kill_all()
        server.close()
    assert 4 <= window <= 12, window  # about one request per 0.5 s for the whole fleet, not five


def test_redis_down_means_polling_alone_and_redis_back_means_sharing_again(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    server = _fake_server()
    fleet = Fleet(tmp_path, server, redis_url, n=4, seconds=16, poll=0.5, lock_ttl=2.0)
    try:
        _sleep_until(fleet.started + 4.0)
        shared_rate = _requests_between(server, fleet.started + 2.0, fleet.started + 4.0)
        redis_server.stop()
        stopped = time.monotonic()
        _sleep_until(stopped + 4.0)
        alone_rate = _requests_between(server, stopped + 1.5, stopped + 3.5)
        redis_server.start()
        restarted = time.monotonic()
        _sleep_until(restarted + 6.0)
        back_rate = _requests_between(server, restarted + 3.0, restarted + 5.0)
        fleet.wait(timeout=20)
    finally:
        fleet.kill_all()
        server.close()
    # Two-second windows at one poll per 0.5 s: about 4 for the fleet when shared, 16 alone.
    assert shared_rate <= 7, shared_rate
    assert alone_rate >= 10, alone_rate
    assert back_rate <= 7, back_rate
    expected = _expected(1)
    for index in range(4):
        lines = fleet.lines(index)
        assert all(line["answers"] == expected for line in lines)  # flags never stopped working
        gaps = [b["t"] - a["t"] for a, b in zip(lines, lines[1:])]
        assert max(gaps) < 1.0  # no flag call waited on Redis


def test_without_the_provider_every_process_polls(tmp_path: Path, redis_url: str) -> None:
    server = _fake_server()
    fleet = Fleet(tmp_path, server, redis_url, n=4, seconds=5, poll=0.5, no_cache=True)
    try:
        fleet.wait(timeout=20)
    finally:
        fleet.kill_all()
        server.close()
    assert len(server.requests_to(DEFINITIONS_PATH)) >= 4 * 7  # ~10 each: the baseline the tests above beat


def test_a_new_process_serves_flags_from_the_cache_before_polling(tmp_path: Path, redis_url: str) -> None:
    server = _fake_server()
    first = Fleet(tmp_path / "a", server, redis_url, n=1, seconds=6, poll=30, lock_ttl=30)
    try:
        deadline = time.monotonic() + 10
        while (first.last(0) or {}).get("answers") != _expected(1) and time.monotonic() < deadline:
            time.sleep(0.05)
        before = len(server.requests_to(DEFINITIONS_PATH))
        second = Fleet(tmp_path / "b", server, redis_url, n=1, seconds=1.5, poll=30, lock_ttl=30)
        second.wait(timeout=15)
        after = len(server.requests_to(DEFINITIONS_PATH))
        lines = second.lines(0)
    finally:
        first.kill_all()
        server.close()
    assert after == before == 1  # the newcomer never asked the API
    assert lines and all(line["answers"] == _expected(1) for line in lines)
    assert lines[-1]["cache_reads"] >= 1 and lines[-1]["polls"] == 0

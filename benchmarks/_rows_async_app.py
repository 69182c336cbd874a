"""Rows 11u and 14: ``AsyncPosthog`` in a real FastAPI app under uvicorn, and the event loop's gaps.

- 11u: requests/s of a FastAPI ``async def`` route that checks a remote flag (``/flags`` answers
  after 50 ms) and captures, served by uvicorn in its own process, 50 requests in flight from a
  lean load generator (raw HTTP/1.1 keep-alive connections: the generator must not be the
  bottleneck). The "ref" column is the same app with the lookup replaced by
  ``await asyncio.sleep(0.05)`` (the bare app: what the route would do if PostHog cost nothing);
  target: AsyncPosthog >= 0.5 of it. The note has the same app with the blocking client
  (target: AsyncPosthog >= 10x).
- 14: the event loop's longest gap while 50 concurrent remote lookups of a fresh client wait on a
  ``/flags`` that answers in 1 s (a coroutine ticks every 10 ms): the first round (nothing made
  yet: HTTP library, TLS context, connections) and a warm second round. Target: <= 100 ms.

Each measurement runs in a fresh subprocess: ``python -m benchmarks._rows_async_app <workload>
<params.json>`` prints ``RESULT <json>``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from benchmarks._entry import run
from benchmarks._harness import REPO, FakeServer, Row, Runner, Side, fake_server, finish, fmt

__all__ = ["APP_ROWS", "APP_SMOKE_SKIPS", "app_steps"]

APP_ROWS: Final = ("11u", "14")
#: --smoke leaves row 11u out unless named (three uvicorn processes, one serving 20 req/s).
APP_SMOKE_SKIPS: Final = frozenset({"11u"})
API_KEY: Final = "phc_benchmark"
FLAG: Final = "new-checkout"
FLAGS_DELAY: Final = 0.05
GAP_FLAGS_DELAY: Final = 1.0
CONCURRENCY: Final = 50
BARE_TARGET: Final = 0.5
SYNC_TARGET: Final = 10.0
GAP_TARGET_MS: Final = 100.0

APP_MODES: Final = {"full": (1000, 3), "quick": (400, 2), "smoke": (100, 1)}  # (requests, reps)

Step = tuple[set[str], Callable[[FakeServer], list[Row]]]


def app_steps(runner: Runner, mode: str) -> list[Step]:
    """The (row keys, measurement) pairs ``benchmarks.run`` schedules for these rows."""
    n, reps = APP_MODES[mode]
    return [
        ({"11u"}, lambda server: [uvicorn_row(runner, n, reps)]),
        ({"14"}, lambda server: [gap_row(runner, reps)]),
    ]


def _ours(runner: Runner) -> Side:
    return next(side for side in runner.sides if side.name == "ours")


def _workload(runner: Runner, name: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    side = _ours(runner)
    params_file = runner._params_file(params)
    line = runner._run(side, ["-m", "benchmarks._rows_async_app", name, str(params_file)], timeout)
    return runner._parse(side, line)


def _flags_answer(server: FakeServer, seconds: float) -> None:
    server.reset()  # also forgets faults: set the delay again
    server.control("POST", "/_fake/config", {"remote_flags": {FLAG: True}})
    delay = {"kind": "delay", "path": "/flags", "seconds": seconds, "times": None}
    server.control("POST", "/_fake/fault", delay)


def uvicorn_row(runner: Runner, n: int, reps: int) -> Row:
    """Row 11u: req/s of the route under uvicorn, AsyncPosthog against the bare app."""
    row = Row(
        "11u",
        "uvicorn_route_rps",
        f"11u. FastAPI under uvicorn, remote flag ({FLAGS_DELAY * 1000:.0f} ms) + capture, {CONCURRENCY} in "
        "flight: AsyncPosthog vs the bare app",
        "req/s",
        f">={BARE_TARGET:g}",
    )
    sync: list[float] = []
    latency: dict[str, list[float]] = {}
    problems: list[str] = []
    with fake_server(max_seconds=900) as server:
        for rep in range(reps):
            modes = ["bare", "async"] if rep % 2 == 0 else ["async", "bare"]
            if rep == 0:
                modes.append("sync")
            for mode in modes:
                _flags_answer(server, FLAGS_DELAY)
                count = n if mode != "sync" else min(n, 200)  # the blocking client serves ~20 req/s
                params = {"url": server.url, "mode": mode, "n": count, "concurrency": CONCURRENCY}
                result = _workload(runner, "uvicorn", params, timeout=120 + count * FLAGS_DELAY)
                if result["wrong"]:
                    problems.append(f"{mode}: {result['wrong']} wrong answers")
                if mode != "bare":
                    expected = 2 * (count + CONCURRENCY)  # "checkout viewed" and $feature_flag_called
                    arrived = server.wait_events(expected, timeout=10)
                    if arrived != expected:
                        problems.append(f"{mode}: events {arrived}/{expected}")
                latency.setdefault(mode, []).append(result["p50_ms"])
                if mode == "sync":
                    sync.append(result["requests_per_s"])
                else:
                    row.samples.setdefault("ours" if mode == "async" else "ref", []).append(
                        result["requests_per_s"]
                    )
    finish(row, higher_is_better=True, limit=BARE_TARGET)
    if row.ref is not None:
        row.ref_text = f"{fmt(row.ref)} (bare app)"
    versus_sync = (row.ours or 0) / statistics.median(sync) if sync else None
    row.note = (
        f"{n} requests after {CONCURRENCY} warm-up per run; the bare app awaits asyncio.sleep("
        f"{FLAGS_DELAY:g}) instead of the lookup and captures nothing; the blocking client in the "
        f"same route: {fmt(statistics.median(sync)) if sync else '-'} req/s, AsyncPosthog "
        f"{fmt(versus_sync)}x it (target >={SYNC_TARGET:g}x); p50 latency ms: "
        + ", ".join(f"{mode} {statistics.median(values):.0f}" for mode, values in latency.items())
    )
    if versus_sync is not None and versus_sync < SYNC_TARGET:
        row.met = "no"
    if problems:
        row.note = f"INVALID: {'; '.join(problems)}; {row.note}"
        row.met = "no"
    return row


def gap_row(runner: Runner, reps: int) -> Row:
    """Row 14: the loop's longest gap during 50 concurrent first (and warm) remote lookups."""
    row = Row(
        "14",
        "loop_gap_ms",
        f"14. event loop's longest gap, {CONCURRENCY} concurrent remote lookups of a fresh AsyncPosthog "
        f"(/flags answers in {GAP_FLAGS_DELAY:g} s): first round",
        "ms",
        f"ours<={GAP_TARGET_MS:g}",
    )
    warm: list[float] = []
    with fake_server(max_seconds=300) as server:
        for _ in range(reps if reps == 1 else max(reps, 3)):
            _flags_answer(server, GAP_FLAGS_DELAY)
            result = _workload(runner, "gap", {"url": server.url, "concurrency": CONCURRENCY}, timeout=60)
            row.samples.setdefault("ours", []).append(result["first_ms"])
            warm.append(result["warm_ms"])
    finish(row)
    row.ref_text = "n/a (3.25.0 has no async client)"
    row.met = "yes" if row.ours is not None and row.ours <= GAP_TARGET_MS else "no"
    row.note = f"a coroutine ticks every 10 ms; warm second round: {fmt(statistics.median(warm))} ms (median)"
    return row


# --- the measured subprocesses ----------------------------------------------------------------------


def make_app() -> Any:
    """The route, for uvicorn (``--factory``); ``BENCH_MODE``: bare, async or sync."""
    from fastapi import FastAPI

    import posthog

    mode, host = os.environ["BENCH_MODE"], os.environ["BENCH_POSTHOG_HOST"]
    app = FastAPI()
    props = {"plan": "pro", "seats": 12, "price": 49.5, "trial": False, "source": "newsletter"}
    if mode == "bare":

        @app.get("/checkout/{user_id}")
        async def bare(user_id: str) -> dict[str, Any]:
            await asyncio.sleep(FLAGS_DELAY)
            return {"enabled": True}

    elif mode == "async":
        aclient = posthog.AsyncPosthog(API_KEY, host=host)

        @app.get("/checkout/{user_id}")
        async def with_async(user_id: str) -> dict[str, Any]:
            enabled = await aclient.feature_enabled(FLAG, user_id)
            aclient.capture(user_id, "checkout viewed", props)
            return {"enabled": enabled}

        app.router.add_event_handler("shutdown", aclient.shutdown)
    else:
        client = posthog.Posthog(API_KEY, host=host)

        @app.get("/checkout/{user_id}")
        async def with_sync(user_id: str) -> dict[str, Any]:
            enabled = client.feature_enabled(FLAG, user_id)  # blocks the loop for the round trip
            client.capture(user_id, "checkout viewed", props)
            return {"enabled": enabled}

        # uvicorn ends by re-raising SIGTERM, which skips interpreter exit hooks: shut down here
        app.router.add_event_handler("shutdown", client.shutdown)
    return app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _load(port: int, count: int, concurrency: int, first: int) -> tuple[float, list[float], int]:
    """``count`` GETs over ``concurrency`` keep-alive connections: (seconds, latencies, wrong)."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    users = iter(range(first, first + count))
    latencies: list[float] = []
    wrong = 0

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal wrong
        for user in users:
            start = time.perf_counter()
            writer.write(f"GET /checkout/user-{user} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.lower().split(b"\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length"))
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            wrong += not (head.startswith(b"HTTP/1.1 200") and body == b'{"enabled":true}')

    start = time.perf_counter()
    await asyncio.gather(*(worker(*pair) for pair in connections))
    elapsed = time.perf_counter() - start
    for _, writer in connections:
        writer.close()
    return elapsed, latencies, wrong


async def _uvicorn(params: dict[str, Any]) -> dict[str, Any]:
    n, concurrency, port = int(params["n"]), int(params["concurrency"]), _free_port()
    env = {**os.environ, "BENCH_MODE": params["mode"], "BENCH_POSTHOG_HOST": params["url"]}
    env["PYTHONPATH"] = str(REPO)
    args = ["-m", "uvicorn", "--factory", "benchmarks._rows_async_app:make_app", "--port", str(port)]
    server = subprocess.Popen([sys.executable, *args, "--log-level", "warning"], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("uvicorn did not start") from None
                await asyncio.sleep(0.05)
        await _load(port, concurrency, concurrency, 0)  # warm-up: connections, first lookups
        elapsed, latencies, wrong = await _load(port, n, concurrency, concurrency)
    finally:
        server.terminate()  # uvicorn's shutdown: the async client delivers what it queued
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    return {
        "requests_per_s": n / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "wrong": wrong,
    }


async def _gap(params: dict[str, Any]) -> dict[str, Any]:
    import posthog

    concurrency = int(params["concurrency"])
    client = posthog.AsyncPosthog(API_KEY, host=params["url"])
    gaps: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    ticks = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    rounds = []
    for name in ("first", "warm"):
        gaps.clear()
        await asyncio.gather(*(client.get_feature_flag(FLAG, f"{name}-{i}") for i in range(concurrency)))
        rounds.append(max(gaps) * 1000)
    running = False
    await ticks
    await client.shutdown()
    return {"first_ms": rounds[0], "warm_ms": rounds[1]}


WORKLOADS: Final[dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]]] = {
    "uvicorn": _uvicorn,
    "gap": _gap,
}


if __name__ == "__main__":
    run(WORKLOADS)

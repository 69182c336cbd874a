"""Rows 11 and 12: ``posthog.AsyncPosthog`` in an asyncio application, against our blocking client.

Both sides run our package (the reference has no asyncio client), so these rows do not use the
reference interpreter: the "ref" column holds our blocking ``posthog.Posthog`` used from a
coroutine, the "ours" column ``AsyncPosthog``; the ratio is AsyncPosthog / blocking client.

- 11: requests/s of a FastAPI ``async def`` route that checks a remote flag (no personal key:
  every check asks ``/flags``, which answers after 50 ms) with 50 requests in flight, driven
  in-process through ``httpx.ASGITransport``. The blocking client holds the event loop for the
  whole ``/flags`` round trip (the common mistake); AsyncPosthog awaits it. Target >= 10x.
- 12: event-loop time per ``capture()`` of a 10-property event from a coroutine that yields to the
  loop every ``YIELD_EVERY`` captures: the loop time AsyncPosthog's sender task takes in between
  counts, as the blocking client's threads count through the GIL. The time inside the calls alone
  is in the note. Target: within 20% of the blocking client.

Each measurement runs in a fresh subprocess: ``python -m benchmarks._rows_async <workload>
<params.json>`` prints ``RESULT <json>`` like ``benchmarks/_workloads.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from benchmarks._entry import run
from benchmarks._harness import FakeServer, Row, Runner, Side, fake_server, finish, fmt

__all__ = ["ASYNC_ROWS", "async_steps"]

ASYNC_ROWS: Final = ("11", "12")
API_KEY: Final = "phc_benchmark"
FLAG: Final = "new-checkout"
FLAGS_DELAY: Final = 0.05  # seconds /flags takes to answer in row 11
CONCURRENCY: Final = 50
YIELD_EVERY: Final = 10  # row 12: captures between two `await asyncio.sleep(0)`
ROUTE_TARGET: Final = 10.0
CAPTURE_BAND: Final = (0.8, 1.2)
#: The two clients, in the order of Runner.order (the "ref" slot holds the blocking client).
CLIENTS: Final = (("ref", "sync"), ("ours", "async"))


@dataclass(frozen=True)
class AsyncSizes:
    route_n: int  # timed requests per route measurement
    route_warmup: int
    route_reps: int
    capture_n: int
    capture_warmup: int
    capture_reps: int


ASYNC_MODES: Final = {
    "full": AsyncSizes(500, CONCURRENCY, 3, 20000, 2000, 5),
    "quick": AsyncSizes(200, CONCURRENCY, 1, 5000, 500, 3),
    "smoke": AsyncSizes(50, 10, 1, 300, 50, 1),
}

Step = tuple[set[str], Callable[[FakeServer], list[Row]]]


def async_steps(runner: Runner, mode: str) -> list[Step]:
    """The (row keys, measurement) pairs ``benchmarks.run`` schedules for these rows."""
    sizes = ASYNC_MODES[mode]
    return [
        ({"11"}, lambda server: [route_row(runner, sizes)]),
        ({"12"}, lambda server: [capture_row(runner, server, sizes)]),
    ]


# --- the parent's side ------------------------------------------------------------------------------


def _ours(runner: Runner) -> Side:
    return next(side for side in runner.sides if side.name == "ours")


def _workload(runner: Runner, name: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one workload of this module in a fresh interpreter of ours; its result."""
    side = _ours(runner)
    params_file = runner._params_file(params)
    line = runner._run(side, ["-m", "benchmarks._rows_async", name, str(params_file)], timeout)
    return runner._parse(side, line)


def _slots(rep: int) -> Sequence[tuple[str, str]]:
    """Both clients, alternating which goes first."""
    return CLIENTS if rep % 2 == 0 else tuple(reversed(CLIENTS))


def _label_ref(row: Row) -> Row:
    if row.ref is not None:
        row.ref_text = f"{fmt(row.ref)} (sync Client)"
    return row


def route_row(runner: Runner, sizes: AsyncSizes) -> Row:
    """Row 11: requests/s of a FastAPI route checking a remote flag, 50 in flight."""
    row = Row(
        "11",
        "async_route_rps",
        f"11. FastAPI route, remote flag ({FLAGS_DELAY * 1000:.0f} ms), {CONCURRENCY} in flight: "
        "AsyncPosthog vs sync Client in async def",
        "req/s",
        f">={ROUTE_TARGET:g}",
    )
    n, warmup = sizes.route_n, sizes.route_warmup
    expected = 2 * (n + warmup)  # "checkout viewed" and $feature_flag_called per (distinct) user
    params = {"n": n, "warmup": warmup, "concurrency": CONCURRENCY}
    problems: list[str] = []
    with fake_server(max_seconds=600) as server:
        for rep in range(sizes.route_reps):
            for slot, client in _slots(rep):
                server.reset()  # also forgets faults: set the delay again
                server.control("POST", "/_fake/config", {"remote_flags": {FLAG: True}})
                delay = {"kind": "delay", "path": "/flags", "seconds": FLAGS_DELAY, "times": None}
                server.control("POST", "/_fake/fault", delay)
                timeout = 60 + (n + warmup) * (FLAGS_DELAY + 0.1)  # the blocking side is serial
                result = _workload(runner, "route", {**params, "url": server.url, "client": client}, timeout)
                arrived = server.wait_events(expected, timeout=5)
                if result["wrong"] or arrived != expected:
                    problems.append(f"{client}: wrong answers {result['wrong']}, events {arrived}/{expected}")
                row.samples.setdefault(slot, []).append(result["requests_per_s"])
    row.note = (
        f"ref column: our blocking posthog.Posthog called in the async def route; ours: AsyncPosthog "
        f"awaited; {n} requests after {warmup} warm-up, in-process ASGI (httpx.ASGITransport)"
    )
    if problems:
        row.note = f"INVALID: {'; '.join(problems)}; {row.note}"
    return _label_ref(finish(row, higher_is_better=True, limit=ROUTE_TARGET))


def capture_row(runner: Runner, server: FakeServer, sizes: AsyncSizes) -> Row:
    """Row 12: µs per capture() from a coroutine, AsyncPosthog vs the blocking client."""
    low, high = CAPTURE_BAND
    row = Row(
        "12",
        "async_capture_us",
        "12. capture() in a running loop: AsyncPosthog vs sync Client",
        "µs/call",
        f"{low:g}-{high:g}",
    )
    n, warmup = sizes.capture_n, sizes.capture_warmup
    params = {"url": server.url, "n": n, "warmup": warmup, "max_queue_size": n + warmup + 1000}
    backlog: dict[str, list[int]] = {}
    in_calls: dict[str, list[float]] = {}
    problems: list[str] = []
    for rep in range(sizes.capture_reps):
        for slot, client in _slots(rep):
            server.reset()
            result = _workload(runner, "capture", {**params, "client": client}, timeout=180)
            arrived = server.wait_events(n + warmup, timeout=5)
            if result["failed"] or arrived != n + warmup:
                problems.append(f"{client}: refused {result['failed']}, events {arrived}/{n + warmup}")
            row.samples.setdefault(slot, []).append(result["us_per_call"])
            backlog.setdefault(client, []).append(result["backlog"])
            in_calls.setdefault(client, []).append(result["calls_us_per_call"])
    row.note = (
        f"ref column: our blocking posthog.Posthog; ours: AsyncPosthog; loop time per capture, with one "
        f"await asyncio.sleep(0) every {YIELD_EVERY} captures (the async sender's turns count); inside "
        "the capture() calls alone (median µs): "
        + ", ".join(f"{name} {statistics.median(values):.3g}" for name, values in in_calls.items())
        + "; backlog when the loop ended: "
        + ", ".join(f"{name} {values}" for name, values in backlog.items())
    )
    if problems:
        row.note = f"INVALID: {'; '.join(problems)}; {row.note}"
    finish(row)
    if row.ratio is not None and not row.note.startswith("INVALID"):
        row.met = "yes" if low <= row.ratio <= high else "no"
    return _label_ref(row)


# --- the measured subprocess ------------------------------------------------------------------------


def _properties() -> dict[str, Any]:
    """Ten properties as an application sends them (the same as row 1's)."""
    return {
        "$current_url": "https://shop.example.com/checkout?step=2",
        "plan": "pro",
        "seats": 12,
        "price": 49.5,
        "trial": False,
        "source": "newsletter",
        "items_in_cart": 3,
        "discount": 0.15,
        "is_returning": True,
        "utm": {"campaign": "spring-sale", "medium": "email", "content": "hero"},
    }


def _route_app(check: Callable[[str], Awaitable[Any]], capture: Callable[..., Any]) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    props = _properties()

    @app.get("/checkout/{user_id}")
    async def checkout(user_id: str) -> dict[str, Any]:
        enabled = await check(user_id)
        capture(user_id, "checkout viewed", props)
        return {"enabled": enabled}

    return app


async def _route(params: dict[str, Any]) -> dict[str, Any]:
    import httpx

    import posthog

    n, warmup, concurrency = int(params["n"]), int(params["warmup"]), int(params["concurrency"])
    sync_client: posthog.Posthog | None = None
    async_client: posthog.AsyncPosthog | None = None
    if params["client"] == "async":
        async_client = posthog.AsyncPosthog(API_KEY, host=params["url"])

        async def check(user_id: str) -> Any:
            assert async_client is not None
            return await async_client.feature_enabled(FLAG, user_id)

        app = _route_app(check, async_client.capture)
    else:
        sync_client = posthog.Posthog(API_KEY, host=params["url"])

        async def check(user_id: str) -> Any:
            assert sync_client is not None
            return sync_client.feature_enabled(FLAG, user_id)  # blocks the loop for the round trip

        app = _route_app(check, sync_client.capture)

    transport = httpx.ASGITransport(app=app)
    wrong = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://app", timeout=120) as http:

        async def drive(users: Iterator[int]) -> None:
            nonlocal wrong
            for user in users:  # one iterator shared by every worker: `concurrency` requests in flight
                answer = await http.get(f"/checkout/user-{user}")
                if answer.status_code != 200 or answer.json() != {"enabled": True}:
                    wrong += 1

        async def wave(first: int, count: int) -> float:
            users = iter(range(first, first + count))
            start = time.perf_counter()
            await asyncio.gather(*(drive(users) for _ in range(concurrency)))
            return time.perf_counter() - start

        await wave(0, warmup)
        elapsed = await wave(warmup, n)
    if async_client is not None:
        await async_client.shutdown()
    if sync_client is not None:
        sync_client.shutdown()
    return {"requests_per_s": n / elapsed, "seconds": elapsed, "wrong": wrong}


async def _capture(params: dict[str, Any]) -> dict[str, Any]:
    import posthog

    n, warmup = int(params["n"]), int(params["warmup"])
    settings = {"host": params["url"], "max_queue_size": int(params["max_queue_size"])}
    client: Any = (
        posthog.AsyncPosthog(API_KEY, **settings)
        if params["client"] == "async"
        else posthog.Posthog(API_KEY, **settings)
    )
    props = _properties()
    ids = [f"user-{i % 5000}" for i in range(max(warmup, n))]

    async def captures(count: int) -> tuple[float, float, int]:
        """(seconds in all, seconds inside the capture() calls, refused)."""
        failed = 0
        calls = 0.0
        start = mark = time.perf_counter()
        for i in range(count):
            failed += not client.capture(ids[i], "benchmark event", props)[0]
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                calls += time.perf_counter() - mark
                await asyncio.sleep(0)  # a handler awaits between events: the sender task runs here
                mark = time.perf_counter()
        end = time.perf_counter()
        return end - start, calls + end - mark, failed

    _, _, failed = await captures(warmup)
    if params["client"] == "async":  # start timing with an empty queue
        await client.flush()
    else:
        client.flush()
    elapsed, in_calls, refused = await captures(n)
    backlog = client.queue.qsize()
    if params["client"] == "async":
        await client.shutdown()
    else:
        client.shutdown()
    return {
        "us_per_call": elapsed / n * 1e6,
        "calls_us_per_call": in_calls / n * 1e6,
        "failed": failed + refused,
        "backlog": backlog,
    }


WORKLOADS: Final[dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]]] = {
    "route": _route,
    "capture": _capture,
}


if __name__ == "__main__":
    run(WORKLOADS)

"""The processes of row 13 (``benchmarks/_rows_fleet.py``), run in the measured interpreter.

    python -m benchmarks._fleet_workers member|eval <params.json>

prints one line ``RESULT <json>`` on stdout (see ``benchmarks/_entry.py``).

- ``member``: one process of a fleet: builds a ``posthog.Client`` with a personal API key and
  ``poll_interval=1`` (with ``RedisFlagDefinitionCache`` when the params name a Redis URL), then
  idles; reports its definitions counters at SIGTERM. It writes the files the parent watches:
  ``ready`` once it holds definitions, ``status`` when its leadership changes. It exits by itself
  after ``max_seconds`` or when its parent is gone.
- ``eval``: µs per local ``get_feature_flag`` once the definitions are in, read from the cache or
  fetched by the process itself.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any, Final

from benchmarks._entry import run

API_KEY: Final = "phc_fleet_bench"
PERSONAL_KEY: Final = "phx_fleet_bench"
POLL_INTERVAL: Final = 1  # seconds, for every process
LOCK_TTL: Final = 3.0  # >= 2 x the poll interval
TICK: Final = 0.5  # the idle loop of a member process
EVAL_CONTEXTS: Final = 40


def _write(path: str, value: dict[str, Any]) -> None:
    """Replace the file at once, so that the parent never reads half of it."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(value, handle)
    os.replace(temporary, path)


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


if __name__ == "__main__":
    run(WORKLOADS)  # the client was shut down before the result

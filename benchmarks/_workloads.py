"""The code measured inside the benchmark subprocesses; runs under both interpreters.

Uses only the standard library and the public posthog 3.x API, so the same file measures our
package (``.venv/bin/python``) and the reference posthog 3.25.0 (``.venv-ref/bin/python``).

    python _workloads.py <workload> <params.json>

prints one line ``RESULT <json>`` on stdout (see ``_entry.py``); everything else goes to stderr.
The flag workloads are in ``_flag_workloads.py``.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import resource
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from _entry import run  # this directory is sys.path[0]
from _flag_workloads import flags, flags_hard, load_definitions

import posthog

API_KEY = "phc_benchmark"


def realistic_properties() -> dict[str, Any]:
    """Ten properties as an application sends them: str, int, float, bool and one nested dict."""
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


def generated_properties(count: int) -> dict[str, Any]:
    """``count`` properties cycling through str, int, float, bool and a small nested dict."""
    kinds: Sequence[Callable[[int], Any]] = (
        lambda i: f"value-{i}",
        lambda i: i,
        lambda i: i * 1.5,
        lambda i: i % 2 == 0,
        lambda i: {"id": i, "name": f"n{i}"},
    )
    return {f"prop_{i}": kinds[i % len(kinds)](i) for i in range(count)}


def _properties(params: dict[str, Any]) -> dict[str, Any]:
    count = params.get("properties")
    return realistic_properties() if count is None else generated_properties(int(count))


def _protocol(params: dict[str, Any]) -> dict[str, Any]:
    """``capture_mode`` / ``capture_compression`` when the params name them (ours only: 3.x has
    neither keyword, so the reference's params never hold them)."""
    return {key: params[key] for key in ("capture_mode", "capture_compression") if key in params}


def _client(params: dict[str, Any], on_error: Callable[[Exception, Any], None] | None = None) -> Any:
    return posthog.Posthog(
        API_KEY,
        host=params["url"],
        max_queue_size=int(params.get("max_queue_size", 10000)),
        gzip=bool(params.get("gzip", False)),
        on_error=on_error,
        **_protocol(params),
    )


def _http_get(url: str, timeout: float) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _enrichment(result: Any) -> dict[str, Any]:
    """The flag properties capture() added to a message (what enrichment computed)."""
    if not isinstance(result, tuple) or not isinstance(result[1], dict):
        return {}
    props = result[1].get("properties", {})
    found = {k: v for k, v in props.items() if k.startswith("$feature/")}
    found["$active_feature_flags"] = sorted(props.get("$active_feature_flags") or [])
    return found


def _ok(result: Any) -> bool:
    return bool(result[0]) if isinstance(result, tuple) else bool(result)


def _peak_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def capture(params: dict[str, Any]) -> dict[str, Any]:
    """µs per capture() on the caller's thread, consumer running; peak RSS; enrichment sample."""
    client = _client(params)
    if params.get("flags_file"):
        load_definitions(client, params["flags_file"])
    props = _properties(params)
    warmup, n = int(params["warmup"]), int(params["n"])
    ids = [f"user-{i % 5000}" for i in range(max(warmup, n))]
    failed = 0
    last: Any = None
    for i in range(warmup):
        last = client.capture(ids[i], "benchmark event", props)
        failed += not _ok(last)
    if params.get("settle", True):
        client.flush()  # start timing with an empty queue
    start = time.perf_counter()
    for i in range(n):
        if not client.capture(ids[i], "benchmark event", props)[0]:  # 3.x returns (success, message)
            failed += 1
    elapsed = time.perf_counter() - start
    backlog = client.queue.qsize()  # events not yet taken by the consumer: they dominate peak RSS
    client.flush()
    return {
        "us_per_call": elapsed / n * 1e6,
        "backlog": backlog,
        "failed": failed,
        "props_unchanged": props == _properties(params),
        "peak_rss_kib": _peak_rss_kib(),
        "enrichment": _enrichment(last),
    }


def throughput(params: dict[str, Any]) -> dict[str, Any]:
    """Events/s from the first capture until the server holds them all."""
    client = _client(params)
    props = _properties(params)
    n = int(params["n"])
    ids = [f"user-{i % 5000}" for i in range(n)]
    failed = 0
    start = time.perf_counter()
    for i in range(n):
        failed += not _ok(client.capture(ids[i], "benchmark event", props))
    client.flush()
    status, _ = _http_get(f"{params['url']}/_fake/wait?events={n}&timeout={params['wait_timeout']}", 600)
    elapsed = time.perf_counter() - start
    _, stats = _http_get(f"{params['url']}/_fake/stats", 10)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": elapsed,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the whole process, import and start included
        "events_per_s": n / elapsed,
        "all_arrived": status == 200,
        "server_events": stats["events"],
        "failed": failed,
    }


def shutdown(params: dict[str, Any]) -> dict[str, Any]:
    """Seconds shutdown() takes with events queued against a server that never answers."""
    lost_on_error = 0

    def on_error(error: Exception, batch: Any) -> None:
        nonlocal lost_on_error
        lost_on_error += len(batch)

    client = _client(params, on_error)
    props = realistic_properties()
    for i in range(int(params["n"])):
        client.capture(f"user-{i}", "benchmark event", props)
    start = time.perf_counter()
    client.shutdown()
    elapsed = time.perf_counter() - start
    stats = getattr(client, "stats", None)
    dropped = sum(stats.dropped.values()) if stats is not None else None
    return {"seconds": elapsed, "lost_on_error": lost_on_error, "stats_dropped": dropped}


def _user_ids(n: int) -> Iterator[str]:
    """``n`` distinct_ids cycling over 5000 (no per-event list: it would weigh on peak RSS)."""
    return itertools.islice(itertools.cycle([f"user-{i}" for i in range(5000)]), n)


def _bounded(call: Callable[[], Any], seconds: float) -> tuple[bool, float]:
    """Run ``call`` in a daemon thread for at most ``seconds``: (returned in time, seconds taken)."""
    start = time.perf_counter()
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    return not worker.is_alive(), time.perf_counter() - start


def burst(params: dict[str, Any]) -> dict[str, Any]:
    """A tight loop of captures with the default settings, then flush() and shutdown()."""
    client = posthog.Posthog(API_KEY, host=params["url"])  # defaults only (max_queue_size=10000)
    props = realistic_properties()
    refused = 0
    start = time.perf_counter()
    for distinct_id in _user_ids(int(params["n"])):
        if not client.capture(distinct_id, "burst event", props)[0]:
            refused += 1
    capture_s = time.perf_counter() - start
    flushed, flush_s = _bounded(client.flush, params["bound"])
    shut, shutdown_s = _bounded(client.shutdown, params["bound"])
    return {
        "refused": refused,
        "capture_s": capture_s,
        "flush_s": flush_s,
        "shutdown_s": shutdown_s,
        "returned": flushed and shut,
    }


def backlog(params: dict[str, Any]) -> dict[str, Any]:
    """µs per capture() while a large backlog builds (queue sized to hold it all), and peak RSS."""
    client = _client(params)
    props = realistic_properties()
    n = int(params["n"])
    failed = 0
    start = time.perf_counter()
    for distinct_id in _user_ids(n):
        if not client.capture(distinct_id, "benchmark event", props)[0]:
            failed += 1
    elapsed = time.perf_counter() - start
    backlog = client.queue.qsize()
    client.flush()
    _, stats = _http_get(f"{params['url']}/_fake/wait?events={n}&timeout={params['wait_timeout']}", 900)
    return {
        "us_per_call": elapsed / n * 1e6,
        "backlog": backlog,
        "failed": failed,
        "server_events": stats["events"],
        "peak_rss_kib": _peak_rss_kib(),
    }


def outage(params: dict[str, Any]) -> dict[str, Any]:
    """Captures at a steady rate from ``start_at`` (wall clock, shared with the parent) while the
    parent breaks and restores the server; then flush (bounded) and shutdown. Reports the uuids
    sent and the messages handed to on_error."""
    dropped: list[Any] = []
    lock = threading.Lock()

    def on_error(error: Exception, batch: Any) -> None:
        with lock:
            dropped.extend(m.get("uuid") if isinstance(m, dict) else None for m in batch)

    client = posthog.Posthog(API_KEY, host=params["url"], on_error=on_error, **_protocol(params))
    props = realistic_properties()
    start_at, rate = float(params["start_at"]), float(params["rate"])
    late = time.time() - start_at
    sent: list[str] = []
    refused = 0
    for i in range(int(params["seconds"] * rate)):
        time.sleep(max(0.0, start_at + i / rate - time.time()))
        event_id = str(uuid.uuid4())
        sent.append(event_id)
        if not _ok(client.capture(f"user-{i % 50}", "outage event", {**props, "seq": i}, uuid=event_id)):
            refused += 1
    flush_timeout = float(params["flush_timeout"])
    # flush(timeout=...) where the library has it; 3.x flush() waits for everything, so bound it.
    takes_timeout = "timeout" in inspect.signature(client.flush).parameters
    flush = (lambda: client.flush(timeout=flush_timeout)) if takes_timeout else client.flush
    flushed, flush_s = _bounded(flush, flush_timeout + 5)
    shut, shutdown_s = _bounded(client.shutdown, params["shutdown_bound"])
    with lock:
        reported = list(dropped)
    return {
        "sent": sent,
        "refused": refused,
        "dropped": reported,
        "late_start_s": late,
        "flush_s": flush_s,
        "flush_returned": flushed,
        "flush_timeout_arg": takes_timeout,
        "shutdown_s": shutdown_s,
        "shutdown_returned": shut,
    }


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))  # the kernel's count: every thread of the process
    except OSError:
        return threading.active_count()


def clients(params: dict[str, Any]) -> dict[str, Any]:
    """The most OS threads a process runs once each of ``n`` clients has captured one event; then
    every client is shut down and the server's count checked."""
    n = int(params["n"])
    made = [posthog.Posthog(f"{API_KEY}_{i}", host=params["url"], flush_interval=0.2) for i in range(n)]
    most = _os_threads()
    for i, client in enumerate(made):
        client.capture(f"user-{i}", "benchmark event", {"client": i})
        most = max(most, _os_threads())
    until = time.monotonic() + 1.0
    while time.monotonic() < until:  # while the batches go out
        most = max(most, _os_threads())
        time.sleep(0.01)
    start = time.perf_counter()
    for client in made:
        client.shutdown()
    shutdown_s = time.perf_counter() - start
    _, stats = _http_get(f"{params['url']}/_fake/wait?events={n}&timeout=30", 60)
    return {"threads": most, "server_events": stats["events"], "shutdown_s": shutdown_s}


WORKLOADS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "capture": capture,
    "throughput": throughput,
    "flags": flags,
    "flags_hard": flags_hard,
    "shutdown": shutdown,
    "burst": burst,
    "backlog": backlog,
    "outage": outage,
    "clients": clients,
}


if __name__ == "__main__":
    run(WORKLOADS)

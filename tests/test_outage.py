"""Nothing lost under load or through outages: bursts, the retry buffer, and the byte bounds.

Through the fake server with the threads really running. The figures (how large a burst, how long
an outage) belong in ``make bench``; these tests check the behaviour on modest sizes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator

import pytest

import posthog
from posthog import DropReason
from posthog._pipeline.queue import EventQueue
from tests.fake_server import FakePostHog
from tests.support.errors import ErrorLog
from tests.support.waiting import wait_until
from tests.test_fork import run_python

ClientFactory = Callable[..., posthog.Client]
API_KEY = "phc_outage"


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the backoff of the retry buffer short enough for a test (the policy is unchanged)."""
    import posthog._http.retry as retry

    monkeypatch.setattr(retry, "MAX_DELAY_SECONDS", 0.5)


def _uuids(server: FakePostHog) -> list[str]:
    return [e["uuid"] for e in server.events()]


# --- bursts -----------------------------------------------------------------------------------


def test_a_tight_loop_with_default_settings_loses_nothing(fake_server: FakePostHog) -> None:
    # 30,000 is three times the default max_queue_size: the background side must keep up.
    client = posthog.Client(API_KEY, host=fake_server.url)
    try:
        n = 30_000
        props = {"plan": "pro", "seats": 12, "price": 49.5, "utm": {"campaign": "spring"}}
        refused = sum(not client.capture(f"user-{i % 500}", "burst", props)[0] for i in range(n))
        assert client.flush(timeout=30) == 0
    finally:
        client.shutdown(timeout=5)

    assert refused == 0
    assert client.stats.dropped == {}
    assert client.stats.sent == n
    assert len(set(_uuids(fake_server))) == n


def test_the_first_batch_leaves_while_the_caller_is_still_capturing(fake_server: FakePostHog) -> None:
    client = posthog.Client(API_KEY, host=fake_server.url, flush_interval=0.2)
    try:
        started = time.monotonic()
        loop_ends = started + 1.5
        while time.monotonic() < loop_ends:  # a caller that never pauses
            for _ in range(100):
                client.capture("someone", "busy")
        ended = time.monotonic()
        first = fake_server.wait_for_requests("/batch", 1, timeout=5)[0]
    finally:
        client.shutdown(timeout=5)

    assert first.time < ended
    assert first.time - started <= 0.2 + 0.8


_FRESH_PROCESS_LOOP = r"""
import json, sys, time
import posthog

client = posthog.Client("phc_fresh", host=sys.argv[1])  # default flush_interval (0.5 s)
props = {"plan": "pro", "seats": 12}
started = time.monotonic()
ends = started + 2.0
while time.monotonic() < ends:  # a caller that never pauses, from the process's first moment
    for _ in range(100):
        client.capture("someone", "busy", props)
ended = time.monotonic()
lost = client.flush(timeout=30)
print(json.dumps({"started": started, "ended": ended, "pending": lost, "stats": client.stats.sent}))
"""


def test_in_a_fresh_process_the_first_batch_leaves_within_about_flush_interval(
    fake_server: FakePostHog,
) -> None:
    report = run_python(_FRESH_PROCESS_LOOP, fake_server.url, timeout=60)
    first = fake_server.wait_for_requests("/batch", 1, timeout=5)[0]
    assert report["pending"] == 0
    assert first.time < report["ended"]
    assert first.time - report["started"] <= 0.5 + 0.5
    assert len(fake_server.events()) == report["stats"]


# --- outages ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("quick_retries")
def test_a_503_outage_longer_than_max_retries_delivers_every_event_once(fake_server: FakePostHog) -> None:
    errors = ErrorLog()
    client = posthog.Client(
        API_KEY,
        host=fake_server.url,
        flush_interval=0.05,
        max_retries=1,
        retry_buffer_age=1800,
        on_error=errors,
    )
    try:
        fake_server.fail_for("/batch", 2.0, status=503)
        sent = [client.capture("someone", f"e{i}")[1]["uuid"] for i in range(10)]  # type: ignore[index]
        time.sleep(1.0)  # well past the two attempts max_retries allows
        sent += [client.capture("someone", f"e{i}")[1]["uuid"] for i in range(10, 20)]  # type: ignore[index]
        assert client.flush(timeout=20) == 0
    finally:
        client.shutdown(timeout=5)

    statuses = [r.status for r in fake_server.requests_to("/batch")]
    assert statuses.count(503) > 2  # more attempts than max_retries allows: the buffer kept them
    delivered = _uuids(fake_server)
    assert sorted(delivered) == sorted(sent)  # each exactly once
    assert [e["event"] for e in fake_server.events()] == [f"e{i}" for i in range(20)]  # in order
    assert errors.calls == []
    assert client.stats.dropped == {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def late_server() -> Iterator[Callable[[int], FakePostHog]]:
    servers: list[FakePostHog] = []

    def start(port: int) -> FakePostHog:
        server = FakePostHog(port=port).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.mark.usefixtures("quick_retries")
def test_a_refused_connection_outage_delivers_every_event_once(
    late_server: Callable[[int], FakePostHog],
) -> None:
    port = _free_port()  # nothing listens yet: connections are refused
    errors = ErrorLog()
    client = posthog.Client(
        API_KEY,
        host=f"http://127.0.0.1:{port}",
        flush_interval=0.05,
        max_retries=1,
        retry_buffer_age=1800,
        on_error=errors,
    )
    try:
        sent = [client.capture("someone", f"e{i}")[1]["uuid"] for i in range(15)]  # type: ignore[index]
        time.sleep(1.5)
        assert client.stats.pending == 15
        server = late_server(port)
        assert client.flush(timeout=20) == 0
    finally:
        client.shutdown(timeout=5)

    assert sorted(_uuids(server)) == sorted(sent)
    assert errors.calls == []
    assert client.stats.dropped == {}


@pytest.mark.usefixtures("quick_retries")
def test_events_held_through_an_outage_are_kept_compressed(fake_server: FakePostHog) -> None:
    client = posthog.Client(
        API_KEY, host=fake_server.url, flush_interval=0.01, flush_at=10, max_retries=0, retry_buffer_age=1800
    )
    try:
        fake_server.fail_for("/batch", 30.0, status=503)
        props = {"page": "https://shop.example.com/checkout?step=2", "plan": "pro"}
        for _ in range(10):
            client.capture("someone", "before", props)
        wait_until(lambda: client._dispatcher.sender is not None and client._dispatcher.sender.outage, 5)
        for _ in range(300):
            client.capture("someone", "during", props)
        wait_until(lambda: client.stats.pending == 310 and client.queue.empty(), 5)
        outbox = client._dispatcher.outbox
        held, as_json = outbox.nbytes, outbox.waiting_size
        assert as_json > 300 * 300
        assert held < as_json / 3
    finally:
        fake_server.clear_faults()
        client.shutdown(timeout=5)
    assert len(fake_server.events()) == 310


@pytest.mark.usefixtures("quick_retries")
def test_capture_during_an_outage_returns_at_once(fake_server: FakePostHog) -> None:
    client = posthog.Client(
        API_KEY, host=fake_server.url, flush_interval=0.05, max_retries=0, retry_buffer_age=1800
    )
    try:
        fake_server.fail_for("/batch", 3.0, status=503)
        client.capture("someone", "first")
        fake_server.wait_for_requests("/batch", 2, timeout=5)
        slowest = 0.0
        for i in range(200):
            began = time.perf_counter()
            ok, _ = client.capture("someone", f"e{i}")
            slowest = max(slowest, time.perf_counter() - began)
            assert ok
    finally:
        client.shutdown(timeout=8)
    assert slowest < 0.1


# --- faults --------------------------------------------------------------------------------------


def test_a_413_on_merged_chunks_splits_them_and_loses_nothing(fake_server: FakePostHog) -> None:
    fake_server.delay_next("/batch", 0.5)  # the first request is slow: later chunks wait and merge
    fake_server.fail_next("/batch", times=1, status=413)  # ... and their merged request is refused
    errors = ErrorLog()
    client = posthog.Client(API_KEY, host=fake_server.url, flush_at=5, flush_interval=0.05, on_error=errors)
    try:
        for group in range(5):
            for i in range(5):
                client.capture("someone", f"e{group * 5 + i}")
            time.sleep(0.08)  # one chunk of five per group
        assert client.flush(timeout=10) == 0
        assert client._dispatcher.sender is not None and client._dispatcher.sender.is_alive()
        assert all(c.is_alive() for c in client.consumers or [])
    finally:
        client.shutdown(timeout=5)

    requests = [(r.status, len(r.json["batch"])) for r in fake_server.requests_to("/batch")]
    assert requests[0] == (200, 5)
    assert requests[1][0] == 413 and requests[1][1] > 5  # chunks were merged
    assert all(status == 200 for status, _ in requests[2:])
    assert [e["event"] for e in fake_server.events()] == [f"e{i}" for i in range(25)]
    assert errors.calls == []


@pytest.mark.usefixtures("quick_retries")
def test_connection_resets_are_retried_and_the_threads_live_on(fake_server: FakePostHog) -> None:
    fake_server.drop_next("/batch", times=3)
    client = posthog.Client(
        API_KEY, host=fake_server.url, flush_interval=0.05, max_retries=1, retry_buffer_age=1800
    )
    try:
        sent = [client.capture("someone", f"e{i}")[1]["uuid"] for i in range(10)]  # type: ignore[index]
        assert client.flush(timeout=20) == 0
        assert client._dispatcher.sender is not None and client._dispatcher.sender.is_alive()
    finally:
        client.shutdown(timeout=5)
    assert sorted(_uuids(fake_server)) == sorted(sent)
    assert client.stats.dropped == {}


# --- bounds of the retry buffer -----------------------------------------------------------------


def _noise(i: int) -> dict[str, str]:
    return {"noise": os.urandom(600).hex(), "i": str(i)}  # does not compress: bytes stay bytes


@pytest.mark.usefixtures("quick_retries")
def test_a_full_retry_buffer_drops_the_oldest_events_first(
    fake_server: FakePostHog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="posthog")
    errors = ErrorLog()
    client = posthog.Client(
        API_KEY,
        host=fake_server.url,
        flush_interval=0.01,
        flush_at=1,
        max_retries=0,
        retry_buffer_age=1800,
        on_error=errors,
        retry_buffer_bytes=12_000,
    )
    try:
        fake_server.fail_for("/batch", 2.5, status=503)
        client.capture("someone", "e0", _noise(0))
        wait_until(lambda: client._dispatcher.sender is not None and client._dispatcher.sender.outage, 5)
        for i in range(1, 30):
            client.capture("someone", f"e{i}", _noise(i))
            time.sleep(0.005)  # one chunk per event
        assert client.flush(timeout=20) == 0
    finally:
        client.shutdown(timeout=5)

    dropped = errors.events(DropReason.BUFFER_FULL)
    delivered = [e["event"] for e in fake_server.events()]
    assert dropped, "the buffer bound never applied"
    assert sorted(dropped + delivered, key=lambda e: int(e[1:])) == [f"e{i}" for i in range(30)]
    assert delivered[-1] == "e29"  # the newest survive
    # The head batch was being retried; of the rest, the oldest went first.
    waiting = [f"e{i}" for i in range(1, 30)]
    assert dropped == waiting[: len(dropped)]
    assert client.stats.dropped == {DropReason.BUFFER_FULL: len(dropped)}
    buffer_lines = [r for r in caplog.records if "buffer_full" in r.getMessage()]
    # One line when the episode starts, one summary at shutdown; never one per event.
    assert len(buffer_lines) <= 2 < len(dropped)


@pytest.mark.usefixtures("quick_retries")
def test_events_older_than_the_retry_buffer_age_are_dropped_as_expired(fake_server: FakePostHog) -> None:
    errors = ErrorLog()
    client = posthog.Client(
        API_KEY,
        host=fake_server.url,
        flush_interval=0.05,
        max_retries=0,
        on_error=errors,
        retry_buffer_age=1.0,
    )
    try:
        fake_server.fail_for("/batch", 2.5, status=503)
        for i in range(3):
            client.capture("someone", f"old{i}")
        wait_until(lambda: client.stats.dropped.get(DropReason.EXPIRED) == 3, timeout=10)
        fake_server.clear_faults()
        client.capture("someone", "new")
        assert client.flush(timeout=10) == 0
    finally:
        client.shutdown(timeout=5)

    assert errors.events(DropReason.EXPIRED) == ["old0", "old1", "old2"]
    assert [e["event"] for e in fake_server.events()] == ["new"]


@pytest.mark.usefixtures("quick_retries")
def test_a_4xx_after_an_outage_drops_the_held_events_as_rejected(fake_server: FakePostHog) -> None:
    errors = ErrorLog()
    client = posthog.Client(
        API_KEY,
        host=fake_server.url,
        flush_interval=0.05,
        max_retries=0,
        retry_buffer_age=1800,
        on_error=errors,
    )
    try:
        fake_server.fail_next("/batch", times=3, status=503)
        fake_server.fail_next("/batch", times=1, status=400)
        client.capture("someone", "refused")
        wait_until(lambda: errors.calls, timeout=10)
    finally:
        client.shutdown(timeout=5)
    assert errors.events(DropReason.REJECTED) == ["refused"]
    assert [r.status for r in fake_server.requests_to("/batch")] == [503, 503, 503, 400]


@pytest.mark.usefixtures("quick_retries")
def test_shutdown_during_an_outage_keeps_its_deadline_and_reports_what_is_held(
    fake_server: FakePostHog,
) -> None:
    errors = ErrorLog()
    client = posthog.Client(
        API_KEY,
        host=fake_server.url,
        flush_interval=0.05,
        max_retries=0,
        retry_buffer_age=1800,
        on_error=errors,
    )
    fake_server.fail_for("/batch", 30.0, status=503)
    for i in range(5):
        client.capture("someone", f"e{i}")
    wait_until(lambda: client._dispatcher.sender is not None and client._dispatcher.sender.outage, 5)

    began = time.monotonic()
    client.shutdown(timeout=1.0)
    took = time.monotonic() - began

    assert took < 1.0 + 0.5
    assert sorted(errors.events(DropReason.EXIT_DEADLINE)) == sorted(f"e{i}" for i in range(5))
    assert client.stats.dropped == {DropReason.EXIT_DEADLINE: 5}


# --- the queue's byte bound -------------------------------------------------------------------


def test_the_queue_refuses_past_its_byte_bound_and_names_it() -> None:
    queue = EventQueue(maxsize=1000, maxbytes=64 * 1024)
    results = [queue.put({"i": i}, size=20_000) for i in range(5)]
    assert results == [None, None, None, "max_queue_bytes", "max_queue_bytes"]
    assert queue.qsize() == 3
    taken, size = queue.take(token=1, limit=10, max_bytes=10**9)
    assert [m["i"] for m in taken] == [0, 1, 2] and size >= 60_000
    assert queue.put({"i": 5}, size=20_000) is None  # room again


def test_huge_events_are_bounded_by_bytes_and_every_one_is_accounted_for(
    fake_server: FakePostHog,
) -> None:
    errors = ErrorLog()
    client = posthog.Client(
        API_KEY, host=fake_server.url, max_queue_bytes=1024 * 1024, on_error=errors, flush_interval=0.05
    )
    big = {"blob": "x" * 200_000}
    try:
        results, peak = [], 0
        for i in range(60):
            results.append(client.capture("someone", f"e{i}", big)[0])
            peak = max(peak, client.queue.nbytes)
        assert client.flush(timeout=30) == 0
    finally:
        client.shutdown(timeout=5)

    assert peak <= 1024 * 1024
    refused = results.count(False)
    assert refused == len(errors.events(DropReason.QUEUE_FULL))
    assert len(fake_server.events()) + refused == 60
    if refused:
        assert "max_queue_bytes" in str(errors.calls[0][0])

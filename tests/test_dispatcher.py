"""Queue-full accounting, bounded flush/shutdown, lifecycle, sync mode, splitting and retries
(weaknesses.md §A.4, A.5, A.8, B.11-B.13; wire.md §5).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

import posthog
from posthog import DropReason
from posthog._pipeline.engine import MAX_SENDERS
from posthog.exceptions import DroppedEventError
from tests.conftest import API_KEY
from tests.fake_server import FakePostHog, SilentServer
from tests.support.waiting import wait_until

MakeClient = Callable[..., posthog.Client]


class ErrorLog:
    """An ``on_error`` callback that remembers (reason, status, batch size) per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[DropReason, int | None, int]] = []
        self.batches: list[list[Any]] = []

    def __call__(self, error: Exception, batch: Sequence[Any]) -> None:
        assert isinstance(error, DroppedEventError)
        assert isinstance(error, posthog.APIError)  # what 3.x on_error callbacks check for
        self.calls.append((error.reason, error.http_status, len(batch)))
        self.batches.append(list(batch))

    def total(self, reason: DropReason) -> int:
        return sum(n for r, _, n in self.calls if r is reason)


def consumer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "posthog.consumer"}


@pytest.fixture
def silent_client(silent_server: SilentServer) -> Iterator[Callable[..., posthog.Client]]:
    """Clients bound to a server that never answers; shut down quickly afterwards."""
    clients: list[posthog.Client] = []

    def factory(**kwargs: Any) -> posthog.Client:
        kwargs.setdefault("flush_interval", 0.05)
        client = posthog.Client(API_KEY, host=silent_server.url, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.shutdown(timeout=0.1)


# --- full queue -----------------------------------------------------------------------------


def _fill(client: posthog.Client, n: int) -> list[tuple[bool, Any]]:
    return [client.capture("someone", "burst", {"i": i}) for i in range(n)]


def test_full_queue_drops_are_counted_and_reported(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.hang("/batch")  # the consumer sits on its first batch; the queue can only fill
    errors = ErrorLog()
    client = make_client(max_queue_size=10, flush_at=1, on_error=errors)

    results = _fill(client, 100)

    # The encoder moves what it can into the outbox, so how many fit varies; none may go unreported.
    refused = sum(1 for ok, _ in results if not ok)
    assert refused > 0
    assert client.stats.pending == 100 - refused
    assert client.stats.dropped[DropReason.QUEUE_FULL] == refused
    assert errors.total(DropReason.QUEUE_FULL) == refused
    client.shutdown(timeout=0.2)


def test_full_queue_capture_returns_false_and_the_message(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.hang("/batch")
    client = make_client(max_queue_size=2, flush_at=1)
    # The encoder drains the queue into the outbox as fast as it can: capture until one is refused.
    for i in range(20000):
        ok, msg = client.capture("someone", "refused", {"x": 1, "i": i})
        if not ok:
            break

    assert ok is False
    assert isinstance(msg, dict)
    assert msg["event"] == "refused"
    assert msg["properties"]["x"] == 1
    client.shutdown(timeout=0.2)


def test_full_queue_logs_one_warning_for_many_drops(
    fake_server: FakePostHog, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.hang("/batch")
    client = make_client(max_queue_size=5, flush_at=1)
    caplog.set_level(logging.WARNING, logger="posthog")

    results = _fill(client, 200)

    assert sum(1 for ok, _ in results if not ok) > 100
    lines = [r for r in caplog.records if r.name == "posthog" and "queue_full" in r.getMessage()]
    assert len(lines) == 1
    assert "analytics-python" not in caplog.text
    client.shutdown(timeout=0.2)


def test_queue_full_timeout_waits_for_room_instead_of_dropping(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_delay("/batch", 0.05)  # a slow server: the queue is full most of the time
    errors = ErrorLog()
    client = make_client(max_queue_size=5, flush_at=5, queue_full_timeout=5.0, on_error=errors)

    results = _fill(client, 50)

    assert all(ok for ok, _ in results)
    assert client.flush(timeout=10) == 0
    assert sorted(e["properties"]["i"] for e in fake_server.events()) == list(range(50))
    assert client.stats.dropped_total == 0
    assert errors.calls == []


def test_without_queue_full_timeout_the_same_burst_drops(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    # The contrast that shows the previous test exercises a full queue.
    fake_server.set_delay("/batch", 0.05)
    client = make_client(max_queue_size=5, flush_at=5)

    results = _fill(client, 50)

    assert not all(ok for ok, _ in results)
    client.flush(timeout=5)


# --- lifecycle ------------------------------------------------------------------------------


def test_capture_after_shutdown_is_rejected_and_counted(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    client.capture("someone", "before")
    client.shutdown(timeout=2)

    ok, msg = client.capture("someone", "after")

    assert ok is False
    assert isinstance(msg, dict)
    assert msg["event"] == "after"
    assert client.stats.dropped[DropReason.AFTER_SHUTDOWN] == 1
    assert errors.calls == [(DropReason.AFTER_SHUTDOWN, None, 1)]
    started = time.monotonic()
    assert client.flush(timeout=2) == 0  # 3.x hung here forever
    assert time.monotonic() - started < 1
    assert [e["event"] for e in fake_server.events()] == ["before"]


@pytest.mark.serial
def test_shutdown_is_idempotent(fake_server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client()
    client.capture("someone", "event")
    client.shutdown(timeout=2)
    stats = client.stats

    started = time.monotonic()
    client.shutdown(timeout=2)
    client.join()
    client.shutdown()

    assert time.monotonic() - started < 0.5
    assert client.stats == stats
    assert len(fake_server.events()) == 1


def test_sync_mode_delivers_inline_and_lifecycle_calls_do_not_raise(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(sync_mode=True)

    ok, _ = client.capture("someone", "sync-event")

    assert ok is True
    assert [e["event"] for e in fake_server.events()] == ["sync-event"]  # already there: no wait
    assert client.flush() == 0
    assert client.flush(timeout=1) == 0
    client.join()
    client.shutdown()
    client.shutdown(timeout=1)
    assert client.capture("someone", "late")[0] is False
    assert client.stats.dropped[DropReason.AFTER_SHUTDOWN] == 1
    assert client.consumers is None  # as in 3.x


def test_thread_3_keeps_and_stops_three_consumers(make_client: MakeClient) -> None:
    client = make_client(thread=3)
    client.capture("someone", "event")

    consumers = list(client.consumers or [])
    assert len(consumers) == 3
    assert all(c.thread.name == "posthog.consumer" and c.thread.daemon for c in consumers)
    client.shutdown(timeout=2)
    assert not any(c.is_alive() for c in consumers)


# --- lazy threads ---------------------------------------------------------------------------


def test_disabled_client_starts_no_thread(make_client: MakeClient) -> None:
    before = consumer_threads()
    client = make_client(disabled=True)

    assert client.capture("someone", "event") == (False, "disabled")

    assert consumer_threads() - before == set()
    assert client.consumers == []


def test_send_false_client_starts_no_thread_and_sends_nothing(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    before = consumer_threads()
    client = make_client(send=False)

    ok, _ = client.capture("someone", "event")

    assert ok is True
    assert consumer_threads() - before == set()
    assert client.flush(timeout=1) == 0
    assert fake_server.requests_to("/batch") == []


def test_first_capture_joins_the_process_engine_and_more_clients_add_no_thread(
    make_client: MakeClient,
) -> None:
    client = make_client()
    assert client.consumers == []

    client.capture("someone", "event")

    [consumer] = client.consumers or []
    assert consumer.thread is not None and consumer.thread.name == "posthog.consumer"
    assert consumer.thread.daemon and consumer.thread.is_alive()
    before = {t for t in threading.enumerate() if t.name.startswith("posthog.")}
    others = [make_client() for _ in range(20)]
    for other in others:
        other.capture("someone", "event")
    assert all(o.consumers and o.consumers[0].thread is consumer.thread for o in others)
    for other in others:
        assert other.flush(timeout=5) == 0
    after = {t for t in threading.enumerate() if t.name.startswith("posthog.")}
    # 20 more clients: no new encoder; senders only up to the engine's fixed bound
    assert {t for t in after - before if t.name != "posthog.sender"} == set()
    assert len([t for t in after if t.name == "posthog.sender"]) <= MAX_SENDERS


# --- flush ----------------------------------------------------------------------------------


def test_flush_waits_only_for_events_queued_before_the_call(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.delay_next("/batch", 0.5)  # the first batch (A) is slow...
    fake_server.hang("/batch", times=1)  # ...the second (B) never completes
    client = make_client(flush_at=1)
    client.capture("someone", "A")
    result: list[int] = []
    flusher = threading.Thread(target=lambda: result.append(client.flush(timeout=5)))

    # A is on its way (in the sender's batch) before B exists: batches merge what waits together.
    wait_until(
        lambda: client._dispatcher.outbox.pending() == 1 and client._dispatcher.outbox.waiting_size == 0
    )
    started = time.monotonic()
    flusher.start()
    wait_until(lambda: client._dispatcher.urgent, timeout=2)  # the flush is waiting
    client.capture("someone", "B")
    flusher.join(timeout=6)

    assert result == [0]
    assert time.monotonic() - started < 2.5
    assert [e["event"] for e in fake_server.events()] == ["A"]
    client.shutdown(timeout=0.2)


@pytest.mark.serial
def test_flush_with_nothing_queued_returns_at_once(make_client: MakeClient) -> None:
    client = make_client()
    started = time.monotonic()
    assert client.flush() == 0
    assert time.monotonic() - started < 0.5


# --- server answers -------------------------------------------------------------------------


def test_413_splits_the_batch_and_delivers_the_halves(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.fail_next("/batch", times=1, status=413)
    errors = ErrorLog()
    client = make_client(flush_at=10, flush_interval=2.0, on_error=errors)
    for i in range(10):
        client.capture("someone", "event", {"i": i})

    assert client.flush(timeout=5) == 0

    sizes = [(r.status, len(r.json["batch"])) for r in fake_server.requests_to("/batch")]
    assert sizes == [(413, 10), (200, 5), (200, 5)]
    assert sorted(e["properties"]["i"] for e in fake_server.events()) == list(range(10))
    assert errors.calls == []
    assert client.stats.dropped_total == 0


def test_413_isolates_the_one_event_the_server_refuses(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    # 4 -> 413, first half 2 -> 413, its first event alone -> 413: only that one is lost.
    fake_server.fail_next("/batch", times=3, status=413)
    errors = ErrorLog()
    client = make_client(flush_at=4, flush_interval=2.0, on_error=errors)
    for i in range(4):
        client.capture("someone", "event", {"i": i})

    assert client.flush(timeout=5) == 0

    assert sorted(e["properties"]["i"] for e in fake_server.events()) == [1, 2, 3]
    assert errors.calls == [(DropReason.TOO_LARGE, 413, 1)]
    assert errors.batches[0][0]["properties"]["i"] == 0
    assert client.stats.dropped == {DropReason.TOO_LARGE: 1}


def test_single_event_still_413_is_dropped_too_large(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.fail_next("/batch", times=1, status=413)
    errors = ErrorLog()
    client = make_client(flush_at=1, on_error=errors)
    client.capture("someone", "refused")

    assert client.flush(timeout=5) == 0

    assert len(fake_server.requests_to("/batch")) == 1
    assert errors.calls == [(DropReason.TOO_LARGE, 413, 1)]
    assert client.stats.dropped[DropReason.TOO_LARGE] == 1
    client.capture("someone", "later")  # the consumer carries on
    assert client.flush(timeout=5) == 0
    assert [e["event"] for e in fake_server.events()] == ["later"]


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_other_4xx_is_rejected_and_never_retried(
    fake_server: FakePostHog, make_client: MakeClient, status: int
) -> None:
    fake_server.fail_next("/batch", times=5, status=status)
    errors = ErrorLog()
    client = make_client(flush_at=3, flush_interval=2.0, on_error=errors)
    for i in range(3):
        client.capture("someone", "event", {"i": i})

    assert client.flush(timeout=5) == 0

    assert len(fake_server.requests_to("/batch")) == 1
    assert errors.calls == [(DropReason.REJECTED, status, 3)]
    assert client.stats.dropped == {DropReason.REJECTED: 3}


def test_with_the_retry_buffer_off_retries_exhausted_are_counted_and_reported(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.fail_next("/batch", times=10, status=503)
    errors = ErrorLog()
    client = make_client(flush_at=1, max_retries=2, on_error=errors, retry_buffer_age=0)
    client.capture("someone", "event")

    assert client.flush(timeout=8) == 0

    assert [r.status for r in fake_server.requests_to("/batch")] == [503, 503, 503]
    assert errors.calls == [(DropReason.RETRIES_EXHAUSTED, 503, 1)]
    assert client.stats.dropped == {DropReason.RETRIES_EXHAUSTED: 1}


def test_retried_event_keeps_its_uuid_and_timestamp(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.fail_next("/batch", times=2, status=503)
    client = make_client(flush_at=1, max_retries=3)
    client.capture("someone", "event")

    assert client.flush(timeout=8) == 0

    attempts = [r.json["batch"] for r in fake_server.requests_to("/batch")]
    assert len(attempts) == 3
    assert all(len(batch) == 1 for batch in attempts)
    assert len({(b[0]["uuid"], b[0]["timestamp"]) for b in attempts}) == 1
    assert attempts[0][0]["uuid"]
    assert len(fake_server.events()) == 1


# --- a server that never answers ------------------------------------------------------------


def test_shutdown_with_a_silent_server_returns_by_its_timeout_and_reports_the_loss(
    silent_client: Callable[..., posthog.Client],
) -> None:
    errors = ErrorLog()
    client = silent_client(on_error=errors)
    for i in range(20):
        client.capture("someone", "event", {"i": i})

    started = time.monotonic()
    client.shutdown(timeout=2)
    elapsed = time.monotonic() - started

    assert elapsed < 2.5
    assert client.stats.dropped[DropReason.EXIT_DEADLINE] == 20
    assert errors.total(DropReason.EXIT_DEADLINE) == 20
    lost = sorted(msg["properties"]["i"] for batch in errors.batches for msg in batch)
    assert lost == list(range(20))


def test_shutdown_without_timeout_returns_by_the_documented_default(
    silent_client: Callable[..., posthog.Client],
) -> None:
    client = silent_client()
    client.capture("someone", "event")

    started = time.monotonic()
    client.shutdown()

    assert time.monotonic() - started < 5.0 + 0.7
    assert client.stats.dropped[DropReason.EXIT_DEADLINE] == 1


def test_flush_with_a_silent_server_returns_by_its_timeout_with_the_pending_count(
    silent_client: Callable[..., posthog.Client],
) -> None:
    client = silent_client()
    for i in range(7):
        client.capture("someone", "event", {"i": i})

    started = time.monotonic()
    pending = client.flush(timeout=1)

    assert time.monotonic() - started < 1.5
    assert pending == 7
    assert client.stats.dropped_total == 0  # a flush that times out drops nothing

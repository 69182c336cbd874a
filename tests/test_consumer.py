"""Consumer threads: batching by count, bytes and time; retries; threads; sync mode; flush.

Spec: wire.md §5 (limits, consumer thread, retry policy), §9 (sync_mode); STYLE 3 (Retry-After,
one retry layer), weaknesses.md 11, 12, 14, 37.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import posthog
from posthog.consumer import BATCH_SIZE_LIMIT
from tests.fake_server import FakePostHog
from tests.support.errors import ErrorLog
from tests.support.waiting import wait_until

ClientFactory = Callable[..., posthog.Client]

FIXED_TS = "2024-01-01T00:00:00+00:00"
FIXED_UUID = "01234567-89ab-7cde-8f01-23456789abcd"


def _batch_sizes(server: FakePostHog) -> list[int]:
    return [len(b["batch"]) for b in server.batches()]


# --- batching -----------------------------------------------------------------------------------------


def test_flush_at_events_leave_without_waiting_for_flush_interval(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(flush_at=10, flush_interval=30)

    for i in range(10):
        client.capture("u", f"e{i}")

    events = fake_server.wait_for_events(10, timeout=5)
    assert _batch_sizes(fake_server) == [10]
    assert [e["event"] for e in events] == [f"e{i}" for i in range(10)]


def test_a_backlog_goes_out_in_larger_batches_in_order(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    # Events already waiting when a batch is taken join it: under load batches grow past
    # flush_at (up to the body limit) instead of paying one round trip per flush_at events.
    client = make_client(flush_at=10, flush_interval=0.2)

    for i in range(35):
        client.capture("u", f"e{i}")
    client.flush()

    events = fake_server.wait_for_events(35)
    assert [e["event"] for e in events] == [f"e{i}" for i in range(35)]
    assert len(_batch_sizes(fake_server)) < 4


def _padded_properties(client: posthog.Client, target_size: int) -> dict[str, str]:
    """Properties that make an event encode to ``target_size`` bytes (fixed timestamp and uuid)."""
    probe = posthog.Client(client.api_key, host=client.host, send=False)
    _, msg = probe.capture("u", "big", {"x": ""}, timestamp=FIXED_TS, uuid=FIXED_UUID)
    base = len(__import__("json").dumps(msg, separators=(",", ":")))
    return {"x": "a" * (target_size - base)}


def test_batches_split_by_bytes(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client(flush_interval=0.5)
    props = _padded_properties(client, 400 * 1024)

    for _ in range(14):
        client.capture("u", "big", props, timestamp=FIXED_TS, uuid=FIXED_UUID)
    client.flush()

    fake_server.wait_for_events(14)
    bodies = [len(r.body) for r in fake_server.requests]
    assert len(bodies) >= 2
    assert max(bodies) <= BATCH_SIZE_LIMIT


def test_batch_body_never_passes_the_limit_at_the_edge(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    # Six events whose sizes add up to just under 5 MiB: the envelope must not push the body over.
    client = make_client(flush_interval=0.5)
    props = _padded_properties(client, BATCH_SIZE_LIMIT // 6)

    for _ in range(6):
        client.capture("u", "big", props, timestamp=FIXED_TS, uuid=FIXED_UUID)
    client.flush()

    fake_server.wait_for_events(6)
    assert max(len(r.body) for r in fake_server.requests) <= BATCH_SIZE_LIMIT


def test_a_single_event_is_sent_after_flush_interval_without_flush(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(flush_interval=0.3)

    started = time.monotonic()
    client.capture("u", "lonely")

    [req] = fake_server.wait_for_requests("/batch", 1, timeout=3)
    assert req.time - started <= 0.3 + 1.0


def test_events_within_flush_interval_share_a_batch(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(flush_interval=1.0)

    client.capture("u", "first")
    client.capture("u", "second")

    fake_server.wait_for_events(2, timeout=4)
    assert _batch_sizes(fake_server) == [2]


# --- retries ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 500, 408, 429], ids=str)
def test_retryable_status_is_retried(
    make_client: ClientFactory, fake_server: FakePostHog, status: int
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    fake_server.fail_next("/batch", status=status)

    client.capture("u", "e")

    fake_server.wait_for_events(1)
    assert [r.status for r in fake_server.requests] == [status, 200]
    assert errors.calls == []


def test_retry_after_is_honoured(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client()
    fake_server.fail_next("/batch", status=429, retry_after=0.3)

    client.capture("u", "e")

    fake_server.wait_for_events(1)
    first, second = fake_server.requests
    assert second.time - first.time >= 0.3 - 0.005


def test_first_retry_waits_at_least_a_tenth_of_a_second(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client()
    fake_server.fail_next("/batch", status=503)

    client.capture("u", "e")

    fake_server.wait_for_events(1)
    first, second = fake_server.requests
    assert second.time - first.time >= 0.1 - 0.005


def test_dropped_connection_is_retried(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    fake_server.drop_next("/batch")

    client.capture("u", "e")

    [event] = fake_server.wait_for_events(1)
    assert event["event"] == "e"
    assert [r.status for r in fake_server.requests] == [None, 200]
    assert errors.calls == []


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, posthog.DropReason.REJECTED),
        (401, posthog.DropReason.REJECTED),
        (413, posthog.DropReason.TOO_LARGE),
    ],
    ids=["400", "401", "413-single-event"],
)
def test_client_errors_are_not_retried(
    make_client: ClientFactory, fake_server: FakePostHog, status: int, reason: posthog.DropReason
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    fake_server.fail_next("/batch", status=status, times=5)

    client.capture("u", "e")

    [(error, batch)] = errors.wait(1)
    client.flush()
    assert [r.status for r in fake_server.requests] == [status]
    assert isinstance(error, posthog.DroppedEventError)
    assert (error.reason, error.count, error.http_status) == (reason, 1, status)
    assert isinstance(error.__cause__, posthog.APIError)
    assert [m["event"] for m in batch] == ["e"]


def test_with_the_retry_buffer_off_max_retries_bounds_the_attempts(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors, max_retries=2, retry_buffer_age=0)
    fake_server.fail_next("/batch", status=503, times=10)

    client.capture("u", "e")

    [(error, batch)] = errors.wait(1, timeout=8)
    assert [r.status for r in fake_server.requests] == [503, 503, 503]
    assert isinstance(error, posthog.DroppedEventError)
    assert error.reason is posthog.DropReason.RETRIES_EXHAUSTED
    assert len(batch) == 1


def test_with_the_retry_buffer_off_max_retries_zero_means_one_attempt(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors, max_retries=0, retry_buffer_age=0)
    fake_server.fail_next("/batch", status=503, times=3)

    client.capture("u", "e")

    errors.wait(1)
    assert [r.status for r in fake_server.requests] == [503]


@pytest.mark.parametrize("max_retries", [1, 3])
def test_an_explicit_max_retries_gives_n_plus_one_attempts_then_one_report(
    make_client: ClientFactory, fake_server: FakePostHog, max_retries: int
) -> None:
    # The 3.x contract and PostHog's cross-SDK rule: passing max_retries (even the default 3)
    # means N + 1 attempts, then on_error with the events; they are not held for later.
    errors = ErrorLog()
    client = make_client(on_error=errors, max_retries=max_retries, flush_at=5, flush_interval=30)
    fake_server.fail_for("/batch", seconds=60, status=503)

    for i in range(5):
        client.capture("u", f"e{i}")

    [(error, batch)] = errors.wait(1, timeout=20)
    assert isinstance(error, posthog.APIError) and isinstance(error, posthog.DroppedEventError)
    assert error.reason is posthog.DropReason.RETRIES_EXHAUSTED
    assert isinstance(error.__cause__, posthog.APIError) and error.__cause__.status == 503
    assert [m["event"] for m in batch] == [f"e{i}" for i in range(5)]
    assert client.flush(timeout=2) == 0
    time.sleep(0.3)  # nothing is re-sent after the report
    assert [r.status for r in fake_server.requests_to("/batch")] == [503] * (max_retries + 1)
    assert client.stats.dropped == {"retries_exhausted": 5}
    assert len(errors.calls) == 1


def test_without_max_retries_events_are_held_through_the_outage(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    fake_server.fail_next("/batch", status=503, times=5)

    client.capture("u", "held")

    events = fake_server.wait_for_events(1, timeout=20)
    assert [e["event"] for e in events] == ["held"]
    assert [r.status for r in fake_server.requests_to("/batch")] == [503] * 5 + [200]
    assert errors.calls == []


def test_an_explicit_retry_buffer_age_keeps_holding_with_max_retries(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors, max_retries=0, retry_buffer_age=60)
    fake_server.fail_next("/batch", status=503, times=2)

    client.capture("u", "held")

    assert [e["event"] for e in fake_server.wait_for_events(1, timeout=10)] == ["held"]
    assert errors.calls == []


def test_the_module_setting_max_retries_is_explicit_too(fake_server: FakePostHog) -> None:
    errors = ErrorLog()
    posthog.api_key = "phc_module"
    posthog.host = fake_server.url
    posthog.on_error = errors
    posthog.max_retries = 0
    fake_server.fail_for("/batch", seconds=30, status=503)

    posthog.capture("u", "once")
    posthog.flush()

    [(error, _)] = errors.wait(1, timeout=10)
    assert error.reason is posthog.DropReason.RETRIES_EXHAUSTED
    assert [r.status for r in fake_server.requests_to("/batch")] == [503]


def test_a_failed_batch_does_not_stop_later_ones(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    fake_server.fail_next("/batch", status=400)
    client.capture("u", "lost")
    errors.wait(1)

    client.capture("u", "kept")
    client.flush()

    assert [e["event"] for e in fake_server.wait_for_events(1)] == ["kept"]


def test_on_error_raising_does_not_kill_the_consumer(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    calls: list[Exception] = []

    def explode(error: Exception, batch: Any) -> None:
        calls.append(error)
        raise RuntimeError("callback bug")

    client = make_client(on_error=explode)
    fake_server.fail_next("/batch", status=400)
    client.capture("u", "lost")
    wait_until(lambda: calls)

    client.capture("u", "kept")
    client.flush()

    assert [e["event"] for e in fake_server.wait_for_events(1)] == ["kept"]


# --- threads ------------------------------------------------------------------------------------------


def test_thread_3_gives_three_handles_on_the_one_encoder_of_the_process(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(thread=3)

    client.capture("u", "e")  # the pipeline joins the process's engine on first use
    client.flush()

    consumers = client.consumers
    assert consumers is not None and len(consumers) == 3
    wait_until(lambda: all(c.is_alive() for c in consumers))
    threads = {c.thread for c in consumers}
    assert len(threads) == 1  # one encoder per process, however many clients and handles
    [thread] = threads
    assert thread is not None and thread.name == "posthog.consumer" and thread.daemon
    assert thread in threading.enumerate()

    client.shutdown()

    assert not any(c.is_alive() for c in consumers)
    assert thread.is_alive()  # the engine serves the process's other clients


def test_three_consumers_deliver_everything_once(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(thread=3, flush_at=5)

    for i in range(60):
        client.capture("u", f"e{i}")
    client.flush()

    events = fake_server.wait_for_events(60)
    assert sorted(e["event"] for e in events) == sorted(f"e{i}" for i in range(60))


def test_sync_mode_posts_before_returning(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    threads_before = {t for t in threading.enumerate() if t.name.startswith("posthog.")}
    client = make_client(sync_mode=True)

    for i in range(3):
        ok, _ = client.capture("u", f"e{i}")
        assert ok is True
        assert len(fake_server.requests) == i + 1  # no waiting: already delivered

    assert [len(b["batch"]) for b in fake_server.batches()] == [1, 1, 1]
    assert client.consumers is None
    assert {t for t in threading.enumerate() if t.name.startswith("posthog.")} <= threads_before
    client.flush()
    client.join()
    client.shutdown()


def test_flush_returns_promptly_once_delivered(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client(flush_interval=5)
    client.capture("u", "e")

    started = time.monotonic()
    pending = client.flush()
    elapsed = time.monotonic() - started

    assert pending == 0
    assert elapsed < 1.0
    assert [e["event"] for e in fake_server.events()] == ["e"]


@pytest.mark.serial
def test_flush_with_nothing_queued_returns_at_once(client: posthog.Client) -> None:
    started = time.monotonic()

    assert client.flush() == 0
    assert time.monotonic() - started < 0.5


def test_concurrent_first_facade_calls_create_one_client(
    fake_server: FakePostHog, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[posthog.Client] = []
    created_lock = threading.Lock()

    class SlowClient(posthog.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.05)  # widen the race window a lock must close
            super().__init__(*args, **kwargs)
            with created_lock:
                created.append(self)

    monkeypatch.setattr(posthog, "Client", SlowClient)
    posthog.api_key = "phc_race"
    posthog.host = fake_server.url
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def first_call(i: int) -> None:
        barrier.wait(timeout=5)
        results.append(posthog.capture(f"user-{i}", "race"))

    threads = [threading.Thread(target=first_call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert len(created) == 1
    assert posthog.default_client is created[0]
    assert [ok for ok, _ in results] == [True] * 8
    posthog.flush()
    assert len(fake_server.wait_for_events(8)) == 8
    posthog.shutdown()

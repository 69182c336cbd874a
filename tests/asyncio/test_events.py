"""AsyncPosthog events: queued without I/O, sent by a task on the loop, same wire as the sync client."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import posthog
from posthog import AsyncPosthog, DropReason
from tests.asyncio.conftest import API_KEY, MakeAsync, strip_volatile
from tests.fake_server import FakePostHog, SilentServer


def _calls(client: Any) -> None:
    client.capture("u1", "signed up", {"plan": "pro", "n": 3}, groups={"company": "acme"})
    client.identify("u1", {"email": "a@example.com"})
    client.set("u1", {"x": 1})
    client.set_once("u1", {"first": True})
    client.alias("u1", "u1-alias")
    client.group_identify("company", "acme", {"size": 10})
    client.page("u1", "https://example.com/a", {"ref": "x"})
    client.screen("u1", "Home", {"s": 1})
    try:
        raise ValueError("boom")
    except ValueError as exc:
        client.capture_exception(exc, "u1", {"where": "test"})


def test_the_event_calls_put_the_same_events_on_the_wire_as_the_sync_client(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    sync = posthog.Client(API_KEY, host=fake_server.url, flush_interval=0.05)
    _calls(sync)
    sync.shutdown(timeout=5)
    sync_events = [strip_volatile(e) for e in fake_server.events()]
    fake_server.clear()

    async def scenario() -> None:
        async with make_async() as client:
            _calls(client)

    asyncio.run(scenario())
    async_events = [strip_volatile(e) for e in fake_server.events()]
    assert len(sync_events) == 9
    for event in sync_events + async_events:  # the stack trace lines differ between the two call sites
        event["properties"].pop("$exception_list", None)
        event["properties"].pop("$exception_personURL", None)
    assert async_events == sync_events


@pytest.mark.serial
def test_capture_returns_at_once_and_does_no_io_on_the_caller(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.set_delay("/batch", 1.0)

    async def scenario() -> tuple[float, Any]:
        client = make_async(flush_at=1)
        started = time.perf_counter()
        results = [client.capture("u", "e", {"i": i}) for i in range(200)]
        elapsed = time.perf_counter() - started
        await client.shutdown(timeout=5)
        return elapsed, results

    elapsed, results = asyncio.run(scenario())
    assert elapsed < 0.5  # 200 captures against a server that takes 1 s per request
    assert all(ok for ok, _ in results)
    assert len(fake_server.events()) == 200


def test_events_leave_in_batches_of_flush_at(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    async def scenario() -> None:
        client = make_async(flush_at=10, flush_interval=5)
        for i in range(30):
            client.capture("u", "e", {"i": i})
            await asyncio.sleep(0)
        assert await client.flush(timeout=5) == 0
        await client.shutdown()

    asyncio.run(scenario())
    sizes = [len(b["batch"]) for b in fake_server.batches()]
    assert sum(sizes) == 30
    assert max(sizes) >= 10
    assert [e["properties"]["i"] for e in fake_server.events()] == list(range(30))


def test_a_lone_event_leaves_after_flush_interval(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    async def scenario() -> float:
        client = make_async(flush_interval=0.2)
        started = time.monotonic()
        client.capture("u", "alone")
        while not fake_server.events() and time.monotonic() - started < 3:
            await asyncio.sleep(0.01)
        waited = time.monotonic() - started
        await client.shutdown()
        return waited

    waited = asyncio.run(scenario())
    assert 0.15 <= waited < 1.5


def test_a_burst_on_the_loop_loses_nothing(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    async def scenario() -> Any:
        client = make_async(max_queue_size=1000)
        for i in range(20_000):  # no await: the sender task cannot run during the burst
            client.capture("u", "burst", {"i": i})
        await client.shutdown(timeout=20)
        return client.stats

    stats = asyncio.run(scenario())
    assert stats.dropped_total == 0
    assert fake_server.stats()["events"] == 20_000


def test_capture_from_another_thread_is_sent_by_the_loop(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    async def scenario() -> None:
        client = make_async()
        client.capture("u", "from the loop")
        worker = threading.Thread(
            target=lambda: [client.capture("u", "from a thread", {"i": i}) for i in range(50)]
        )
        worker.start()
        await asyncio.to_thread(worker.join, 5)
        assert await client.flush(timeout=5) == 0
        await client.shutdown()

    asyncio.run(scenario())
    names = [e["event"] for e in fake_server.events()]
    assert names.count("from a thread") == 50
    assert names.count("from the loop") == 1


def test_capture_immediate_returns_once_the_server_has_the_event(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    async def scenario() -> tuple[bool, Any, int]:
        async with make_async(flush_interval=10) as client:
            ok, msg = await client.capture_immediate("u", "paid", {"amount": 5})
            seen = len(fake_server.events())
            return ok, msg, seen

    ok, msg, seen = asyncio.run(scenario())
    assert ok is True
    assert seen == 1  # already there when the coroutine returned
    [event] = fake_server.events()
    assert event["uuid"] == msg["uuid"]
    assert event["properties"]["amount"] == 5


def test_capture_immediate_retries_transient_failures(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.fail_next("/batch", times=2, status=503)

    async def scenario() -> bool:
        async with make_async() as client:
            ok, _ = await client.capture_immediate("u", "paid")
            return ok

    assert asyncio.run(scenario()) is True
    assert len(fake_server.requests_to("/batch")) == 3
    assert len(fake_server.events()) == 1


def test_capture_immediate_against_a_silent_server_returns_by_its_deadline_and_reports_the_drop(
    silent_server: SilentServer,
) -> None:
    errors: list[Any] = []

    async def scenario() -> tuple[bool, float, Any]:
        client = AsyncPosthog(API_KEY, host=silent_server.url, on_error=lambda e, batch: errors.append(batch))
        started = time.monotonic()
        ok, _ = await client.capture_immediate("u", "paid", timeout=0.5)
        elapsed = time.monotonic() - started
        await client.shutdown(timeout=0.2)
        return ok, elapsed, client.stats

    ok, elapsed, stats = asyncio.run(scenario())
    assert ok is False
    assert elapsed < 1.5
    assert stats.dropped_total == 1
    assert errors and errors[0][0]["event"] == "paid"


def test_flush_and_shutdown_against_a_silent_server_keep_their_deadlines(silent_server: SilentServer) -> None:
    errors: list[Any] = []

    async def scenario() -> tuple[int, float, float, Any]:
        client = AsyncPosthog(
            API_KEY, host=silent_server.url, flush_interval=0.01, on_error=lambda e, b: errors.extend(b)
        )
        for i in range(5):
            client.capture("u", "stuck", {"i": i})
        started = time.monotonic()
        pending = await client.flush(timeout=0.5)
        flush_took = time.monotonic() - started
        started = time.monotonic()
        await client.shutdown(timeout=0.5)
        shutdown_took = time.monotonic() - started
        return pending, flush_took, shutdown_took, client.stats

    pending, flush_took, shutdown_took, stats = asyncio.run(scenario())
    assert pending == 5
    assert 0.4 <= flush_took < 1.2
    assert shutdown_took < 1.2
    assert stats.dropped[DropReason.EXIT_DEADLINE] == 5
    assert sorted(e["properties"]["i"] for e in errors) == list(range(5))


def test_batches_are_retried_then_delivered(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.fail_next("/batch", times=2, status=503, retry_after=0)

    async def scenario() -> Any:
        async with make_async() as client:
            for i in range(3):
                client.capture("u", "retried", {"i": i})
        return client.stats

    stats = asyncio.run(scenario())
    assert stats.dropped_total == 0
    assert [e["properties"]["i"] for e in fake_server.events()] == [0, 1, 2]


def test_a_rejected_batch_is_dropped_as_rejected(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.fail_next("/batch", times=1, status=400)

    async def scenario() -> Any:
        async with make_async() as client:
            client.capture("u", "bad")
        return client.stats

    stats = asyncio.run(scenario())
    assert stats.dropped[DropReason.REJECTED] == 1
    assert len(fake_server.requests_to("/batch")) == 1


def test_a_413_splits_the_batch(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.fail_next("/batch", times=1, status=413)

    async def scenario() -> Any:
        client = make_async(flush_at=10, flush_interval=5)
        for i in range(10):
            client.capture("u", "big", {"i": i})
        await client.shutdown(timeout=5)
        return client.stats

    stats = asyncio.run(scenario())
    assert stats.dropped_total == 0
    assert sorted(e["properties"]["i"] for e in fake_server.events()) == list(range(10))
    assert len(fake_server.requests_to("/batch")) >= 3


def test_gzip_bodies_are_accepted(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    async def scenario() -> None:
        async with make_async(gzip=True) as client:
            client.capture("u", "zipped", {"x": "y" * 1000})

    asyncio.run(scenario())
    [request] = fake_server.requests_to("/batch")
    assert request.header("Content-Encoding") == "gzip"
    assert fake_server.events()[0]["event"] == "zipped"


def test_an_outage_holds_events_until_the_server_is_back(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.fail_for("/batch", 1.5, status=503)

    async def scenario() -> Any:
        client = make_async(max_retries=1, retry_buffer_age=1800)
        for i in range(20):
            client.capture("u", "held", {"i": i})
        assert await client.flush(timeout=15) == 0
        await client.shutdown()
        return client.stats

    stats = asyncio.run(scenario())
    assert stats.dropped_total == 0
    assert sorted(e["properties"]["i"] for e in fake_server.events()) == list(range(20))


def test_events_after_shutdown_are_dropped_as_after_shutdown(make_async: MakeAsync) -> None:
    async def scenario() -> tuple[Any, Any]:
        client = make_async()
        await client.shutdown()
        return client.capture("u", "late"), client.stats

    (ok, _), stats = asyncio.run(scenario())
    assert ok is False
    assert stats.dropped[DropReason.AFTER_SHUTDOWN] == 1


def test_shutdown_is_idempotent(make_async: MakeAsync) -> None:
    async def scenario() -> None:
        client = make_async()
        client.capture("u", "e")
        await client.shutdown()
        await client.shutdown()

    asyncio.run(scenario())


def test_bad_arguments_raise_at_the_call_site(make_async: MakeAsync) -> None:
    async def scenario() -> list[BaseException]:
        client = make_async()
        caught: list[BaseException] = []
        for call in (
            lambda: client.capture(None, "e"),
            lambda: client.capture("u", None),
            lambda: client.capture("u", "e", properties=[1, 2]),  # type: ignore[arg-type]
        ):
            try:
                call()
            except (TypeError, ValueError) as exc:
                caught.append(exc)
        try:
            await client.capture_immediate("u", 42)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            caught.append(exc)
        await client.shutdown()
        return caught

    caught = asyncio.run(scenario())
    assert len(caught) == 4
    assert all(isinstance(exc, AssertionError) for exc in caught)
    assert "distinct_id" in str(caught[0]) and "event" in str(caught[1]) and "properties" in str(caught[2])


def test_disabled_client_sends_nothing(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    async def scenario() -> Any:
        async with make_async(disabled=True) as client:
            first = client.capture("u", "e")
            second = await client.capture_immediate("u", "e")
            flag = await client.get_feature_flag("f", "u")
        return first, second, flag

    first, second, flag = asyncio.run(scenario())
    assert first == (False, "disabled") and second == (False, "disabled") and flag is None
    assert fake_server.requests == []


def test_async_client_is_importable_by_both_names() -> None:
    assert posthog.AsyncClient is posthog.AsyncPosthog
    from posthog import AsyncClient
    from posthog import AsyncPosthog as Imported

    assert AsyncClient is Imported

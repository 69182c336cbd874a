"""AsyncPosthog in capture v1 mode: the same wire and per-event results as the sync client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from posthog import DropReason
from posthog.capture_v1 import CaptureV1Error
from posthog.testing.fake_server import V1Answer
from tests.asyncio.conftest import MakeAsync
from tests.fake_server import FakePostHog
from tests.support.errors import ErrorLog

V1_PATH = "/i/v1/analytics/events"


@pytest.fixture(autouse=True)
def _no_violations(fake_server: FakePostHog) -> Iterator[None]:
    yield
    assert fake_server.v1_violations == []


def test_events_go_to_capture_v1_with_partial_retries(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    errors = ErrorLog()
    fake_server.script_v1(V1Answer(["ok", "retry", "drop"], retry_after=0.2))

    async def scenario() -> int:
        client = make_async(capture_mode="v1", on_error=errors, flush_at=3, flush_interval=5)
        for name in ("kept", "again", "refused"):
            client.capture("u", name)
        pending = await client.flush(timeout=10)
        await client.shutdown()
        return pending

    assert asyncio.run(scenario()) == 0
    first, second = fake_server.requests_to(V1_PATH)
    assert second.header("PostHog-Request-Id") == first.header("PostHog-Request-Id")
    assert second.header("PostHog-Attempt") == "2"
    assert second.json["batch"] == [first.json["batch"][1]]
    assert [e["event"] for e in fake_server.v1_events()] == ["kept", "again"]
    assert fake_server.requests_to("/batch") == []
    [(error, batch)] = errors.calls
    assert error.reason is DropReason.REJECTED and isinstance(error.__cause__, CaptureV1Error)
    assert [m["event"] for m in batch] == ["refused"]


def test_capture_immediate_follows_the_per_event_answer(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    errors = ErrorLog()
    fake_server.script_v1(V1Answer("retry"), V1Answer("ok"), V1Answer("drop"))

    async def scenario() -> tuple[bool, bool]:
        client = make_async(capture_mode="v1", on_error=errors)
        delivered, _ = await client.capture_immediate("u", "eventually", timeout=10)
        refused, _ = await client.capture_immediate("u", "refused", timeout=10)
        await client.shutdown()
        return delivered, refused

    delivered, refused = asyncio.run(scenario())
    assert (delivered, refused) == (True, False)
    assert [r.header("PostHog-Attempt") for r in fake_server.requests_to(V1_PATH)] == ["1", "2", "1"]
    assert [e["event"] for e in fake_server.v1_events()] == ["eventually"]
    assert [m["event"] for _, batch in errors.calls for m in batch] == ["refused"]


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_a_large_batch_is_compressed_and_delivered(
    fake_server: FakePostHog, make_async: MakeAsync, compression: str
) -> None:
    async def scenario() -> Any:
        client = make_async(capture_mode="v1", capture_compression=compression, flush_at=200)
        for i in range(200):
            client.capture("u", "bulky", {"i": i, "text": "y" * 2000})  # about 400 KB in all
        assert await client.flush(timeout=10) == 0
        await client.shutdown()
        return client.stats

    stats = asyncio.run(scenario())
    assert stats.sent == 200
    assert {r.header("Content-Encoding") for r in fake_server.requests_to(V1_PATH)} == {compression}
    assert sorted(e["properties"]["i"] for e in fake_server.v1_events()) == list(range(200))

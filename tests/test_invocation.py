"""Per-invocation delivery: posthog.scope_flush / posthog.flush_after flush within their deadline."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import posthog
from posthog import DropReason
from tests.fake_server import FakePostHog, SilentServer

REPO_ROOT = Path(__file__).resolve().parents[1]
MARGIN = 1.0  # seconds allowed beyond a deadline on a loaded CI machine


def _threads_of_this_process() -> list[str]:
    """Live thread names, leaving out the fake server's per-connection threads."""
    return sorted(
        t.name
        for t in threading.enumerate()
        if not t.name.startswith("fake-posthog") and "process_request_thread" not in t.name
    )


@pytest.fixture
def facade(fake_server: FakePostHog) -> FakePostHog:
    """The module API configured for the fake server (the default client is created on first use)."""
    posthog.api_key = "phc_invocation"
    posthog.host = fake_server.url
    return fake_server


def test_scope_flush_delivers_before_the_block_ends(facade: FakePostHog) -> None:
    started = time.monotonic()
    with posthog.scope_flush(timeout=2) as scope:
        posthog.capture("user-1", "task done")

    assert [e["event"] for e in facade.events()] == ["task done"]  # already there: no waiting
    assert scope.pending == 0
    assert time.monotonic() - started < 2


def test_flush_after_delivers_after_each_call(facade: FakePostHog) -> None:
    @posthog.flush_after(timeout=2)
    def handler(event: dict[str, Any], context: object) -> str:
        posthog.capture(event["user"], "invoked")
        return "ok"

    assert handler({"user": "user-1"}, None) == "ok"
    assert len(facade.events()) == 1


def test_flush_after_works_on_async_functions(facade: FakePostHog) -> None:
    @posthog.flush_after(timeout=2)
    async def handler(user: str) -> str:
        posthog.capture(user, "invoked async")
        await asyncio.sleep(0)
        return "ok"

    assert inspect.iscoroutinefunction(handler)
    assert asyncio.run(handler("user-1")) == "ok"
    assert [e["event"] for e in facade.events()] == ["invoked async"]


def test_async_with_scope_flush(facade: FakePostHog) -> None:
    async def task() -> None:
        async with posthog.scope_flush(timeout=2):
            posthog.capture("user-1", "async block")

    asyncio.run(task())

    assert len(facade.events()) == 1


def test_events_are_flushed_when_the_handler_raises(facade: FakePostHog) -> None:
    @posthog.flush_after(timeout=2)
    def handler() -> None:
        posthog.capture("user-1", "before the error")
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        handler()

    assert len(facade.events()) == 1


def test_decorator_keeps_the_function_identity() -> None:
    @posthog.flush_after()
    def handler(event: object, context: object) -> None:
        """Docs."""

    assert handler.__name__ == "handler"
    assert handler.__doc__ == "Docs."


def test_no_default_client_is_created_just_to_flush() -> None:
    with posthog.scope_flush(timeout=1) as scope:
        pass

    assert posthog.default_client is None
    assert scope.pending == 0


def test_an_explicit_client_is_flushed(fake_server: FakePostHog) -> None:
    client = posthog.Client("phc_x", host=fake_server.url, flush_interval=10)
    try:
        with posthog.scope_flush(timeout=2, client=client):
            client.capture("user-1", "explicit")

        assert len(fake_server.events()) == 1
    finally:
        client.shutdown(2)


def test_warm_invocations_reuse_the_client_and_leak_no_thread(facade: FakePostHog) -> None:
    @posthog.flush_after(timeout=2)
    def handler(n: int) -> None:
        posthog.capture(f"user-{n}", "invoked")

    handler(0)
    client = posthog.default_client
    threads = _threads_of_this_process()

    for n in range(1, 50):
        handler(n)
        assert _threads_of_this_process() == threads

    assert posthog.default_client is client
    assert len(facade.events()) == 50


@pytest.mark.serial
def test_a_silent_server_cannot_hold_the_invocation(
    silent_server: SilentServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="posthog")
    reported: list[tuple[Exception, Sequence[Any]]] = []
    client = posthog.Client(
        "phc_x", host=silent_server.url, flush_interval=0.01, on_error=lambda e, b: reported.append((e, b))
    )
    client.capture("user-1", "never answered")

    started = time.monotonic()
    with posthog.scope_flush(timeout=0.5, client=client) as scope:
        client.capture("user-1", "never answered either")
    elapsed = time.monotonic() - started

    assert elapsed < 0.5 + MARGIN
    assert scope.pending == 2
    assert "scope_flush: 2 event(s) still pending" in caplog.text
    # Still queued, not lost: the drop is reported when the client finally gives up.
    client.shutdown(timeout=0.2)
    assert [getattr(error, "reason", None) for error, _ in reported] == [DropReason.EXIT_DEADLINE]
    assert sum(len(batch) for _, batch in reported) == 2


def test_a_failing_flush_never_replaces_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(posthog.Client):
        def flush(self, timeout: float | None = None) -> int:
            raise RuntimeError("flush broke")

    client = Broken("phc_x", send=False)

    with posthog.scope_flush(client=client):
        result = "done"

    assert result == "done"
    assert "flush at the end of the scope failed" in caplog.text


@pytest.mark.parametrize("timeout", [-1, "2", None], ids=["negative", "str", "none"])
def test_invalid_timeout_raises_at_the_call_site(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout"):
        posthog.scope_flush(timeout=timeout)


@pytest.mark.parametrize("example", ["aws_lambda.py", "celery_task.py"])
def test_examples_deliver_every_invocation(example: str, fake_server: FakePostHog) -> None:
    env = {**os.environ, "POSTHOG_HOST": fake_server.url, "POSTHOG_API_KEY": "phc_example"}
    env.pop("POSTHOG_DISABLED", None)

    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / example)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert len(fake_server.events()) == 3

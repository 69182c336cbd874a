"""AsyncPosthog across loops, garbage collection, interpreter exit and fork; and without httpx."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from posthog import AsyncPosthog
from posthog._http.async_transport import _bounded
from posthog._http.protocol import USER_AGENT
from tests.asyncio.conftest import API_KEY, MakeAsync
from tests.fake_server import FakePostHog

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_client_outlives_its_first_loop(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    client = make_async()

    async def first() -> None:
        client.capture("u", "first loop")
        assert await client.flush(timeout=5) == 0

    async def second() -> None:
        client.capture("u", "second loop")
        assert await client.flush(timeout=5) == 0
        await client.shutdown()

    asyncio.run(first())
    asyncio.run(second())  # the first loop is closed: the client moves to this one
    assert [e["event"] for e in fake_server.events()] == ["first loop", "second loop"]


def test_events_captured_outside_any_loop_are_sent_once_a_loop_uses_the_client(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    client = make_async()
    client.capture("u", "before the loop")

    async def later() -> None:
        await client.shutdown(timeout=5)

    asyncio.run(later())
    assert [e["event"] for e in fake_server.events()] == ["before the loop"]


@pytest.mark.parametrize("outcome", ["result", "error"])
def test_a_request_ending_as_its_task_is_cancelled_still_raises_the_cancellation(outcome: str) -> None:
    # asyncio.wait_for swallowed such a cancellation before Python 3.12: the sender task then
    # went on and asyncio.run never returned (seen on 3.9 with two loops sharing a client).
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int] = loop.create_future()
        request = asyncio.ensure_future(_bounded(answer, 5))
        await asyncio.sleep(0)  # the request is now waiting for its answer
        if outcome == "result":
            answer.set_result(200)
        else:
            answer.set_exception(OSError("reset"))
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_request_past_its_timeout_raises_timeout_error() -> None:
    async def scenario() -> float:
        never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await _bounded(never, 0.05)
        return time.monotonic() - started

    assert 0.04 < asyncio.run(scenario()) < 2


def test_two_loops_in_two_threads_share_a_client_without_hanging(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.set_remote_flags({"beta": True})
    client = make_async()
    results: dict[str, Any] = {}

    def worker(name: str) -> None:
        async def run() -> None:
            for i in range(20):
                client.capture("u", f"from {name}", {"i": i})
                results.setdefault(name, []).append(await client.get_feature_flag("beta", f"{name}-{i}"))
            results[f"{name}-pending"] = await client.flush(timeout=5)

        asyncio.run(run())

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert not any(thread.is_alive() for thread in threads)
    assert results["a"] == [True] * 20 and results["b"] == [True] * 20
    assert results["a-pending"] == 0 and results["b-pending"] == 0

    async def close() -> None:
        await client.shutdown()

    asyncio.run(close())
    # A loop that ends while its task has a batch in flight cannot know whether the server got
    # it: the batch is sent again by the other loop (at least once, with the same uuids).
    events = fake_server.events()
    by_uuid = {e["uuid"]: e for e in events}
    names = [e["event"] for e in by_uuid.values()]
    assert names.count("from a") == 20 and names.count("from b") == 20
    assert len(events) - len(by_uuid) <= 20


def test_a_client_never_shut_down_warns_once_when_collected(
    make_async: MakeAsync, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        client = make_async()
        client.capture("u", "e")
        await client.flush(timeout=5)

    with caplog.at_level(logging.WARNING, logger="posthog"):
        asyncio.run(scenario())
        gc.collect()
    warnings = [r for r in caplog.records if "without `await client.shutdown()`" in r.getMessage()]
    assert len(warnings) == 1


def test_a_shut_down_client_does_not_warn_when_collected(
    make_async: MakeAsync, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with make_async() as client:
            client.capture("u", "e")

    with caplog.at_level(logging.WARNING, logger="posthog"):
        asyncio.run(scenario())
        gc.collect()
    assert not [r for r in caplog.records if "shutdown" in r.getMessage()]


def test_events_pending_at_interpreter_exit_are_delivered_with_a_warning(fake_server: FakePostHog) -> None:
    result = _run_script(
        f"""
        import asyncio, logging
        logging.basicConfig(level=logging.WARNING)
        from posthog import AsyncPosthog

        client = AsyncPosthog({API_KEY!r}, host={fake_server.url!r}, flush_interval=30)

        async def main():
            for i in range(3):
                client.capture("u", "pending at exit", {{"i": i}})

        asyncio.run(main())
        """
    )
    assert result.returncode == 0, result.stderr
    assert sorted(e["properties"]["i"] for e in fake_server.events()) == [0, 1, 2]
    assert result.stderr.count("was not shut down") == 1


def test_a_forked_child_gets_a_fresh_client(fake_server: FakePostHog) -> None:
    result = _run_script(
        f"""
        import asyncio, os
        from posthog import AsyncPosthog

        client = AsyncPosthog({API_KEY!r}, host={fake_server.url!r}, flush_interval=0.05)

        async def parent():
            client.capture("parent", "before fork")
            assert await client.flush(timeout=5) == 0
            client.capture("parent", "queued at fork")

        asyncio.run(parent())
        pid = os.fork()
        if pid == 0:
            async def child():
                assert client.stats.pending == 0  # the parent's queue stayed with the parent
                client.capture("child", "in child")
                await client.shutdown(timeout=5)
            asyncio.run(child())
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status

        async def finish():
            await client.shutdown(timeout=5)

        asyncio.run(finish())
        """
    )
    assert result.returncode == 0, result.stderr
    names = sorted(e["event"] for e in fake_server.events())
    assert names == ["before fork", "in child", "queued at fork"]


def test_without_aiohttp_or_httpx_the_error_names_the_extra() -> None:
    result = _run_script(
        """
        import sys
        sys.modules["aiohttp"] = sys.modules["httpx"] = None  # as if not installed
        import posthog
        try:
            posthog.AsyncPosthog("phc_x")
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("no error")
        posthog.Posthog("phc_x", send=False).capture("u", "sync still works")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "posthog[async]" in result.stdout


def test_the_client_starts_no_thread(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.set_flag_definitions({"flags": [], "group_type_mapping": {}, "cohorts": {}})
    before = {t.name for t in threading.enumerate()}

    async def scenario() -> set[str]:
        async with make_async(personal_api_key="phx_k") as client:
            client.capture("u", "e")
            await client.wait_for_flags(5)
            await client.flush()
            started = {t.name for t in threading.enumerate()} - before
            # Ours would be named posthog.* (or asyncio_N for the loop's executor); the fake
            # server answers each connection on a thread of its own.
            return {name for name in started if name.startswith(("posthog", "asyncio"))}

    assert asyncio.run(scenario()) == set()


def test_async_client_accepts_the_sync_clients_keywords(fake_server: FakePostHog) -> None:
    async def scenario() -> None:
        client = AsyncPosthog(
            api_key=API_KEY,
            host=fake_server.url,
            thread=4,
            sync_mode=True,
            gzip=True,
            max_retries=1,
            timeout=2,
            flush_at=5,
            super_properties={"app": "x"},
            disable_geoip=False,
            historical_migration=True,
        )
        client.capture("u", "e")
        await client.shutdown()

    asyncio.run(scenario())
    [batch] = fake_server.batches()
    assert batch["historical_migration"] is True
    assert batch["batch"][0]["properties"]["app"] == "x"


@pytest.mark.parametrize("library", ["aiohttp", "httpx"])
def test_either_http_library_sends_events_and_asks_for_flags(fake_server: FakePostHog, library: str) -> None:
    """aiohttp when installed (the 'async' extra), else httpx: the same wire, the same answers."""
    fake_server.set_remote_flags({"beta": "variant-b"})
    blocked = "httpx" if library == "aiohttp" else "aiohttp"
    result = _run_script(
        f"""
        import asyncio, sys
        sys.modules[{blocked!r}] = None  # as if not installed
        from posthog import AsyncPosthog
        from posthog._http.async_http import backend

        async def main():
            client = AsyncPosthog({API_KEY!r}, host={fake_server.url!r})
            print(backend(), await client.get_feature_flag("beta", "ada"))
            client.capture("ada", "checkout viewed")
            await client.shutdown(timeout=5)
            print(sorted(name for name in ("aiohttp", "httpx") if sys.modules.get(name)))

        asyncio.run(main())
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [f"{library} variant-b", f"['{library}']"]
    assert result.stderr == ""  # nothing logged: no unclosed session, no warning
    assert [e["event"] for e in fake_server.events()] == ["$feature_flag_called", "checkout viewed"]
    assert {r.headers["User-Agent"] for r in fake_server.requests} == {USER_AGENT}

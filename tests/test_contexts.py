"""Request contexts (spec: contexts.md §1) and ``before_send`` (§4), on the 3.x event calls.

Most tests read what a ``RecordingClient`` would send; isolation runs real threads and tasks.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import posthog
from posthog import DropReason, InvalidTypeError
from posthog.contexts import carry
from posthog.testing import RecordingClient
from tests.fake_server import FakePostHog
from tests.support.errors import ErrorLog


@pytest.fixture
def recorder() -> Iterator[RecordingClient]:
    client = RecordingClient()
    yield client
    client.shutdown()


def _only(recorder: RecordingClient) -> dict[str, Any]:
    [event] = recorder.events
    return event


# --- what a context adds --------------------------------------------------------------------------


def test_inside_a_context_the_distinct_id_may_be_left_out(recorder: RecordingClient) -> None:
    with posthog.new_context():
        posthog.identify_context("user-1")
        posthog.set_context_session("session-1")
        posthog.tag("plan", "pro")
        recorder.capture(event="signed up")
        recorder.capture(None, "clicked", {"plan": "free"})  # the call's properties win

    signed_up, clicked = recorder.events
    assert (signed_up["distinct_id"], clicked["distinct_id"]) == ("user-1", "user-1")
    assert signed_up["properties"]["$session_id"] == "session-1"
    assert signed_up["properties"]["plan"] == "pro" and clicked["properties"]["plan"] == "free"
    assert signed_up["properties"]["$context_tags"] == ["plan"]
    assert "$process_person_profile" not in signed_up["properties"]


def test_an_explicit_distinct_id_wins_and_does_not_take_the_contexts_session(
    recorder: RecordingClient,
) -> None:
    with posthog.new_context():
        posthog.identify_context("user-1")
        posthog.set_context_session("session-1")
        posthog.tag("route", "/checkout")
        recorder.capture("someone-else", "audited")

    event = _only(recorder)
    assert event["distinct_id"] == "someone-else"
    assert event["properties"]["route"] == "/checkout"
    assert "$session_id" not in event["properties"]


def test_a_context_without_a_person_gives_personless_events(recorder: RecordingClient) -> None:
    with posthog.new_context():
        posthog.set_context_session("anonymous-session")
        recorder.capture(event="browsed")
        recorder.capture(event="browsed again")

    first, second = recorder.events
    assert first["distinct_id"] != second["distinct_id"]
    assert all(e["properties"]["$process_person_profile"] is False for e in recorder.events)
    assert all(e["properties"]["$session_id"] == "anonymous-session" for e in recorder.events)


def test_outside_a_context_a_missing_id_is_refused_as_in_3x(recorder: RecordingClient) -> None:
    with pytest.raises(InvalidTypeError, match="distinct_id") as info:
        recorder.capture(event="lost")
    assert isinstance(info.value, AssertionError)
    with pytest.raises(InvalidTypeError):
        recorder.capture(None, "lost")
    with pytest.raises(InvalidTypeError):
        recorder.set(properties={"plan": "pro"})
    posthog.identify_context("ignored")  # outside any context: does nothing
    posthog.tag("ignored", 1)
    assert posthog.get_tags() == {} and recorder.events == []


def test_the_other_event_calls_use_the_contexts_id(recorder: RecordingClient) -> None:
    with posthog.new_context():
        posthog.identify_context("user-1")
        recorder.set(properties={"plan": "pro"})
        recorder.set_once(properties={"first": "2024"})
        recorder.identify(properties={"email": "a@b.c"})
        recorder.page(url="https://example.com/")
        recorder.screen(screen_name="Home")
        recorder.group_identify("company", "acme", {"name": "Acme"})
        try:
            raise ValueError("boom")
        except ValueError as exc:
            recorder.capture_exception(exc)

    ids = {e["event"]: e["distinct_id"] for e in recorder.events}
    assert ids == {
        "$set": "user-1",
        "$set_once": "user-1",
        "$identify": "user-1",
        "$pageview": "user-1",
        "$screen": "user-1",
        "$groupidentify": "$company_acme",
        "$exception": "user-1",
    }


def test_fresh_contexts_start_empty_and_nested_ones_inherit(recorder: RecordingClient) -> None:
    with posthog.new_context():
        posthog.identify_context("outer")
        posthog.tag("a", 1)
        with posthog.new_context():
            posthog.tag("b", 2)
            assert posthog.get_tags() == {"a": 1, "b": 2}
            recorder.capture(event="inner")
        with posthog.new_context(fresh=True):
            assert posthog.get_tags() == {}
            recorder.capture(event="fresh")
        assert posthog.get_tags() == {"a": 1}  # the child's tag stayed in the child
        recorder.capture(event="outer")

    inner, fresh, outer = recorder.events
    assert inner["distinct_id"] == "outer" and inner["properties"]["$context_tags"] == ["a", "b"]
    assert fresh["properties"]["$process_person_profile"] is False
    assert outer["distinct_id"] == "outer" and "b" not in outer["properties"]


def test_scoped_runs_sync_and_async_functions_in_a_new_context(recorder: RecordingClient) -> None:
    @posthog.scoped()
    def handle(user: str) -> str:
        posthog.identify_context(user)
        recorder.capture(event="sync")
        return user

    @posthog.scoped(fresh=True)
    async def ahandle(user: str) -> str:
        posthog.identify_context(user)
        recorder.capture(event="async")
        return user

    assert handle("u-1") == "u-1" and asyncio.run(ahandle("u-2")) == "u-2"
    assert (handle.__name__, ahandle.__name__) == ("handle", "ahandle")
    assert [e["distinct_id"] for e in recorder.events] == ["u-1", "u-2"]
    assert posthog.get_tags() == {}


def test_client_methods_bind_the_client(recorder: RecordingClient) -> None:
    with recorder.new_context():
        recorder.identify_context("user-9")
        recorder.tag("via", "client")
        assert recorder.get_tags() == {"via": "client"}
        recorder.capture(event="bound")
    assert _only(recorder)["distinct_id"] == "user-9"


# --- exceptions -----------------------------------------------------------------------------------


def test_an_exception_leaving_a_context_is_captured_once_with_its_ids(recorder: RecordingClient) -> None:
    with (
        pytest.raises(KeyError, match="missing"),
        posthog.new_context(capture_exceptions=True, client=recorder),
    ):
        posthog.identify_context("user-1")
        posthog.tag("route", "/pay")
        with posthog.new_context(capture_exceptions=True, client=recorder):
            raise KeyError("missing")

    event = _only(recorder)
    assert event["event"] == "$exception" and event["distinct_id"] == "user-1"
    assert event["properties"]["route"] == "/pay"


def test_capture_exceptions_follows_the_clients_autocapture_setting() -> None:
    quiet = RecordingClient()
    eager = RecordingClient(enable_exception_autocapture=True)
    for client in (quiet, eager):
        with pytest.raises(RuntimeError), client.new_context():
            raise RuntimeError("x")
        with pytest.raises(RuntimeError), client.new_context(capture_exceptions=False):
            raise RuntimeError("y")
    assert quiet.events == []
    assert [e["event"] for e in eager.events] == ["$exception"]
    quiet.shutdown()
    eager.shutdown()


# --- isolation ------------------------------------------------------------------------------------


def test_reused_threads_never_leak_a_context(recorder: RecordingClient) -> None:
    def request(n: int) -> None:
        with posthog.new_context(fresh=True):
            if n % 3:  # some requests carry no identity at all
                posthog.identify_context(f"user-{n}")
                posthog.set_context_session(f"session-{n}")
            posthog.tag("request", n)
            recorder.capture(event="handled")

    with ThreadPoolExecutor(max_workers=4) as pool:  # 4 threads serve 200 requests
        list(pool.map(request, range(200)))

    assert len(recorder.events) == 200
    for event in recorder.events:
        n = event["properties"]["request"]
        if n % 3:
            assert (event["distinct_id"], event["properties"]["$session_id"]) == (f"user-{n}", f"session-{n}")
        else:
            assert event["properties"]["$process_person_profile"] is False
            assert "$session_id" not in event["properties"] and not event["distinct_id"].startswith("user-")


def test_asyncio_tasks_each_have_their_own_context(recorder: RecordingClient) -> None:
    async def request(n: int) -> None:
        with posthog.new_context(fresh=True):
            posthog.identify_context(f"user-{n}")
            await asyncio.sleep(0.001 * (n % 5))  # interleave the tasks
            recorder.capture(event="handled", properties={"n": n})

    async def main() -> None:
        await asyncio.gather(*(request(n) for n in range(200)))

    asyncio.run(main())
    assert all(e["distinct_id"] == f"user-{e['properties']['n']}" for e in recorder.events)
    assert len(recorder.events) == 200


def test_a_new_thread_does_not_inherit_the_context_unless_carried(recorder: RecordingClient) -> None:
    seen: dict[str, Any] = {}

    def look(name: str) -> None:
        seen[name] = posthog.get_tags()

    with posthog.new_context():
        posthog.tag("request", 1)
        plain = threading.Thread(target=look, args=("plain",))
        carried = threading.Thread(target=carry(look), args=("carried",))
        for thread in (plain, carried):
            thread.start()
            thread.join(5)

    assert seen == {"plain": {}, "carried": {"request": 1}}


# --- before_send ----------------------------------------------------------------------------------


def test_before_send_can_change_and_drop_events_and_its_drops_are_counted(fake_server: FakePostHog) -> None:
    errors = ErrorLog()

    def scrub(event: dict[str, Any]) -> Any:
        if event["event"] == "noise":
            return None
        event["properties"].pop("email", None)
        event["properties"]["scrubbed"] = True
        return event

    client = posthog.Client("phc_hook", host=fake_server.url, before_send=scrub, on_error=errors)
    kept = client.capture("u", "signed up", {"email": "a@b.c", "plan": "pro"})
    dropped = client.capture("u", "noise")
    client.identify("u", {"email": "a@b.c"})
    assert client.flush(timeout=5) == 0
    client.shutdown()

    assert kept[0] is True and dropped[0] is False
    events = {e["event"]: e for e in fake_server.events()}
    assert set(events) == {"signed up", "$identify"}
    assert events["signed up"]["properties"]["scrubbed"] is True
    assert "email" not in events["signed up"]["properties"]
    assert client.stats.dropped == {"before_send": 1}
    assert errors.events(DropReason.BEFORE_SEND) == ["noise"]


def test_a_failing_before_send_drops_the_event_and_logs_once(
    recorder: RecordingClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: dict[str, Any]) -> Any:
        raise RuntimeError("scrubber bug")

    recorder.before_send = broken
    with caplog.at_level(logging.WARNING, logger="posthog"):
        results = [recorder.capture("u", f"e{i}", {"secret": "s"}) for i in range(3)]
    recorder.before_send = lambda event: "not a dict"
    recorder.capture("u", "odd")

    assert [ok for ok, _ in results] == [False, False, False]
    assert recorder.events == []  # nothing leaked
    assert recorder.stats.dropped == {"before_send_error": 4}
    assert len([r for r in caplog.records if "before_send_error" in r.getMessage()]) == 1


def test_the_module_setting_and_the_async_client_apply_before_send(fake_server: FakePostHog) -> None:
    posthog.api_key = "phc_module"
    posthog.host = fake_server.url
    posthog.before_send = lambda event: {**event, "properties": {**event["properties"], "via": "module"}}
    posthog.capture("u", "facade")
    posthog.flush()

    async def scenario() -> None:
        client = posthog.AsyncPosthog("phc_async", host=fake_server.url, before_send=lambda event: None)
        assert client.capture("u", "async")[0] is False
        await client.shutdown()
        assert client.stats.dropped == {"before_send": 1}

    asyncio.run(scenario())
    assert [(e["event"], e["properties"]["via"]) for e in fake_server.events()] == [("facade", "module")]


# --- flags ----------------------------------------------------------------------------------------


def test_flag_calls_use_the_contexts_id_and_send_its_device(fake_server: FakePostHog) -> None:
    fake_server.set_remote_flags({"beta": True})
    client = posthog.Client("phc_flags", host=fake_server.url)
    with client.new_context():
        client.identify_context("user-1")
        posthog.set_context_device_id("device-7")
        assert client.get_feature_flag("beta") is True
        assert client.feature_enabled("beta") is True
    client.shutdown()

    bodies = [r.json for r in fake_server.requests_to("/flags")]
    assert [b["distinct_id"] for b in bodies] == ["user-1", "user-1"]
    assert all(b["device_id"] == "device-7" for b in bodies)
    with pytest.raises(InvalidTypeError, match="distinct_id must be"):
        client.get_feature_flag("beta")  # outside a context: 3.x's rule
    with client.new_context(), pytest.raises(InvalidTypeError, match="identify_context"):
        client.get_feature_flag("beta")  # a context with nobody in it: the message says what to do


def test_async_flag_calls_use_the_contexts_id(fake_server: FakePostHog) -> None:
    fake_server.set_remote_flags({"beta": "variant-a"})

    async def scenario() -> Any:
        client = posthog.AsyncPosthog("phc_async", host=fake_server.url)
        with client.new_context():
            client.identify_context("user-2")
            value = await client.get_feature_flag("beta")
            client.capture(event="async in context")
        await client.shutdown()
        return value

    assert asyncio.run(scenario()) == "variant-a"
    assert [r.json["distinct_id"] for r in fake_server.requests_to("/flags")] == ["user-2"]
    assert [e["distinct_id"] for e in fake_server.events() if e["event"] == "async in context"] == ["user-2"]

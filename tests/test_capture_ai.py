"""``capture_ai``: LLM events to PostHog's AI endpoint through a pipeline of their own (capture-v1.md §10)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import posthog
from posthog import DropReason
from posthog.testing import RecordingClient
from tests.fake_server import FakePostHog
from tests.support.errors import ErrorLog
from tests.support.scripts import run_script

ClientFactory = Callable[..., posthog.Client]
AI_PATH = "/i/v0/ai/batch"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _no_violations(fake_server: FakePostHog) -> Iterator[None]:
    yield
    assert fake_server.ai_violations == []


def test_ai_events_go_to_the_ai_endpoint_in_the_v0_shape(
    fake_server: FakePostHog, make_client: ClientFactory
) -> None:
    client = make_client()
    ok, msg = client.capture_ai("u-1", "$ai_generation", {"$ai_model": "gpt-x"}, groups={"company": "acme"})
    assert client.flush(timeout=5) == 0

    assert ok is True and isinstance(msg, dict)
    [request] = fake_server.requests_to(AI_PATH)
    assert request.path.endswith("/")
    assert request.header("Authorization") is None
    assert not [name for name in request.headers if name.lower().startswith("posthog-")]
    body = request.json
    assert list(body) == ["batch", "historical_migration", "sent_at", "api_key"]
    assert (body["historical_migration"], body["api_key"]) == (False, "phc_test_key")
    [event] = body["batch"]
    assert event["uuid"] == msg["uuid"]
    assert (event["event"], event["distinct_id"]) == ("$ai_generation", "u-1")
    props = event["properties"]
    assert props["$ai_model"] == "gpt-x" and props["$lib"] == "posthog-python"
    assert props["$groups"] == {"company": "acme"} and props["$geoip_disable"] is True
    assert fake_server.requests_to("/batch") == []


def test_capture_never_reroutes_ai_events_and_the_two_never_share_a_request(
    fake_server: FakePostHog, make_client: ClientFactory
) -> None:
    client = make_client()
    client.capture("u", "$ai_generation", {"via": "capture"})
    client.capture_ai("u", "$ai_generation", {"via": "capture_ai"})
    client.capture("u", "pageview")
    assert client.flush(timeout=5) == 0

    batch_events = [
        e["properties"]["via"]
        for r in fake_server.requests_to("/batch")
        for e in r.json["batch"]
        if "via" in e["properties"]
    ]
    ai_events = [e["properties"]["via"] for r in fake_server.requests_to(AI_PATH) for e in r.json["batch"]]
    assert (batch_events, ai_events) == (["capture"], ["capture_ai"])
    assert client.stats.sent == 3 and client.stats.pending == 0


def test_the_ai_endpoint_takes_events_up_to_8_mib(
    fake_server: FakePostHog, make_client: ClientFactory
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    big = {"$ai_input": "x" * MIB}

    assert client.capture_ai("u", "$ai_generation", big)[0] is True
    assert client.capture("u", "$ai_generation", big)[0] is False
    assert client.capture_ai("u", "$ai_generation", {"$ai_input": "x" * (9 * MIB)})[0] is False
    assert client.flush(timeout=10) == 0

    assert len(fake_server.ai_events()) == 1
    assert errors.events(DropReason.TOO_LARGE) == ["$ai_generation", "$ai_generation"]


def test_other_names_still_go_to_the_ai_endpoint(
    fake_server: FakePostHog, make_client: ClientFactory
) -> None:
    client = make_client()
    client.capture_ai("u", "custom llm event")
    assert client.flush(timeout=5) == 0
    assert [e["event"] for e in fake_server.ai_events()] == ["custom llm event"]


def test_in_v1_mode_ai_events_stay_v0_and_compress_only_with_gzip(
    fake_server: FakePostHog, make_client: ClientFactory
) -> None:
    plain = make_client(capture_mode="v1", capture_compression="deflate")
    gzipped = make_client(capture_mode="v1", gzip=True)
    plain.capture_ai("u", "$ai_generation")
    gzipped.capture_ai("u", "$ai_generation")
    assert plain.flush(timeout=5) == 0 and gzipped.flush(timeout=5) == 0

    encodings = sorted(str(r.header("Content-Encoding")) for r in fake_server.requests_to(AI_PATH))
    assert encodings == ["None", "gzip"]
    assert all("sent_at" in r.json for r in fake_server.requests_to(AI_PATH))


def test_failures_are_retried_and_final_ones_reported(
    fake_server: FakePostHog, make_client: ClientFactory
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)
    fake_server.fail_next(AI_PATH, status=503)
    client.capture_ai("u", "$ai_generation", {"n": 1})
    assert client.flush(timeout=10) == 0
    fake_server.fail_next(AI_PATH, status=400)
    client.capture_ai("u", "$ai_generation", {"n": 2})
    errors.wait(1, timeout=5)

    assert [r.status for r in fake_server.requests_to(AI_PATH)] == [503, 200, 400]
    assert [e["properties"]["n"] for e in fake_server.ai_events()] == [1]
    assert errors.events(DropReason.REJECTED) == ["$ai_generation"]


def test_an_explicit_max_retries_holds_for_ai_events_too(
    fake_server: FakePostHog, make_client: ClientFactory
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors, max_retries=1)
    fake_server.fail_for(AI_PATH, seconds=30, status=503)

    client.capture_ai("u", "$ai_generation")
    errors.wait(1, timeout=10)

    assert [r.status for r in fake_server.requests_to(AI_PATH)] == [503, 503]
    assert errors.events(DropReason.RETRIES_EXHAUSTED) == ["$ai_generation"]


def test_an_outage_delivers_every_ai_event_once(fake_server: FakePostHog, make_client: ClientFactory) -> None:
    client = make_client()
    fake_server.fail_for(AI_PATH, seconds=2, status=503)
    for i in range(20):
        client.capture_ai("u", "$ai_generation", {"i": i})
    assert client.flush(timeout=30) == 0
    assert sorted(e["properties"]["i"] for e in fake_server.ai_events()) == list(range(20))


def test_sync_mode_posts_at_once(fake_server: FakePostHog, make_client: ClientFactory) -> None:
    client = make_client(sync_mode=True)
    client.capture_ai("u", "$ai_generation")
    assert len(fake_server.ai_events()) == 1  # before any flush


def test_send_false_and_disabled_send_nothing(fake_server: FakePostHog, make_client: ClientFactory) -> None:
    quiet = make_client(send=False)
    off = make_client(disabled=True)
    assert quiet.capture_ai("u", "$ai_generation")[0] is True
    assert off.capture_ai("u", "$ai_generation") == (False, "disabled")
    quiet.flush(timeout=2)
    assert fake_server.requests_to(AI_PATH) == []


def test_the_facade_and_recording_client_have_it(fake_server: FakePostHog) -> None:
    posthog.api_key = "phc_module"
    posthog.host = fake_server.url
    ok, _ = posthog.capture_ai("u", "$ai_generation", {"via": "facade"})
    posthog.flush()
    assert ok is True
    assert [e["properties"]["via"] for e in fake_server.ai_events()] == ["facade"]

    recorder = RecordingClient()
    recorder.capture_ai("u", "$ai_trace")
    assert [e["event"] for e in recorder.events] == ["$ai_trace"]


def test_async_client_capture_ai(fake_server: FakePostHog) -> None:
    async def scenario() -> int:
        client = posthog.AsyncPosthog("phc_async", host=fake_server.url, flush_interval=0.05)
        client.capture_ai("u", "$ai_generation", {"via": "async"})
        client.capture("u", "plain")
        pending = await client.flush(timeout=5)
        await client.shutdown()
        return pending

    assert asyncio.run(scenario()) == 0
    assert [e["properties"]["via"] for e in fake_server.ai_events()] == ["async"]
    assert [e["event"] for r in fake_server.requests_to("/batch") for e in r.json["batch"]] == ["plain"]


_EXIT_SCRIPT = r"""
import sys
import posthog

client = posthog.Client("phc_exit", host=sys.argv[1])
for i in range(200):
    client.capture_ai("someone", "$ai_generation", {"i": i})
# no flush(), no shutdown()
"""

_FORK_SCRIPT = r"""
import os, sys
import posthog

client = posthog.Client("phc_fork", host=sys.argv[1])
client.capture_ai("parent", "$ai_generation", {"who": "parent before"})
client.flush()
pid = os.fork()
if pid == 0:
    client.capture_ai("child", "$ai_generation", {"who": "child"})
    client.shutdown()
    os._exit(0)
os.waitpid(pid, 0)
client.capture_ai("parent", "$ai_generation", {"who": "parent after"})
client.shutdown()
"""


def test_ai_events_captured_before_exit_are_delivered(fake_server: FakePostHog) -> None:
    run_script(_EXIT_SCRIPT, fake_server.url)
    assert sorted(e["properties"]["i"] for e in fake_server.ai_events()) == list(range(200))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_delivers_its_own_ai_events(fake_server: FakePostHog) -> None:
    run_script(_FORK_SCRIPT, fake_server.url)
    who: list[Any] = sorted(e["properties"]["who"] for e in fake_server.ai_events())
    assert who == ["child", "parent after", "parent before"]

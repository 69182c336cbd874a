"""AsyncPosthog flags: local answers equal the sync client's, the loop never blocks on the server."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from typing import Any

import pytest

import posthog
from posthog import AsyncPosthog
from tests.asyncio.conftest import API_KEY, PERSONAL_KEY, MakeAsync, strip_volatile
from tests.fake_server import FakePostHog
from tests.feature_flags import test_flag_parity as tables
from tests.support.builders import FlagBuilder, definitions

BETA = FlagBuilder("beta").condition([], rollout=100).payload("true", '{"a": 1}').build()
DEFINITIONS = definitions([BETA], {}, {})


async def _async_answers(url: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    async with AsyncPosthog(
        tables.API_KEY, host=url, personal_api_key=tables.PERSONAL_KEY, flush_interval=0.05
    ) as client:
        assert await client.wait_for_flags(5)
        out: dict[str, Any] = {}
        for call in calls:
            try:
                out[call["label"]] = await getattr(client, call["method"])(*call["args"], **call["kwargs"])
            except Exception as exc:
                out[call["label"]] = {"__error__": type(exc).__name__}
    return json.loads(json.dumps(out))


@pytest.mark.parametrize("scenario", sorted(tables.SCENARIOS))
def test_flag_answers_and_events_equal_the_sync_clients(scenario: str) -> None:
    with_new_flag = tables.SCENARIOS[scenario]
    calls = tables._calls(with_new_flag)
    servers: list[FakePostHog] = []
    try:
        sync_server = tables._serve(servers, with_new_flag)
        async_server = tables._serve(servers, with_new_flag)
        sync_answers = tables._ours(sync_server.url, calls)
        async_answers = asyncio.run(_async_answers(async_server.url, calls))
        assert len(sync_answers) == len(calls) > 50
        mismatches = [label for label in sync_answers if sync_answers[label] != async_answers.get(label)]
        assert mismatches == []
        # The same $feature_flag_called events (deduplicated alike) and the same /flags requests.
        sync_events = sorted((strip_volatile(e) for e in sync_server.events()), key=json.dumps)
        async_events = sorted((strip_volatile(e) for e in async_server.events()), key=json.dumps)
        assert len(sync_events) > 5
        assert async_events == sync_events
        flag_bodies = [
            sorted(
                json.dumps({k: v for k, v in r.json.items() if k != "sentAt"})
                for r in s.requests_to("/flags")
            )
            for s in (sync_server, async_server)
        ]
        assert flag_bodies[0] == flag_bodies[1]
    finally:
        for server in servers:
            server.close()


def test_loaded_definitions_answer_without_any_request(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.set_flag_definitions(DEFINITIONS)

    async def scenario() -> tuple[Any, Any, Any]:
        async with make_async(personal_api_key=PERSONAL_KEY) as client:
            assert await client.wait_for_flags(5)
            before = len(fake_server.requests)
            value = await client.get_feature_flag("beta", "u", send_feature_flag_events=False)
            payload = await client.get_feature_flag_payload("beta", "u", send_feature_flag_events=False)
            flags = await client.get_all_flags_and_payloads("u")
            assert len(fake_server.requests) == before
        return value, payload, flags

    value, payload, flags = asyncio.run(scenario())
    assert value is True
    assert payload == '{"a": 1}'
    assert flags == {"featureFlags": {"beta": True}, "featureFlagPayloads": {"beta": '{"a": 1}'}}
    assert fake_server.requests_to("/flags") == []


def test_remote_flags_when_there_are_no_definitions(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.set_remote_flags({"beta": "test", "off": False}, payloads={"beta": '"p"'})

    async def scenario() -> tuple[Any, ...]:
        async with make_async() as client:
            return (
                await client.get_feature_flag("beta", "u"),
                await client.feature_enabled("off", "u"),
                await client.get_feature_flag_payload("beta", "u"),
                await client.get_all_flags("u"),
            )

    value, enabled, payload, flags = asyncio.run(scenario())
    assert (value, enabled, payload) == ("test", False, '"p"')
    assert flags == {"beta": "test", "off": False}
    called = [e for e in fake_server.events() if e["event"] == "$feature_flag_called"]
    assert {
        (e["properties"]["$feature_flag"], e["properties"]["$feature_flag_response"]) for e in called
    } == {
        ("beta", "test"),
        ("off", False),
    }
    assert len(called) == 2  # the payload call for beta reported the same value: deduplicated


@pytest.mark.serial
def test_a_slow_server_does_not_delay_other_coroutines(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.set_remote_flags({"beta": True})
    fake_server.set_delay("/flags", 2.0)

    async def scenario() -> tuple[list[Any], list[float], float]:
        client = make_async(feature_flags_request_timeout_seconds=5)
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        values = await asyncio.gather(
            *(
                client.get_feature_flag("beta", f"user-{i}", send_feature_flag_events=False)
                for i in range(100)
            )
        )
        took = time.monotonic() - started
        stop.set()
        await ticking
        await client.shutdown()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        return values, gaps, took

    gc.collect()  # what earlier tests left (closed loops, their clients' sockets) is not ours to time
    values, gaps, took = asyncio.run(scenario())
    assert values == [True] * 100
    assert took < 10  # 100 requests of 2 s each, concurrently
    assert len(gaps) > 100  # the ticker ran all along (about every 10 ms for 2 s and more)
    assert max(gaps) < 0.25


def test_the_remote_fallback_keeps_its_timeout(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.hang("/flags")

    async def scenario() -> tuple[Any, float]:
        client = make_async(feature_flags_request_timeout_seconds=0.3)
        started = time.monotonic()
        value = await client.get_feature_flag("beta", "u")
        took = time.monotonic() - started
        await client.shutdown(timeout=0.5)
        return value, took

    value, took = asyncio.run(scenario())
    assert value is None
    assert took < 1.0


def test_definitions_are_polled_with_etag(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.set_flag_definitions(DEFINITIONS)

    async def scenario() -> None:
        async with make_async(personal_api_key=PERSONAL_KEY, poll_interval=0.2) as client:
            assert await client.wait_for_flags(5)
            deadline = time.monotonic() + 5
            while len(fake_server.requests_to("/api/feature_flag/local_evaluation")) < 3:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)

    asyncio.run(scenario())
    polls = fake_server.requests_to("/api/feature_flag/local_evaluation")
    assert polls[0].header("If-None-Match") is None
    assert polls[1].header("If-None-Match") == fake_server.definitions_etag
    assert polls[1].status == 304
    assert polls[0].header("Authorization") == f"Bearer {PERSONAL_KEY}"


def test_a_definitions_change_is_picked_up_by_the_poller(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.set_flag_definitions(DEFINITIONS)
    off = FlagBuilder("beta").condition([], rollout=0).build()

    async def scenario() -> tuple[Any, Any]:
        async with make_async(personal_api_key=PERSONAL_KEY, poll_interval=0.1) as client:
            assert await client.wait_for_flags(5)
            before = await client.get_feature_flag("beta", "u", only_evaluate_locally=True)
            fake_server.set_flag_definitions(definitions([off], {}, {}))
            deadline = time.monotonic() + 5
            after = before
            while after is True and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                after = await client.get_feature_flag("beta", "u", only_evaluate_locally=True)
        return before, after

    assert asyncio.run(scenario()) == (True, False)


def test_first_flag_call_waits_for_the_first_load(fake_server: FakePostHog, make_async: MakeAsync) -> None:
    fake_server.set_flag_definitions(DEFINITIONS)
    fake_server.delay_next("/api/feature_flag/local_evaluation", 0.3)

    async def scenario() -> Any:
        async with make_async(personal_api_key=PERSONAL_KEY) as client:
            return await client.get_feature_flag("beta", "u", only_evaluate_locally=True)

    assert asyncio.run(scenario()) is True


def test_capture_with_send_feature_flags_adds_the_servers_flags(
    fake_server: FakePostHog, make_async: MakeAsync
) -> None:
    fake_server.set_remote_flags({"beta": "test", "off": False})

    async def scenario() -> Any:
        async with make_async() as client:
            return client.capture("u", "bought", {"x": 1}, send_feature_flags=True)

    assert asyncio.run(scenario()) == (True, "pending")
    [event] = fake_server.events()
    props = event["properties"]
    assert props["$feature/beta"] == "test"
    assert props["$feature/off"] is False
    assert props["$active_feature_flags"] == ["beta"]
    assert props["x"] == 1


def test_sync_and_async_capture_with_local_flags_enrich_alike(fake_server: FakePostHog) -> None:
    fake_server.set_flag_definitions(DEFINITIONS)
    sync = posthog.Client(API_KEY, host=fake_server.url, personal_api_key=PERSONAL_KEY, flush_interval=0.05)
    assert sync.wait_for_flags(5)
    sync.capture("u", "enriched", {"k": 1})
    sync.shutdown()
    sync_events = [strip_volatile(e) for e in fake_server.events()]
    fake_server.clear()

    async def scenario() -> None:
        async with AsyncPosthog(API_KEY, host=fake_server.url, personal_api_key=PERSONAL_KEY) as client:
            assert await client.wait_for_flags(5)
            client.capture("u", "enriched", {"k": 1})

    asyncio.run(scenario())
    assert [strip_volatile(e) for e in fake_server.events()] == sync_events
    assert sync_events[0]["properties"]["$feature/beta"] is True

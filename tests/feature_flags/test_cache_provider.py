"""flag_definition_cache_provider: the upstream (7.x) four-method contract, with in-process providers.

The multi-process behaviour against a real Redis is in tests/flag_cache/.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional

import pytest

import posthog
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, definitions
from tests.support.waiting import wait_until

API_KEY = "phc_provider"
PERSONAL_KEY = "phx_provider"
DEFINITIONS_PATH = "/api/feature_flag/local_evaluation"

ON = FlagBuilder("beta").condition([], rollout=100).build()
OFF = FlagBuilder("beta").condition([], rollout=0).build()


class DictCache:
    """An upstream-style provider: only the four methods, a dict and a lock as the store."""

    def __init__(self) -> None:
        self.data: Optional[dict[str, Any]] = None
        self.leader: Optional[int] = None
        self.shutdowns = 0
        self._lock = threading.Lock()

    def should_fetch_flag_definitions(self) -> bool:
        with self._lock:
            me = threading.get_ident()
            if self.leader in (None, me):
                self.leader = me
                return True
            return False

    def get_flag_definitions(self) -> Optional[dict[str, Any]]:
        return self.data

    def on_flag_definitions_received(self, data: dict[str, Any]) -> None:
        self.data = data

    def shutdown(self) -> None:
        self.shutdowns += 1
        with self._lock:
            if self.leader == threading.get_ident():
                self.leader = None


class Follower(DictCache):
    """Never leads: always reads (from ``store``'s data when given, a leader's provider)."""

    def __init__(self, store: Optional[DictCache] = None) -> None:
        super().__init__()
        self.store = store

    def should_fetch_flag_definitions(self) -> bool:
        return False

    def get_flag_definitions(self) -> Optional[dict[str, Any]]:
        return self.store.data if self.store is not None else self.data


def _client(server: FakePostHog, provider: Any, **kwargs: Any) -> posthog.Client:
    return posthog.Client(
        API_KEY,
        host=server.url,
        personal_api_key=PERSONAL_KEY,
        flag_definition_cache_provider=provider,
        **kwargs,
    )


def test_a_process_reading_from_the_cache_makes_no_definitions_request(fake_server: FakePostHog) -> None:
    fake_server.set_flag_definitions(definitions([ON], {}, {}))
    provider = Follower()
    provider.data = {"flags": [ON], "group_type_mapping": {}, "cohorts": {}, "etag": "e1"}
    client = _client(fake_server, provider)
    try:
        assert client.wait_for_flags(5)
        assert client.get_feature_flag("beta", "u", send_feature_flag_events=False) is True
        assert fake_server.requests_to(DEFINITIONS_PATH) == []
        stats = client.flag_definitions_stats
        assert stats.cache_reads >= 1 and stats.polls == 0 and stats.leader is False
    finally:
        client.shutdown()
    assert provider.shutdowns == 1  # called even though this process never led


def test_the_leader_stores_what_it_fetched_with_the_etag(fake_server: FakePostHog) -> None:
    body = definitions([ON], {"0": "company"}, {})
    fake_server.set_flag_definitions(body)
    provider = DictCache()
    client = _client(fake_server, provider)
    try:
        assert client.wait_for_flags(5)
        wait_until(lambda: provider.data is not None, 5)
        assert provider.data == {
            "flags": body["flags"],
            "group_type_mapping": {"0": "company"},
            "cohorts": {},
            "etag": fake_server.definitions_etag,
        }
        assert client.flag_definitions_stats.leader is True
        assert client.flag_definitions_stats.polls == 1
    finally:
        client.shutdown()


def test_leader_and_follower_answer_alike_and_follow_a_change(fake_server: FakePostHog) -> None:
    fake_server.set_flag_definitions(definitions([ON], {}, {}))
    provider = DictCache()
    leader = _client(fake_server, provider, poll_interval=0.1)
    try:
        assert leader.wait_for_flags(5)
        wait_until(lambda: provider.data is not None, 5)
        follower = _client(fake_server, Follower(store=provider), poll_interval=0.1)
        try:
            assert follower.wait_for_flags(5)
            assert follower.get_feature_flag("beta", "u") is leader.get_feature_flag("beta", "u") is True
            fake_server.set_flag_definitions(definitions([OFF], {}, {}))
            wait_until(lambda: follower.get_feature_flag("beta", "u", only_evaluate_locally=True) is False, 5)
            assert leader.get_feature_flag("beta", "u", only_evaluate_locally=True) is False
            # The follower read everything from the cache; only the leader asked the API.
            assert follower.flag_definitions_stats.polls == 0
            assert follower.flag_definitions_stats.cache_reads >= 2
            leader.shutdown()  # no poll in flight while the two counts are read
            assert leader.flag_definitions_stats.polls == len(fake_server.requests_to(DEFINITIONS_PATH))
        finally:
            follower.shutdown()
    finally:
        leader.shutdown()


def test_a_new_leader_polls_with_the_shared_etag(fake_server: FakePostHog) -> None:
    body = definitions([ON], {}, {})
    fake_server.set_flag_definitions(body)
    provider = DictCache()
    provider.data = {**body, "etag": fake_server.definitions_etag}
    provider.leader = -1  # someone else leads at first

    client = _client(fake_server, provider, poll_interval=0.1)
    try:
        assert client.wait_for_flags(5)
        assert fake_server.requests_to(DEFINITIONS_PATH) == []
        provider.leader = None  # the leader went away: this process takes over
        polls = fake_server.wait_for_requests(DEFINITIONS_PATH, 1, timeout=5)
        assert polls[0].header("If-None-Match") == fake_server.definitions_etag
        assert polls[0].status == 304
        wait_until(lambda: client.flag_definitions_stats.not_modified >= 1, 5)
    finally:
        client.shutdown()


class Broken:
    """Raises from one method (the others behave like a follower with data)."""

    def __init__(self, method: str) -> None:
        self.method = method

    def _maybe_fail(self, name: str) -> None:
        if name == self.method:
            raise ConnectionError(f"{name} is down")

    def should_fetch_flag_definitions(self) -> bool:
        self._maybe_fail("should_fetch_flag_definitions")
        return False

    def get_flag_definitions(self) -> Optional[dict[str, Any]]:
        self._maybe_fail("get_flag_definitions")
        return None

    def on_flag_definitions_received(self, data: dict[str, Any]) -> None:
        self._maybe_fail("on_flag_definitions_received")

    def shutdown(self) -> None:
        self._maybe_fail("shutdown")


@pytest.mark.parametrize(
    "method",
    [
        "should_fetch_flag_definitions",
        "get_flag_definitions",
        "on_flag_definitions_received",
        "shutdown",
    ],
)
def test_a_provider_that_raises_never_breaks_flags(
    fake_server: FakePostHog, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.set_flag_definitions(definitions([ON], {}, {}))
    with caplog.at_level(logging.WARNING, logger="posthog"):
        client = _client(fake_server, Broken(method), poll_interval=0.05)
        try:
            assert client.wait_for_flags(5)
            assert client.get_feature_flag("beta", "u", send_feature_flag_events=False) is True
            if method != "shutdown":
                wait_until(lambda: len(fake_server.requests_to(DEFINITIONS_PATH)) >= 3, 5)
        finally:
            client.shutdown()
    cache_lines = [r for r in caplog.records if "flag definitions cache" in r.getMessage()]
    assert len(cache_lines) == 1  # one line for the episode, not one per poll
    assert method in cache_lines[0].getMessage()


@pytest.mark.parametrize(
    "garbage",
    ["not a dict", {"flags": "nope"}, {"group_type_mapping": {}}, {"flags": [{"no": "key"}], "cohorts": 5}],
    ids=["str", "flags-not-list", "no-flags", "junk-flags"],
)
def test_a_provider_returning_garbage_means_fetching_from_the_api(
    fake_server: FakePostHog, garbage: Any
) -> None:
    fake_server.set_flag_definitions(definitions([ON], {}, {}))
    provider = Follower()
    provider.data = garbage
    client = _client(fake_server, provider)
    try:
        assert client.wait_for_flags(5)
        wait_until(lambda: client.get_feature_flag("beta", "u", send_feature_flag_events=False) is True, 5)
    finally:
        client.shutdown()


def test_the_module_setting_reaches_the_default_client(fake_server: FakePostHog) -> None:
    provider = Follower()
    provider.data = {"flags": [ON], "group_type_mapping": {}, "cohorts": {}}
    posthog.api_key = API_KEY
    posthog.host = fake_server.url
    posthog.personal_api_key = PERSONAL_KEY
    posthog.flag_definition_cache_provider = provider
    assert posthog.get_feature_flag("beta", "u", only_evaluate_locally=True) is True
    assert fake_server.requests_to(DEFINITIONS_PATH) == []


def test_the_async_client_reads_the_cache_too(fake_server: FakePostHog) -> None:
    import asyncio

    provider = Follower()
    provider.data = {"flags": [ON], "group_type_mapping": {}, "cohorts": {}}

    async def scenario() -> Any:
        async with posthog.AsyncPosthog(
            API_KEY,
            host=fake_server.url,
            personal_api_key=PERSONAL_KEY,
            flag_definition_cache_provider=provider,
        ) as client:
            assert await client.wait_for_flags(5)
            return await client.get_feature_flag("beta", "u", send_feature_flag_events=False)

    assert asyncio.run(scenario()) is True
    assert fake_server.requests_to(DEFINITIONS_PATH) == []
    assert provider.shutdowns == 1

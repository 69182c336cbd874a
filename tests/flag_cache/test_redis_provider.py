"""RedisFlagDefinitionCache against a real redis-server: the leader lock, the shared data, outages."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest
import redis

from posthog.exceptions import InvalidTypeError, InvalidValueError
from posthog.flag_cache import FlagDefinitionCacheProvider, FlagDefinitionsData, RedisFlagDefinitionCache
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_value

from .conftest import redis_client

API_KEY = "phc_fleet"
DEFINITIONS: FlagDefinitionsData = {
    "flags": [{"key": "beta", "active": True, "filters": {"groups": [{"rollout_percentage": 100}]}}],
    "group_type_mapping": {"0": "company"},
    "cohorts": {"7": {"type": "AND", "values": []}},
    "etag": '"abc123"',
}

Factory = Callable[..., RedisFlagDefinitionCache]


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client on the (flushed) test server, for looking behind the provider's back."""
    with redis_client(redis_url) as client:
        yield client


@pytest.fixture
def make_cache(redis_url: str) -> Iterator[Factory]:
    """Build providers on the test server; all are shut down afterwards."""
    made: list[RedisFlagDefinitionCache] = []

    def factory(**kwargs: Any) -> RedisFlagDefinitionCache:
        kwargs.setdefault("url", redis_url)
        kwargs.setdefault("api_key", API_KEY)
        cache = RedisFlagDefinitionCache(**kwargs)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        cache.shutdown()


def timed(fn: Callable[[], object]) -> tuple[float, Optional[BaseException]]:
    """Seconds ``fn`` took, and what it raised (None if it returned)."""
    start = time.monotonic()
    try:
        fn()
    except Exception as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


# --- the leader lock ---------------------------------------------------------------------------


def test_only_one_instance_gets_the_lock(make_cache: Factory) -> None:
    first, second = make_cache(), make_cache()

    assert first.should_fetch_flag_definitions() is True
    assert second.should_fetch_flag_definitions() is False
    assert (first.is_leader, second.is_leader) == (True, False)
    # the leader keeps leading from poll to poll; the other keeps reading
    assert first.should_fetch_flag_definitions() is True
    assert second.should_fetch_flag_definitions() is False


def test_lock_is_atomic_under_a_concurrent_start(make_cache: Factory) -> None:
    caches = [make_cache() for _ in range(8)]
    barrier = threading.Barrier(len(caches))
    results: list[bool] = []
    lock = threading.Lock()

    def contend(cache: RedisFlagDefinitionCache) -> None:
        barrier.wait(5)
        got = cache.should_fetch_flag_definitions()
        with lock:
            results.append(got)

    threads = [threading.Thread(target=contend, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(results) == [False] * 7 + [True]


def test_the_leader_extends_its_lock_at_every_poll(make_cache: Factory, raw: redis.Redis) -> None:
    cache = make_cache(lock_ttl=30)
    assert cache.should_fetch_flag_definitions()
    assert 29_000 < raw.pttl(cache.lock_key) <= 30_000

    raw.pexpire(cache.lock_key, 200)  # as if most of the TTL had passed
    assert cache.should_fetch_flag_definitions() is True
    assert 29_000 < raw.pttl(cache.lock_key) <= 30_000


def test_a_foreign_lock_is_neither_extended_nor_deleted(make_cache: Factory, raw: redis.Redis) -> None:
    cache = make_cache(lock_ttl=30)
    assert cache.should_fetch_flag_definitions()
    # our lock expired and another process took it
    raw.set(cache.lock_key, b"someone-else", px=100_000)

    assert cache.should_fetch_flag_definitions() is False
    assert cache.is_leader is False
    assert raw.get(cache.lock_key) == b"someone-else"
    assert raw.pttl(cache.lock_key) > 90_000  # not reset to our 30 s

    cache.shutdown()
    assert raw.get(cache.lock_key) == b"someone-else"


def test_a_lost_lock_is_taken_again_when_free(make_cache: Factory, raw: redis.Redis) -> None:
    cache = make_cache()
    assert cache.should_fetch_flag_definitions()
    raw.delete(cache.lock_key)  # expired with nobody waiting

    assert cache.should_fetch_flag_definitions() is True
    assert cache.is_leader


def test_only_the_owner_releases_the_lock_at_shutdown(make_cache: Factory, raw: redis.Redis) -> None:
    leader, follower = make_cache(), make_cache()
    assert leader.should_fetch_flag_definitions()
    assert not follower.should_fetch_flag_definitions()
    token = raw.get(leader.lock_key)

    follower.shutdown()
    assert raw.get(leader.lock_key) == token

    leader.shutdown()
    assert raw.exists(leader.lock_key) == 0
    assert leader.is_leader is False

    successor = make_cache()
    assert successor.should_fetch_flag_definitions() is True


def test_a_shut_down_instance_never_takes_the_lock_again(make_cache: Factory, raw: redis.Redis) -> None:
    cache = make_cache()
    cache.shutdown()
    assert cache.should_fetch_flag_definitions() is False
    assert raw.exists(cache.lock_key) == 0
    cache.shutdown()  # idempotent


def test_another_instance_takes_over_after_the_lock_expires(make_cache: Factory) -> None:
    dead = make_cache(lock_ttl=0.5)
    heir = make_cache(lock_ttl=0.5)
    assert dead.should_fetch_flag_definitions()
    started = time.monotonic()
    assert heir.should_fetch_flag_definitions() is False

    # `dead` stops polling (crashed): nothing extends its lock any more
    wait_for_value(heir.should_fetch_flag_definitions, timeout=5, interval=0.05)
    assert time.monotonic() - started >= 0.4
    assert heir.is_leader
    # the old leader, were it to wake up, is told it no longer leads
    assert dead.should_fetch_flag_definitions() is False


# --- the shared data ---------------------------------------------------------------------------


def test_data_round_trip_with_etag(make_cache: Factory) -> None:
    leader, follower = make_cache(), make_cache()
    assert follower.get_flag_definitions() is None

    leader.on_flag_definitions_received(DEFINITIONS)

    assert follower.get_flag_definitions() == DEFINITIONS
    assert leader.get_flag_definitions() == DEFINITIONS


def test_data_without_etag_and_with_missing_parts(make_cache: Factory) -> None:
    cache = make_cache()
    cache.on_flag_definitions_received({"flags": [{"key": "a"}], "etag": None})
    assert cache.get_flag_definitions() == {"flags": [{"key": "a"}], "group_type_mapping": {}, "cohorts": {}}


def test_storing_keeps_the_lock(make_cache: Factory, raw: redis.Redis) -> None:
    cache = make_cache()
    assert cache.should_fetch_flag_definitions()
    token = raw.get(cache.lock_key)
    cache.on_flag_definitions_received(DEFINITIONS)
    assert raw.get(cache.lock_key) == token
    assert cache.should_fetch_flag_definitions()


def test_data_ttl_is_set_and_refreshed_by_each_store(make_cache: Factory, raw: redis.Redis) -> None:
    cache = make_cache(data_ttl=120)
    cache.on_flag_definitions_received(DEFINITIONS)
    assert 119_000 < raw.pttl(cache.data_key) <= 120_000

    raw.pexpire(cache.data_key, 500)
    cache.on_flag_definitions_received(DEFINITIONS)  # e.g. after a 304: same data, fresh TTL
    assert 119_000 < raw.pttl(cache.data_key) <= 120_000


def test_data_expires_after_data_ttl(make_cache: Factory) -> None:
    cache = make_cache(data_ttl=0.2)
    cache.on_flag_definitions_received(DEFINITIONS)
    assert cache.get_flag_definitions() is not None
    wait_for_value(lambda: cache.get_flag_definitions() is None, timeout=5, interval=0.02)


def test_keys_are_namespaced_by_api_key_and_service_key(make_cache: Factory, raw: redis.Redis) -> None:
    web = make_cache(api_key="phc_one", service_key="web")
    worker = make_cache(api_key="phc_one", service_key="worker")
    other_project = make_cache(api_key="phc_two", service_key="web")
    assert len({web.lock_key, worker.lock_key, other_project.lock_key, web.data_key}) == 4
    assert web.lock_key == "posthog:flag_definitions:phc_one:web:lock"
    assert web.data_key == "posthog:flag_definitions:phc_one:web:data"

    assert all(cache.should_fetch_flag_definitions() for cache in (web, worker, other_project))
    web.on_flag_definitions_received(DEFINITIONS)
    assert worker.get_flag_definitions() is None
    assert other_project.get_flag_definitions() is None
    assert make_cache(api_key="phc_one", service_key="web").get_flag_definitions() == DEFINITIONS

    custom = make_cache(key_prefix="myapp:flags")
    assert custom.data_key.startswith("myapp:flags:")


@pytest.mark.parametrize(
    "garbage",
    [
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'"a string"',
        b"{}",
        b'{"flags": {"key": "a"}}',
        b'{"flags": [], "cohorts": []}',
        b'{"flags": [], "group_type_mapping": "x"}',
        b'{"flags": [], "etag": 42}',
    ],
)
def test_garbage_in_the_data_key_reads_as_none(
    make_cache: Factory, raw: redis.Redis, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make_cache()
    raw.set(cache.data_key, garbage)
    with caplog.at_level(logging.DEBUG, logger="posthog"):
        assert cache.get_flag_definitions() is None
    assert [r.levelno for r in caplog.records if r.name == "posthog"] == [logging.DEBUG]


def test_a_client_with_decoded_responses_works_too(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        cache = RedisFlagDefinitionCache(client, api_key=API_KEY)
        assert cache.should_fetch_flag_definitions()
        cache.should_fetch_flag_definitions()  # the extend path compares the token as text
        assert cache.is_leader
        cache.on_flag_definitions_received(DEFINITIONS)
        assert cache.get_flag_definitions() == DEFINITIONS
        cache.shutdown()
        assert client.exists(cache.lock_key) == 0
        assert client.ping()  # a client we were given is not closed


# --- the protocol --------------------------------------------------------------------------------


def test_it_is_a_flag_definition_cache_provider(make_cache: Factory) -> None:
    assert isinstance(make_cache(), FlagDefinitionCacheProvider)


def test_the_protocol_is_structural() -> None:
    class InMemory:
        def __init__(self) -> None:
            self.data: Optional[FlagDefinitionsData] = None

        def should_fetch_flag_definitions(self) -> bool:
            return self.data is None

        def get_flag_definitions(self) -> Optional[FlagDefinitionsData]:
            return self.data

        def on_flag_definitions_received(self, data: FlagDefinitionsData) -> None:
            self.data = data

        def shutdown(self) -> None:
            pass

    class Incomplete:
        def should_fetch_flag_definitions(self) -> bool:
            return True

    provider: FlagDefinitionCacheProvider = InMemory()
    assert isinstance(provider, FlagDefinitionCacheProvider)
    assert not isinstance(Incomplete(), FlagDefinitionCacheProvider)


def test_importing_the_package_does_not_import_redis() -> None:
    code = (
        "import sys, posthog, posthog.flag_cache\n"
        "from posthog.flag_cache import RedisFlagDefinitionCache\n"
        "assert 'redis' not in sys.modules, sorted(m for m in sys.modules if m.startswith('redis'))\n"
        "RedisFlagDefinitionCache(url='redis://127.0.0.1:9', api_key='k').shutdown()\n"
        "assert 'redis' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


# --- bad arguments -------------------------------------------------------------------------------

URL = "redis://127.0.0.1:9"  # nothing is contacted while constructing
CLIENT = object()  # replaced by a real (unconnected) redis.Redis in the test


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"api_key": "k"}, InvalidValueError, ("client", "url")),
        ({"client": CLIENT, "url": URL, "api_key": "k"}, InvalidValueError, ("client", "url")),
        ({"url": URL, "api_key": ""}, InvalidValueError, ("api_key",)),
        ({"url": URL, "api_key": None}, InvalidTypeError, ("api_key",)),
        ({"url": URL, "api_key": "k", "service_key": ""}, InvalidValueError, ("service_key",)),
        ({"url": URL, "api_key": "k", "service_key": 3}, InvalidTypeError, ("service_key",)),
        ({"url": URL, "api_key": "k", "key_prefix": ""}, InvalidValueError, ("key_prefix",)),
        ({"url": URL, "api_key": "k", "lock_ttl": 0}, InvalidValueError, ("lock_ttl",)),
        ({"url": URL, "api_key": "k", "lock_ttl": "30"}, InvalidTypeError, ("lock_ttl",)),
        ({"url": URL, "api_key": "k", "lock_ttl": True}, InvalidTypeError, ("lock_ttl",)),
        ({"url": URL, "api_key": "k", "data_ttl": -1.0}, InvalidValueError, ("data_ttl",)),
        ({"url": URL, "api_key": "k", "data_ttl": float("inf")}, InvalidValueError, ("data_ttl",)),
        (
            {"url": URL, "api_key": "k", "socket_timeout": float("nan")},
            InvalidValueError,
            ("socket_timeout",),
        ),
        ({"url": "http://127.0.0.1:6379", "api_key": "k"}, InvalidValueError, ("url",)),
        ({"url": "", "api_key": "k"}, InvalidValueError, ("url",)),
        ({"url": 6379, "api_key": "k"}, InvalidTypeError, ("url",)),
        ({"client": object(), "api_key": "k"}, InvalidTypeError, ("client",)),
    ],
)
def test_bad_constructor_arguments_name_the_argument(
    kwargs: dict[str, Any], error: type[Exception], names: tuple[str, ...]
) -> None:
    kwargs = dict(kwargs)
    if kwargs.get("client") is CLIENT:
        kwargs["client"] = redis.Redis()
    with pytest.raises(error) as info:
        RedisFlagDefinitionCache(**kwargs)
    for name in names:
        assert name in str(info.value)
    assert isinstance(info.value, AssertionError)  # like 3.x's argument checks


# --- outages -------------------------------------------------------------------------------------

BOUND = 2.0  # seconds: "about socket_timeout", with slack for a slow CI machine


def test_redis_stopped_each_method_raises_quickly_and_restart_recovers(
    own_redis_server: RedisServer,
) -> None:
    cache = RedisFlagDefinitionCache(url=own_redis_server.url, api_key=API_KEY, socket_timeout=0.5)
    follower = RedisFlagDefinitionCache(url=own_redis_server.url, api_key=API_KEY, socket_timeout=0.5)
    try:
        assert cache.should_fetch_flag_definitions()
        cache.should_fetch_flag_definitions()  # the extend script is now loaded on the server
        cache.on_flag_definitions_received(DEFINITIONS)

        own_redis_server.stop()
        for call in (
            cache.should_fetch_flag_definitions,
            cache.get_flag_definitions,
            lambda: cache.on_flag_definitions_received(DEFINITIONS),
            follower.should_fetch_flag_definitions,
        ):
            elapsed, error = timed(call)
            assert isinstance(error, redis.ConnectionError), error
            assert elapsed < BOUND
        assert cache.is_leader is False  # the failed extend dropped the leadership

        own_redis_server.start()  # same port, empty (no persistence), no scripts loaded
        assert cache.get_flag_definitions() is None
        assert cache.should_fetch_flag_definitions() is True
        assert cache.should_fetch_flag_definitions() is True  # the extend script is loaded again
        assert follower.should_fetch_flag_definitions() is False
        cache.on_flag_definitions_received(DEFINITIONS)
        assert follower.get_flag_definitions() == DEFINITIONS

        own_redis_server.stop()
        elapsed, error = timed(cache.shutdown)  # leader: tries to release, must not raise
        assert error is None
        assert elapsed < BOUND
    finally:
        cache.shutdown()
        follower.shutdown()


def test_a_hung_redis_is_bounded_by_socket_timeout(own_redis_server: RedisServer) -> None:
    leader = RedisFlagDefinitionCache(url=own_redis_server.url, api_key=API_KEY, socket_timeout=0.3)
    fresh = RedisFlagDefinitionCache(url=own_redis_server.url, api_key=API_KEY, socket_timeout=0.3)
    try:
        assert leader.should_fetch_flag_definitions()
        own_redis_server.pause()  # frozen: the kernel still accepts connections, nothing answers
        for call in (
            leader.should_fetch_flag_definitions,
            leader.get_flag_definitions,
            lambda: leader.on_flag_definitions_received(DEFINITIONS),
            fresh.should_fetch_flag_definitions,  # a new connection: the handshake hangs
        ):
            elapsed, error = timed(call)
            assert isinstance(error, redis.TimeoutError), error
            # one attempt each: redis-py's own default would be 10 retries with backoff
            assert 0.25 < elapsed < BOUND
        assert leader.is_leader is False

        own_redis_server.resume()
        # its lock is still there (unexpired): it is recognised as ours and extended
        assert leader.should_fetch_flag_definitions() is True
        own_redis_server.pause()
        elapsed, error = timed(leader.shutdown)  # tries to release, must not raise
        assert error is None
        assert elapsed < BOUND
    finally:
        own_redis_server.resume()
        leader.shutdown()
        fresh.shutdown()

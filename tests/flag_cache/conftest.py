"""A real redis-server for the flag cache tests (see ``make redis-server``); a clean DB per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; fails (never skips) when the binary is missing."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, its data flushed before the test."""
    if not redis_server.is_running:  # a test stopped it and failed before restarting it
        redis_server.start()
    with redis_client(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server for this test only, which it may stop and restart."""
    with RedisServer() as server:
        yield server


def redis_client(url: str) -> redis.Redis:
    """A plain client for inspecting the server (no retries, short timeouts)."""
    return redis.Redis.from_url(
        url, socket_timeout=2.0, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 0)
    )

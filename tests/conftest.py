"""Shared fixtures: a fake PostHog on 127.0.0.1, clients bound to it, a clean facade per test."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import posthog
from posthog._options import DEFAULTS, FACADE_SETTINGS
from tests.fake_server import FakePostHog, SilentServer

API_KEY = "phc_test_key"


@pytest.fixture
def fake_server() -> Iterator[FakePostHog]:
    """A PostHog-compatible server for this test only."""
    with FakePostHog() as server:
        yield server


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A server that accepts connections and never answers."""
    with SilentServer() as server:
        yield server


@pytest.fixture
def make_client(fake_server: FakePostHog) -> Iterator[Callable[..., posthog.Client]]:
    """Build clients bound to ``fake_server`` with a fast flush; all are shut down afterwards."""
    clients: list[posthog.Client] = []

    def factory(**kwargs: Any) -> posthog.Client:
        kwargs.setdefault("host", fake_server.url)
        kwargs.setdefault("flush_interval", 0.05)
        client = posthog.Client(kwargs.pop("api_key", API_KEY), **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.shutdown(timeout=2)


@pytest.fixture
def client(make_client: Callable[..., posthog.Client]) -> posthog.Client:
    """A client bound to ``fake_server``."""
    return make_client()


@pytest.fixture(autouse=True)
def _reset_facade() -> Iterator[None]:
    """Every test starts with the facade's 3.x defaults and no default client."""
    saved = {name: getattr(posthog, name) for name in FACADE_SETTINGS}
    for name in FACADE_SETTINGS:
        setattr(posthog, name, getattr(DEFAULTS, name))
    posthog.exception_autocapture_integrations = []
    posthog.flag_definition_cache_provider = None
    posthog.default_client = None
    yield
    if posthog.default_client is not None:
        posthog.default_client.shutdown(timeout=2)
    posthog.default_client = None
    for name, value in saved.items():
        setattr(posthog, name, value)


@pytest.fixture(autouse=True)
def _posthog_logger_level() -> Iterator[None]:
    """Keep the ``posthog`` logger's level as the test found it."""
    logger = logging.getLogger("posthog")
    level = logger.level
    yield
    logger.setLevel(level)

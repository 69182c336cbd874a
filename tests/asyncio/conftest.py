"""Fixtures for AsyncPosthog: clients bound to the test's fake PostHog, each run under a real loop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from posthog import AsyncPosthog
from tests.fake_server import FakePostHog

API_KEY = "phc_async_test"
PERSONAL_KEY = "phx_async_test"

MakeAsync = Callable[..., AsyncPosthog]


@pytest.fixture
def make_async(fake_server: FakePostHog) -> Iterator[MakeAsync]:
    """Build AsyncPosthog clients bound to ``fake_server`` with a fast flush."""

    def factory(**kwargs: Any) -> AsyncPosthog:
        kwargs.setdefault("host", fake_server.url)
        kwargs.setdefault("flush_interval", 0.05)
        return AsyncPosthog(kwargs.pop("api_key", API_KEY), **kwargs)

    yield factory


def strip_volatile(event: dict[str, Any]) -> dict[str, Any]:
    """An event without what differs on every call (uuid, timestamp)."""
    return {k: v for k, v in event.items() if k not in ("uuid", "timestamp")}

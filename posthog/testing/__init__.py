"""Test your PostHog calls without a network: a recording client, assertions and fixed flags.

    from posthog.testing import FlagOverrides, RecordingClient, assert_captured

    recorder = RecordingClient(flags=FlagOverrides().flag("new-checkout", True))
    checkout(recorder, "user-1")
    assert_captured(recorder, "order completed", distinct_id="user-1", properties={"total": 42})

With pytest, ``pytest_plugins = ["posthog.testing.pytest_plugin"]`` adds the ``posthog_recorder``
fixture, which installs a ``RecordingClient`` as ``posthog.default_client`` for one test.
Importing this package needs no pytest, starts no thread and opens no connection.

For integration tests, ``FakePostHog`` (``posthog.testing.fake_server``) is a PostHog-compatible
server on 127.0.0.1: point a real client at ``server.url`` and read what it received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._assertions import EventSource, assert_captured, assert_not_captured, find_events
from ._flags import FlagOverride, FlagOverrides
from ._recording import RecordingClient

if TYPE_CHECKING:
    from .fake_server import FakePostHog, SilentServer

__all__ = [
    "EventSource",
    "FakePostHog",
    "FlagOverride",
    "FlagOverrides",
    "RecordingClient",
    "SilentServer",
    "assert_captured",
    "assert_not_captured",
    "find_events",
]


def __getattr__(name: str) -> Any:
    # The fake server (http.server and friends) is imported only by those who use it.
    if name in ("FakePostHog", "SilentServer"):
        from . import fake_server

        return getattr(fake_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

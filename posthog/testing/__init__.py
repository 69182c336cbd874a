"""Test your PostHog calls without a network: a recording client, assertions and fixed flags.

    from posthog.testing import FlagOverrides, RecordingClient, assert_captured

    recorder = RecordingClient(flags=FlagOverrides().flag("new-checkout", True))
    checkout(recorder, "user-1")
    assert_captured(recorder, "order completed", distinct_id="user-1", properties={"total": 42})

With pytest, ``pytest_plugins = ["posthog.testing.pytest_plugin"]`` adds the ``posthog_recorder``
fixture, which installs a ``RecordingClient`` as ``posthog.default_client`` for one test.
Importing this package needs no pytest, starts no thread and opens no connection.
"""

from __future__ import annotations

from ._assertions import EventSource, assert_captured, assert_not_captured, find_events
from ._flags import FlagOverride, FlagOverrides
from ._recording import RecordingClient

__all__ = [
    "EventSource",
    "FlagOverride",
    "FlagOverrides",
    "RecordingClient",
    "assert_captured",
    "assert_not_captured",
    "find_events",
]

"""Logging hygiene: the SDK logs on "posthog" only, leaves the application's configuration alone,
logs expected failures without tracebacks, and rate-limits drop warnings (STYLE.md "What to avoid",
weaknesses.md §A.4).
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import posthog
from posthog import DropReason
from posthog._pipeline import drops as _dropped_events
from tests.conftest import API_KEY
from tests.fake_server import FakePostHog
from tests.support.waiting import wait_until

MakeClient = Callable[..., posthog.Client]
sdk_logger = logging.getLogger("posthog")


@pytest.fixture
def bare_sdk_logger() -> Iterator[logging.Logger]:
    """The "posthog" logger with no handlers and level NOTSET; restored afterwards."""
    handlers, level, propagate = list(sdk_logger.handlers), sdk_logger.level, sdk_logger.propagate
    for handler in handlers:
        sdk_logger.removeHandler(handler)
    sdk_logger.setLevel(logging.NOTSET)
    yield sdk_logger
    for handler in list(sdk_logger.handlers):
        sdk_logger.removeHandler(handler)
    for handler in handlers:
        sdk_logger.addHandler(handler)
    sdk_logger.setLevel(level)
    sdk_logger.propagate = propagate


@pytest.fixture
def debug_clients(fake_server: FakePostHog) -> Iterator[Callable[..., posthog.Client]]:
    """Clients built directly (debug=... is the point); debug turned off and shut down afterwards."""
    clients: list[posthog.Client] = []

    def factory(**kwargs: Any) -> posthog.Client:
        client = posthog.Client(API_KEY, host=fake_server.url, flush_interval=0.05, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        client.debug = False
        client.shutdown(timeout=1)


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_building_a_client_never_configures_the_root_logger(
    monkeypatch: pytest.MonkeyPatch,
    bare_sdk_logger: logging.Logger,
    debug_clients: Callable[..., posthog.Client],
    debug: bool,
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(logging, "basicConfig", lambda *a, **k: calls.append((a, k)))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    client = debug_clients(debug=debug)
    client.capture("someone", "event")
    client.flush(timeout=5)

    assert calls == []
    assert root.handlers == handlers
    assert root.level == level


def test_an_app_set_level_on_the_posthog_logger_is_kept(
    bare_sdk_logger: logging.Logger, debug_clients: Callable[..., posthog.Client]
) -> None:
    bare_sdk_logger.setLevel(logging.ERROR)

    debug_clients()
    debug_clients(debug=False)

    assert bare_sdk_logger.level == logging.ERROR


def test_turning_debug_off_restores_the_app_level(
    bare_sdk_logger: logging.Logger, debug_clients: Callable[..., posthog.Client]
) -> None:
    bare_sdk_logger.setLevel(logging.ERROR)

    client = debug_clients(debug=True)
    assert bare_sdk_logger.level == logging.DEBUG
    client.debug = False

    assert bare_sdk_logger.level == logging.ERROR


def test_debug_adds_one_handler_when_the_posthog_logger_has_none(
    bare_sdk_logger: logging.Logger, debug_clients: Callable[..., posthog.Client]
) -> None:
    first = debug_clients(debug=True)
    debug_clients(debug=True)

    assert len(bare_sdk_logger.handlers) == 1
    first.debug = False
    assert bare_sdk_logger.handlers == []


def test_debug_keeps_the_apps_own_handler_alone(
    bare_sdk_logger: logging.Logger, debug_clients: Callable[..., posthog.Client]
) -> None:
    app_handler = logging.NullHandler()
    bare_sdk_logger.addHandler(app_handler)

    client = debug_clients(debug=True)

    assert bare_sdk_logger.handlers == [app_handler]
    client.debug = False
    assert bare_sdk_logger.handlers == [app_handler]


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens: connection refused


def test_expected_network_failure_is_logged_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = posthog.Client(
        API_KEY, host=_closed_port_url(), flush_interval=0.05, max_retries=2, debug=True, retry_buffer_age=0
    )
    try:
        client.capture("someone", "event")
        assert client.flush(timeout=8) == 0
        assert client.stats.dropped == {DropReason.RETRIES_EXHAUSTED: 1}
    finally:
        client.debug = False
        client.shutdown(timeout=1)

    assert [r for r in caplog.records if r.exc_info or r.exc_text or r.stack_info] == []
    assert "Traceback" not in caplog.text
    warnings = [r for r in caplog.records if r.name == "posthog" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "retries_exhausted" in warnings[0].getMessage()


def _dropped_counts(caplog: pytest.LogCaptureFixture) -> list[int]:
    counts = []
    for record in caplog.records:
        message = record.getMessage()
        if record.name == "posthog" and "queue_full" in message:
            match = re.search(r"dropped (\d+) event", message)
            assert match is not None, message
            counts.append(int(match.group(1)))
    return counts


def test_full_queue_warnings_are_one_line_per_episode(
    monkeypatch: pytest.MonkeyPatch,
    fake_server: FakePostHog,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    window = 0.3
    monkeypatch.setattr(_dropped_events, "_LOG_WINDOW_SECONDS", window)
    fake_server.hang("/batch")  # the consumer is stuck; the queue stays full
    client = make_client(max_queue_size=2, flush_at=1)
    caplog.set_level(logging.WARNING, logger="posthog")

    first_burst = [client.capture("someone", "burst")[0] for _ in range(100)]
    same_episode = [client.capture("someone", "burst")[0] for _ in range(100)]
    assert len(_dropped_counts(caplog)) == 1
    episode_started = time.monotonic()
    wait_until(lambda: time.monotonic() - episode_started > window, timeout=window + 1)
    last = [client.capture("someone", "burst")[0] for _ in range(10)]

    # One line opens each episode; the next one summarises what the previous episode did not log.
    dropped_in_first_episode = (first_burst + same_episode).count(False)
    assert dropped_in_first_episode > 150
    assert _dropped_counts(caplog) == [1, dropped_in_first_episode]
    assert client.stats.dropped[DropReason.QUEUE_FULL] == dropped_in_first_episode + last.count(False)
    assert "analytics-python" not in caplog.text
    client.shutdown(timeout=0.2)

"""Excepthooks of exception autocapture (spec/integrations.md §3.2; weaknesses.md §B 18)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import pytest

from posthog.exception_capture import ExceptionCapture, Integrations
from tests.fake_server import FakePostHog
from tests.integrations.conftest import RecordingClient

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class HookRecorder:
    """The hooks that were installed before ours."""

    def __init__(self) -> None:
        self.sys_calls: list[BaseException] = []
        self.thread_calls: list[BaseException | None] = []

    def sys_hook(self, exc_type: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        self.sys_calls.append(value)

    def thread_hook(self, args: Any) -> None:
        self.thread_calls.append(args.exc_value)


@pytest.fixture
def previous_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[HookRecorder]:
    recorder = HookRecorder()
    monkeypatch.setattr(sys, "excepthook", recorder.sys_hook)
    monkeypatch.setattr(threading, "excepthook", recorder.thread_hook)
    yield recorder


def fire_sys_hook(exc: BaseException) -> None:
    sys.excepthook(type(exc), exc, exc.__traceback__)


def run_failing_thread(exc: BaseException) -> None:
    def target() -> None:
        raise exc

    thread = threading.Thread(target=target, name="failing")
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_sys_hook_captures_then_calls_the_previous_hook(
    previous_hooks: HookRecorder, recording_client: RecordingClient
) -> None:
    capture = ExceptionCapture(recording_client)
    exc = ValueError("uncaught")

    fire_sys_hook(exc)

    assert [c.exception for c in recording_client.calls] == [(ValueError, exc, None)]
    assert recording_client.calls[0].distinct_id is None
    assert previous_hooks.sys_calls == [exc]
    capture.close()


def test_thread_hook_captures_and_still_calls_the_previous_hook(
    previous_hooks: HookRecorder, recording_client: RecordingClient
) -> None:
    capture = ExceptionCapture(recording_client)
    exc = RuntimeError("thread failed")

    run_failing_thread(exc)

    assert [c.exception[1] for c in recording_client.calls] == [exc]
    assert previous_hooks.thread_calls == [exc]
    capture.close()


def test_close_restores_both_hooks(previous_hooks: HookRecorder, recording_client: RecordingClient) -> None:
    before = (sys.excepthook, threading.excepthook)
    capture = ExceptionCapture(recording_client)
    assert (sys.excepthook, threading.excepthook) != before

    capture.close()
    capture.close()  # idempotent

    assert (sys.excepthook, threading.excepthook) == before
    fire_sys_hook(ValueError("after close"))
    assert recording_client.calls == []


@pytest.mark.parametrize("close_order", ["first-installed-first", "last-installed-first"])
def test_several_captures_chain_and_unwind(previous_hooks: HookRecorder, close_order: str) -> None:
    before = (sys.excepthook, threading.excepthook)
    first_client, second_client = RecordingClient(), RecordingClient()
    first = ExceptionCapture(first_client)
    second = ExceptionCapture(second_client)

    fire_sys_hook(ValueError("both see it"))
    run_failing_thread(KeyError("both see this too"))

    assert len(first_client.calls) == len(second_client.calls) == 2
    assert len(previous_hooks.sys_calls) == len(previous_hooks.thread_calls) == 1

    closing, remaining = (first, second) if close_order == "first-installed-first" else (second, first)
    closing.close()
    fire_sys_hook(ValueError("only the remaining one"))
    remaining_client = first_client if remaining is first else second_client
    closed_client = first_client if closing is first else second_client
    assert len(remaining_client.calls) == 3
    assert len(closed_client.calls) == 2
    assert len(previous_hooks.sys_calls) == 2

    remaining.close()
    assert (sys.excepthook, threading.excepthook) == before


def test_a_capture_installed_after_a_closed_one_skips_it(previous_hooks: HookRecorder) -> None:
    before = sys.excepthook
    first = ExceptionCapture(RecordingClient())
    second = ExceptionCapture(RecordingClient())
    first.close()  # not on top: left in place as a pass-through
    third = ExceptionCapture(RecordingClient())

    second.close()
    third.close()

    assert sys.excepthook == before


def test_failing_capture_is_logged_and_the_previous_hook_still_runs(
    previous_hooks: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    capture = ExceptionCapture(RecordingClient(fail=True))
    exc = ValueError("x")

    with caplog.at_level(logging.ERROR, logger="posthog"):
        fire_sys_hook(exc)

    assert previous_hooks.sys_calls == [exc]
    assert "Failed to capture exception" in caplog.text
    capture.close()


def test_keyboard_interrupt_and_thread_system_exit_are_not_reported(
    previous_hooks: HookRecorder, recording_client: RecordingClient
) -> None:
    capture = ExceptionCapture(recording_client)

    fire_sys_hook(KeyboardInterrupt())
    run_failing_thread(SystemExit(3))

    assert recording_client.calls == []
    assert len(previous_hooks.sys_calls) == 1
    capture.close()


def test_unknown_integration_is_logged(
    previous_hooks: HookRecorder, recording_client: RecordingClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="posthog"):
        capture = ExceptionCapture(recording_client, integrations=["flask"])
    assert "Unknown exception autocapture integration 'flask'" in caplog.text
    capture.close()


def test_integrations_enum_is_a_str_enum() -> None:
    assert Integrations.Django == "django"
    assert Integrations("django") is Integrations.Django


SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from posthog import Client

    client = Client("phc_test", host=sys.argv[1], sync_mode=True, enable_exception_autocapture=True)

    def work():
        raise RuntimeError("thread blew up")

    thread = threading.Thread(target=work, name="worker")
    thread.start()
    thread.join(5)

    def main():
        raise ValueError("main blew up")

    main()
    """
)


def test_uncaught_exceptions_are_reported_and_tracebacks_still_printed(fake_server: FakePostHog) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, fake_server.url],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO},
    )

    assert result.returncode == 1
    assert "Exception in thread worker" in result.stderr
    assert "RuntimeError: thread blew up" in result.stderr
    assert "ValueError: main blew up" in result.stderr
    events = fake_server.wait_for_events(2, timeout=10)
    messages = sorted(e["properties"]["$exception_message"] for e in events)
    assert messages == ["main blew up", "thread blew up"]
    assert all(e["event"] == "$exception" for e in events)
    assert all(e["properties"]["$process_person_profile"] is False for e in events)

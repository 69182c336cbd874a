"""What a new user tripped on with posthog.testing (issue 13): the recorder is a Posthog, the fixture
leaves no logging behind, every drop reason reads 0 on a fresh client."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import posthog
from posthog import DropReason
from posthog.testing import RecordingClient
from tests.fake_server import FakePostHog


def test_the_recorder_can_stand_in_for_a_posthog_client() -> None:
    def app(client: posthog.Posthog) -> None:
        client.capture("user-1", "used")

    recorder = RecordingClient("phc_test")
    assert isinstance(recorder, posthog.Posthog) and isinstance(recorder, posthog.Client)
    app(recorder)
    assert [e["event"] for e in recorder.events] == ["used"]


def test_every_drop_reason_reads_zero_on_a_fresh_client() -> None:
    client = posthog.Client("phc_test", send=False)
    dropped = client.stats.dropped
    assert all(dropped[reason] == 0 for reason in DropReason)
    assert dict(dropped) == {} and client.stats.dropped_total == 0


def test_the_fixture_puts_the_logger_back_after_debug(tmp_path: Path) -> None:
    test_file = tmp_path / "test_user_suite.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import logging
            import posthog

            pytest_plugins = ["posthog.testing.pytest_plugin"]

            def test_a_turns_debug_on(posthog_recorder):
                posthog.debug = True
                posthog.capture("u", "e")
                assert logging.getLogger("posthog").level == logging.DEBUG

            def test_b_sees_a_clean_logger():
                logger = logging.getLogger("posthog")
                assert logger.level == logging.NOTSET
                assert logger.handlers == []
                assert posthog.debug is False
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_kill_switch_set_after_construction_disables_the_client(
    monkeypatch: pytest.MonkeyPatch, fake_server: FakePostHog
) -> None:
    client = posthog.Client("phc_test", host=fake_server.url, flush_interval=0.05)
    try:
        assert client.capture("u", "before")[0] is True
        monkeypatch.setenv("POSTHOG_DISABLED", "1")
        assert client.capture("u", "after") == (False, "disabled")
        assert client.feature_enabled("flag", "u") is None
        monkeypatch.delenv("POSTHOG_DISABLED")
        assert client.capture("u", "again")[0] is True
        assert client.flush(timeout=5) == 0
    finally:
        client.shutdown(timeout=2)
    assert [e["event"] for e in fake_server.events()] == ["before", "again"]
    assert fake_server.requests_to("/flags") == []


def test_an_offline_client_with_send_false_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a network guard in a user's suite does (pytest-socket and the like): refuse every connect.
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    definitions = {
        "flags": [
            {
                "key": "new-checkout",
                "active": True,
                "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
            }
        ],
        "group_type_mapping": {},
        "cohorts": {},
    }
    client = posthog.Posthog("phc_test", flag_definitions=definitions, send=False)
    try:
        assert client.feature_enabled("new-checkout", "user-1") is True  # sends $feature_flag_called
        assert client.get_feature_flag("unknown-flag", "user-1") is None  # would need the server
        assert client.capture("user-1", "checkout")[0] is True
        assert client.flush(timeout=2) == 0
    finally:
        client.shutdown(timeout=2)
    assert attempts == []

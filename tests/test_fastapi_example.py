"""``examples/fastapi_app.py`` under real uvicorn and under FastAPI's TestClient.

The route's answer carries the flag value the (fake) server gave, and the events captured by the
route reach the server through the lifespan's ``shutdown()``: ``/batch`` answers only after
``BATCH_DELAY`` seconds, so the last events cannot have arrived when the app is told to stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_server import FakePostHog

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

REPO = Path(__file__).resolve().parents[1]
API_KEY = "phc_fastapi_example"
BATCH_DELAY = 1.0  # seconds /batch takes to answer: longer than the requests, well within shutdown's 5 s
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _app_env(fake: FakePostHog) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", "PYTHON"))}
    env["POSTHOG_PROJECT_API_KEY"] = API_KEY
    env["POSTHOG_HOST"] = fake.url
    return env


@contextmanager
def _uvicorn(fake: FakePostHog, logs: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """uvicorn serving the example on a free port, once it accepts connections; killed if still running."""
    for _attempt in range(3):  # another process may take the port between the probe and uvicorn's bind
        port = _free_port()
        args = ["-m", "uvicorn", "examples.fastapi_app:app", "--host", "127.0.0.1", "--port", str(port)]
        with open(logs, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env=_app_env(fake),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while proc.poll() is None and not _accepts(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None and _accepts(port):
                yield proc, port
                return
            if "address already in use" not in logs.read_text(errors="replace").lower():
                pytest.fail(f"uvicorn did not start within {START_TIMEOUT}s:\n{logs.read_text()}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    pytest.fail(f"uvicorn found no free port:\n{logs.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM (uvicorn's graceful stop: the lifespan's shutdown runs), bounded; the exit status."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        pytest.fail(f"uvicorn did not stop within {STOP_TIMEOUT}s of SIGTERM")


def _by_event(events: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((e["event"], e["distinct_id"]) for e in events)


def _expected(users: list[str]) -> Counter[tuple[str, str]]:
    wanted: Counter[tuple[str, str]] = Counter()
    for user in users:
        wanted[("checkout viewed", user)] += 1
        wanted[("$feature_flag_called", user)] += 1
    return wanted


def _check_events(fake: FakePostHog, users: list[str], flag_values: dict[str, bool]) -> None:
    events = fake.events()
    assert _by_event(events) == _expected(users)
    for event in events:
        props = event["properties"]
        value = flag_values[event["distinct_id"]]
        if event["event"] == "checkout viewed":
            assert props["new_checkout"] is value
            assert props["path"] == f"/checkout/{event['distinct_id']}"
        else:
            assert props["$feature_flag"] == "new-checkout"
            assert props["$feature_flag_response"] is value
    assert all(r.json["api_key"] == API_KEY for r in fake.requests_to("/batch"))


def test_example_under_uvicorn_answers_with_the_flag_and_delivers_on_sigterm(
    fake_server: FakePostHog, tmp_path: Path
) -> None:
    fake_server.set_remote_flags({"new-checkout": True})
    fake_server.set_delay("/batch", BATCH_DELAY)
    users = ["ada", "bob", "cy", "dee"]
    logs = tmp_path / "uvicorn.log"

    with _uvicorn(fake_server, logs) as (proc, port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            answers = [http.get(f"/checkout/{user}") for user in users[:3]]
            fake_server.set_remote_flags({"new-checkout": False})
            answers.append(http.get(f"/checkout/{users[3]}"))
        before_stop = _by_event(fake_server.events())
        status = _stop(proc)

    output = logs.read_text(errors="replace")
    # uvicorn stops gracefully, then re-raises the signal it caught (exit status -SIGTERM).
    assert status in (0, -signal.SIGTERM), output
    assert [a.status_code for a in answers] == [200] * 4, output
    assert [a.json() for a in answers] == [
        {"user_id": "ada", "new_checkout": True},
        {"user_id": "bob", "new_checkout": True},
        {"user_id": "cy", "new_checkout": True},
        {"user_id": "dee", "new_checkout": False},
    ]
    assert len(fake_server.requests_to("/flags")) == 4  # no personal key: every check asks /flags
    # /batch takes BATCH_DELAY to answer, so the last events were still queued at SIGTERM ...
    assert before_stop[("checkout viewed", "dee")] == 0
    # ... and the lifespan's shutdown() delivered them before the process exited.
    _check_events(fake_server, users, {"ada": True, "bob": True, "cy": True, "dee": False})
    assert "Application shutdown complete" in output
    assert "Traceback" not in output and "dropped" not in output.lower(), output


def test_example_under_testclient_runs_the_lifespan(
    fake_server: FakePostHog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TestClient runs the app (lifespan and requests alike) on one event loop in a portal thread,
    # kept for the whole `with` block: the client's sender task lives on that loop.
    from fastapi.testclient import TestClient

    from examples.fastapi_app import app

    monkeypatch.setenv("POSTHOG_PROJECT_API_KEY", API_KEY)
    monkeypatch.setenv("POSTHOG_HOST", fake_server.url)
    monkeypatch.delenv("POSTHOG_PERSONAL_API_KEY", raising=False)
    monkeypatch.delenv("POSTHOG_DISABLED", raising=False)
    fake_server.set_remote_flags({"new-checkout": True})
    fake_server.set_delay("/batch", BATCH_DELAY)
    users = ["ada", "bob"]

    started = time.monotonic()
    with TestClient(app) as http:
        answers = [http.get(f"/checkout/{user}") for user in users]
        before_stop = _by_event(fake_server.events())
    stopped_after = time.monotonic() - started

    assert [a.json() for a in answers] == [
        {"user_id": "ada", "new_checkout": True},
        {"user_id": "bob", "new_checkout": True},
    ]
    assert before_stop[("checkout viewed", "bob")] == 0
    _check_events(fake_server, users, {"ada": True, "bob": True})
    assert stopped_after < 10  # shutdown's default bound is 5 s

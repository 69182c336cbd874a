"""Loading and polling flag definitions (flags.md §9, wire.md §7, weaknesses §C 20, §B 19).

Our design: definitions load in the background from construction, a flag call waits at most the
flag timeout for a first load, failures are retried by the poller with backoff (never synchronously
on each flag call), ETag / If-None-Match avoids re-sending unchanged definitions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import posthog
from posthog.poller import MAX_POLL_THREADS, Poller
from tests.conftest import API_KEY
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, definitions
from tests.support.waiting import wait_until

MakeClient = Callable[..., posthog.Client]

FLAGS = "/flags"
DEFS = "/api/feature_flag/local_evaluation"
PERSONAL_KEY = "phx_personal"
WRONG_KEY = "phx_wrong"

ON = FlagBuilder("on", flag_id=1).condition([], rollout=100).build()
OTHER = FlagBuilder("other", flag_id=2).condition([], rollout=100).build()


def defs_requests(server: FakePostHog) -> list[Any]:
    return server.requests_to(DEFS)


def flag_keys(client: posthog.Client) -> list[str] | None:
    flags = client.feature_flags
    return None if flags is None else [f["key"] for f in flags]


@pytest.fixture
def server(fake_server: FakePostHog) -> FakePostHog:
    fake_server.personal_api_key = PERSONAL_KEY
    fake_server.set_flag_definitions(definitions([ON]))
    return fake_server


# --- background loading ---------------------------------------------------------------------


def test_definitions_load_in_the_background_at_construction(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(personal_api_key=PERSONAL_KEY)

    [request] = server.wait_for_requests(DEFS, 1, timeout=3)
    wait_until(lambda: client.feature_flags is not None, timeout=3)

    assert request.method == "GET"
    assert request.query["token"] == [API_KEY]
    assert "send_cohorts" in request.query
    assert request.header("Authorization") == f"Bearer {PERSONAL_KEY}"
    assert request.header("If-None-Match") is None
    assert flag_keys(client) == ["on"]
    assert server.requests_to(FLAGS) == []


def test_no_background_load_without_personal_key_or_when_disabled(
    server: FakePostHog, make_client: MakeClient
) -> None:
    make_client()
    make_client(personal_api_key=PERSONAL_KEY, disabled=True)
    marker = make_client(personal_api_key=PERSONAL_KEY)  # the only one that may ask

    server.wait_for_requests(DEFS, 1, timeout=3)
    wait_until(lambda: marker.feature_flags is not None, timeout=3)
    assert len(defs_requests(server)) == 1


def test_first_flag_call_waits_for_a_load_in_progress(server: FakePostHog, make_client: MakeClient) -> None:
    server.delay_next(DEFS, 0.3)
    server.set_remote_flags({"on": False})
    client = make_client(personal_api_key=PERSONAL_KEY, feature_flags_request_timeout_seconds=3)

    # Decided locally (True) once the slow load lands: the server (which says False) is not asked.
    assert client.get_feature_flag("on", "u") is True
    assert server.requests_to(FLAGS) == []


def test_first_flag_call_waits_at_most_the_flag_timeout(server: FakePostHog, make_client: MakeClient) -> None:
    server.delay_next(DEFS, 1.2)
    server.set_remote_flags({"on": "remote"})
    client = make_client(personal_api_key=PERSONAL_KEY, feature_flags_request_timeout_seconds=0.3)

    started = time.monotonic()
    value = client.get_feature_flag("on", "u")
    elapsed = time.monotonic() - started

    assert value == "remote"  # not loaded in time: asked the server
    assert elapsed < 1.0
    # A second call during the same slow load is bounded the same way.
    started = time.monotonic()
    assert client.get_feature_flag("on", "u2") in ("remote", True)
    assert time.monotonic() - started < 1.0


def test_load_feature_flags_is_synchronous(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client(personal_api_key=PERSONAL_KEY)
    server.set_flag_definitions(definitions([ON, OTHER]))

    client.load_feature_flags()

    assert flag_keys(client) == ["on", "other"]
    assert [f["key"] for f in client.feature_flag_definitions() or []] == ["on", "other"]


def test_load_feature_flags_without_personal_key_sets_empty_definitions(
    server: FakePostHog, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="posthog")
    server.set_remote_flags({"on": "remote"})
    client = make_client()

    client.load_feature_flags()

    assert client.feature_flags == []
    assert any("personal_api_key" in r.getMessage() for r in caplog.records if r.name == "posthog")
    assert client.get_feature_flag("on", "u") == "remote"
    assert defs_requests(server) == []


# --- wait_for_flags -------------------------------------------------------------------------


def test_wait_for_flags_returns_true_once_loaded(server: FakePostHog, make_client: MakeClient) -> None:
    server.delay_next(DEFS, 0.2)
    client = make_client(personal_api_key=PERSONAL_KEY)

    assert client.wait_for_flags(5) is True
    assert flag_keys(client) == ["on"]


def test_wait_for_flags_returns_false_against_401_within_timeout(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(personal_api_key=WRONG_KEY)

    started = time.monotonic()
    assert client.wait_for_flags(0.5) is False
    assert time.monotonic() - started < 1.2
    assert client.feature_flags is None


def test_wait_for_flags_without_personal_key_is_false(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client()

    assert client.wait_for_flags(0.2) is False
    assert defs_requests(server) == []


# --- failures -------------------------------------------------------------------------------


@pytest.mark.serial
def test_401_is_not_refetched_on_each_flag_call(server: FakePostHog, make_client: MakeClient) -> None:
    # weaknesses §C 20: 3.x repeated the blocking GET on every flag call (3 calls -> 3 GETs).
    server.set_remote_flags({"on": "remote"})
    client = make_client(personal_api_key=WRONG_KEY, feature_flags_request_timeout_seconds=2)
    server.wait_for_requests(DEFS, 1, timeout=3)
    wait_until(lambda: defs_requests(server)[0].status == 401)
    # Any further definitions GET (the poller's retry, or a synchronous one) now takes 1 s to answer.
    server.set_delay(DEFS, 1.0)

    started = time.monotonic()
    values = [client.get_feature_flag("on", f"u{i}") for i in range(3)]
    elapsed = time.monotonic() - started

    assert values == ["remote"] * 3
    assert elapsed < 0.9, "a flag call waited for a definitions request"
    assert len(defs_requests(server)) == 1
    assert len(server.requests_to(FLAGS)) == 3


def test_401_is_retried_by_the_poller_with_backoff(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client(personal_api_key=WRONG_KEY, poll_interval=30)

    first, second = server.wait_for_requests(DEFS, 2, timeout=4)[:2]

    assert (first.status, second.status) == (401, 401)
    assert second.time - first.time >= 0.05, "retried in a hot loop"
    assert client.feature_flags is None
    # The server starts accepting the client's key: a retry loads the definitions (long before 30 s).
    server.personal_api_key = WRONG_KEY
    assert client.wait_for_flags(6) is True
    assert flag_keys(client) == ["on"]


def test_401_keeps_loaded_definitions(server: FakePostHog, make_client: MakeClient) -> None:
    server.set_remote_flags({"on": "remote"})
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    assert client.wait_for_flags(3)

    server.personal_api_key = "phx_revoked"
    wait_until(lambda: any(r.status == 401 for r in defs_requests(server)), timeout=3)

    assert flag_keys(client) == ["on"]
    assert client.get_feature_flag("on", "u") is True
    assert server.requests_to(FLAGS) == []


def test_402_clears_definitions(server: FakePostHog, make_client: MakeClient) -> None:
    server.set_remote_flags({"on": "remote"})
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    assert client.wait_for_flags(3)

    server.fail_next(DEFS, status=402, body={"detail": "quota"})
    wait_until(lambda: client.feature_flags == [], timeout=3)

    assert client.get_feature_flag("on", "u") == "remote"


def test_definitions_come_back_after_a_402(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    assert client.wait_for_flags(3)

    server.fail_next(DEFS, status=402, body={"detail": "quota"})
    wait_until(lambda: client.feature_flags == [], timeout=3)
    # Quota restored, definitions unchanged on the server: the client must get them back.
    count = len(defs_requests(server))
    server.wait_for_requests(DEFS, count + 2, timeout=3)

    assert flag_keys(client) == ["on"]


def test_next_poll_replaces_assigned_definitions(server: FakePostHog, make_client: MakeClient) -> None:
    # flags.md §9 / wire.md §7: every successful poll sets the definitions to the server's.
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    assert client.wait_for_flags(3)

    client.feature_flags = [OTHER]
    count = len(defs_requests(server))
    server.wait_for_requests(DEFS, count + 2, timeout=3)

    assert flag_keys(client) == ["on"]


@pytest.mark.parametrize(
    "bad_answer",
    [
        lambda s: s.fail_next(DEFS, status=200, body={"quotaLimited": ["feature_flags"], "flags": []}),
        lambda s: s.fail_next(DEFS, status=200, body={}),
        lambda s: s.fail_next(DEFS, status=200, body={"flags": []}),
        lambda s: s.fail_next(DEFS, status=200, body="not json"),
        lambda s: s.fail_next(DEFS, status=500),
        lambda s: s.fail_next(DEFS, status=403),
        lambda s: s.drop_next(DEFS),
    ],
    ids=["quota-limited-200", "empty-object", "missing-keys", "invalid-json", "500", "403", "dropped"],
)
def test_failed_poll_keeps_definitions(
    server: FakePostHog, make_client: MakeClient, bad_answer: Callable[[FakePostHog], None]
) -> None:
    # wire.md §7: only a 402 resets; every other failure leaves the definitions as they were.
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    assert client.wait_for_flags(3)
    count = len(defs_requests(server))

    bad_answer(server)
    # The poll after the bad answer proves the bad answer was fully handled.
    server.wait_for_requests(DEFS, count + 2, timeout=3)

    assert flag_keys(client) == ["on"]
    assert client.get_feature_flag("on", "u") is True
    assert server.requests_to(FLAGS) == []


def test_server_errors_then_recovery(server: FakePostHog, make_client: MakeClient) -> None:
    server.fail_next(DEFS, times=2, status=500)
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=30)

    assert client.wait_for_flags(6) is True
    assert [r.status for r in defs_requests(server)] == [500, 500, 200]
    assert flag_keys(client) == ["on"]


@pytest.mark.parametrize(
    "failure",
    [
        lambda s: s.drop_next(DEFS),
        lambda s: s.fail_next(DEFS, status=200, body="not json"),
        lambda s: s.fail_next(DEFS, status=200, body={"flags": "not a list"}),
        lambda s: s.fail_next(DEFS, status=503),
    ],
    ids=["dropped", "invalid-json", "malformed", "503"],
)
def test_poller_survives_a_failed_poll(
    server: FakePostHog, make_client: MakeClient, failure: Callable[[FakePostHog], None]
) -> None:
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    assert client.wait_for_flags(3)

    failure(server)
    server.set_flag_definitions(definitions([ON, OTHER]))

    wait_until(lambda: flag_keys(client) == ["on", "other"], timeout=4)
    assert client.poller is not None
    assert client.poller.is_alive()


def test_persistent_401_is_logged_once_per_episode(
    server: FakePostHog, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="posthog")

    def auth_errors() -> int:
        return sum(1 for r in caplog.records if r.name == "posthog" and "personal_api_key" in r.getMessage())

    server.personal_api_key = "phx_revoked"
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    server.wait_for_requests(DEFS, 4, timeout=5)
    assert auth_errors() == 1

    server.personal_api_key = PERSONAL_KEY  # recovered
    assert client.wait_for_flags(3)
    count = len(defs_requests(server))
    server.personal_api_key = "phx_revoked"  # a new episode
    server.wait_for_requests(DEFS, count + 3, timeout=5)

    assert auth_errors() == 2


# --- ETag / If-None-Match ----------------------------------------------------------------------


def test_second_poll_sends_if_none_match_and_304_keeps_the_snapshot(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2)
    assert client.wait_for_flags(3)
    snapshot = client.feature_flags

    first, second = server.wait_for_requests(DEFS, 2, timeout=3)[:2]

    assert first.status == 200
    assert first.header("If-None-Match") is None
    assert second.header("If-None-Match") == server.definitions_etag
    assert second.status == 304
    assert client.feature_flags == snapshot
    assert client.get_feature_flag("on", "u") is True

    server.set_flag_definitions(definitions([OTHER]))
    wait_until(lambda: flag_keys(client) == ["other"], timeout=3)
    assert any(r.status == 200 for r in defs_requests(server)[2:])


# --- the poller thread -----------------------------------------------------------------------


def _poller_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "posthog.poller"]


def test_poller_runs_on_a_shared_named_daemon_thread_and_stops_promptly(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=30)
    assert client.wait_for_flags(3)
    poller = client.poller
    assert poller is not None and poller.is_alive()
    assert poller.thread is not None
    assert poller.thread.name == "posthog.poller"
    assert poller.thread.daemon
    assert poller.thread in _poller_threads()

    started = time.monotonic()
    client.shutdown(timeout=2)

    wait_until(lambda: not poller.is_alive(), timeout=1.5)
    assert time.monotonic() - started < 1.5


def test_many_polling_clients_share_at_most_two_poller_threads(
    server: FakePostHog, make_client: MakeClient
) -> None:
    clients = [make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.2) for _ in range(20)]
    assert all(client.wait_for_flags(3) for client in clients)
    server.wait_for_requests(DEFS, 60, timeout=5)  # every client keeps polling

    assert len(_poller_threads()) <= MAX_POLL_THREADS
    assert all(client.poller is not None and client.poller.is_alive() for client in clients)


def test_no_polling_after_shutdown(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client(personal_api_key=PERSONAL_KEY, poll_interval=0.1)
    server.wait_for_requests(DEFS, 2, timeout=3)
    client.shutdown(timeout=2)
    poller = client.poller
    assert poller is not None
    wait_until(lambda: not poller.is_alive(), timeout=1.5)
    count = len(defs_requests(server))

    # The poller is gone; a marker request proves the server is still there and responsive.
    server.set_remote_flags({"marker": True})
    assert make_client().get_feature_flag("marker", "u") is True
    assert len(defs_requests(server)) == count


def test_flag_call_after_shutdown_does_not_restart_polling(
    server: FakePostHog, make_client: MakeClient
) -> None:
    server.set_remote_flags({"on": "remote"})
    client = make_client(
        personal_api_key=WRONG_KEY, poll_interval=0.2, feature_flags_request_timeout_seconds=0.5
    )
    server.wait_for_requests(DEFS, 1, timeout=3)
    client.shutdown(timeout=2)
    stopped = client.poller
    assert stopped is not None
    wait_until(lambda: not stopped.is_alive(), timeout=1.5)

    assert client.get_feature_flag("on", "u") == "remote"

    poller = client.poller
    assert poller is None or not poller.is_alive(), "polling resumed after shutdown"


@pytest.mark.serial
def test_capture_does_not_wait_for_a_first_load(server: FakePostHog, make_client: MakeClient) -> None:
    server.delay_next(DEFS, 1.0)
    client = make_client(personal_api_key=PERSONAL_KEY)

    started = time.monotonic()
    client.capture("u", "early")
    assert time.monotonic() - started < 0.3
    client.flush(2)

    [event] = [e for e in server.events() if e["event"] == "early"]
    assert not any(k.startswith("$feature") for k in event["properties"])
    assert server.requests_to(FLAGS) == []


def test_shutdown_is_bounded_while_a_definitions_request_hangs(
    server: FakePostHog, make_client: MakeClient
) -> None:
    server.hang(DEFS)
    client = make_client(personal_api_key=PERSONAL_KEY)
    server.wait_for_requests(DEFS, 1, timeout=3)

    started = time.monotonic()
    client.shutdown(timeout=1)
    assert time.monotonic() - started < 2.5


# --- Poller unit (a generic repeating task) ------------------------------------------------------


def test_poller_runs_repeatedly_and_survives_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="posthog")
    calls: list[float] = []

    def flaky() -> None:
        calls.append(time.monotonic())
        if len(calls) % 2:
            raise RuntimeError("boom")

    poller = Poller(0.02, flaky)
    poller.start()
    try:
        wait_until(lambda: len(calls) >= 5, timeout=3)
    finally:
        poller.stop(1.0)

    assert not poller.is_alive()
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records if r.name == "posthog")


def test_poller_uses_the_returned_delay() -> None:
    calls: list[float] = []

    def quick_retry() -> float:
        calls.append(time.monotonic())
        return 0.01

    poller = Poller(30, quick_retry)  # the interval alone would allow one call only
    poller.start()
    try:
        wait_until(lambda: len(calls) >= 3, timeout=3)
    finally:
        poller.stop(1.0)
    assert not poller.is_alive()


@pytest.mark.serial
def test_poller_stop_is_prompt_during_a_long_interval() -> None:
    ran = threading.Event()
    poller = Poller(60, ran.set)
    poller.start()
    assert ran.wait(2)

    started = time.monotonic()
    poller.stop(1.0)

    assert not poller.is_alive()
    assert time.monotonic() - started < 0.5

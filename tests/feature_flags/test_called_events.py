"""``$feature_flag_called`` reporting and its dedupe memory (flags.md §8; weaknesses §B 17, §D 32).

Deliberate differences from 3.x: the real value is reported (also for a locally matched payload
call), no event when the value is undetermined, and ``123`` / ``"123"`` share one dedupe entry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import posthog
from posthog.feature_flags.called_events import CalledEvents
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, definitions, prop

MakeClient = Callable[..., posthog.Client]

FLAGS = "/flags"
PERSONAL_KEY = "phx_personal"
CALLED = "$feature_flag_called"
MARKER = "marker"

ON = FlagBuilder("on", flag_id=1).condition([], rollout=100).payload("true", '{"on": 1}').build()
NO_PAYLOAD = FlagBuilder("no-payload", flag_id=2).condition([], rollout=100).build()
PRO_ONLY = FlagBuilder("pro-only", flag_id=3).condition([prop("plan", "pro")]).build()


def called_events(client: posthog.Client, server: FakePostHog) -> list[dict[str, Any]]:
    """Every ``$feature_flag_called`` sent so far; a marker event proves nothing is still queued."""
    client.capture("marker-user", MARKER)
    assert client.flush(3) == 0
    events = server.events()
    assert any(e["event"] == MARKER for e in events)
    return [e for e in events if e["event"] == CALLED]


@pytest.fixture
def remote_client(make_client: MakeClient) -> posthog.Client:
    return make_client(feature_flags_request_timeout_seconds=0.5)


@pytest.fixture
def local_client(fake_server: FakePostHog, make_client: MakeClient) -> posthog.Client:
    fake_server.personal_api_key = PERSONAL_KEY
    fake_server.set_flag_definitions(definitions([ON, NO_PAYLOAD, PRO_ONLY]))
    client = make_client(personal_api_key=PERSONAL_KEY)
    assert client.wait_for_flags(5)
    return client


# --- once per (distinct id, flag, value) ----------------------------------------------------------


def test_sent_once_per_distinct_id_flag_and_value(
    fake_server: FakePostHog, remote_client: posthog.Client
) -> None:
    fake_server.set_remote_flags({"beta": "control"})
    for _ in range(3):
        remote_client.get_feature_flag("beta", "u1")
    remote_client.feature_enabled("beta", "u1")
    remote_client.get_feature_flag("beta", "u2")
    fake_server.set_remote_flags({"beta": "test"})
    remote_client.get_feature_flag("beta", "u1")
    remote_client.get_feature_flag("beta", "u1")

    sent = [
        (e["distinct_id"], e["properties"]["$feature_flag_response"])
        for e in called_events(remote_client, fake_server)
    ]
    assert sent == [("u1", "control"), ("u2", "control"), ("u1", "test")]


def test_int_and_string_distinct_ids_dedupe_together(
    fake_server: FakePostHog, remote_client: posthog.Client
) -> None:
    fake_server.set_remote_flags({"beta": True})
    remote_client.get_feature_flag("beta", 123)
    remote_client.get_feature_flag("beta", "123")

    assert len(called_events(remote_client, fake_server)) == 1


def test_send_feature_flag_events_false_sends_none(
    fake_server: FakePostHog, remote_client: posthog.Client
) -> None:
    fake_server.set_remote_flags({"beta": True}, payloads={"beta": '"p"'})
    remote_client.get_feature_flag("beta", "u", send_feature_flag_events=False)
    remote_client.feature_enabled("beta", "u", send_feature_flag_events=False)
    remote_client.get_feature_flag_payload("beta", "u", send_feature_flag_events=False)

    assert called_events(remote_client, fake_server) == []
    assert len(remote_client.distinct_ids_feature_flags_reported) == 0


def test_get_all_flags_sends_none(fake_server: FakePostHog, remote_client: posthog.Client) -> None:
    fake_server.set_remote_flags({"beta": True})
    remote_client.get_all_flags("u")
    remote_client.get_all_flags_and_payloads("u")

    assert called_events(remote_client, fake_server) == []


def test_concurrent_calls_send_exactly_one_event(
    fake_server: FakePostHog, local_client: posthog.Client
) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            barrier.wait(5)
            for _ in range(20):
                local_client.get_feature_flag("on", "same-user")
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert not errors
    assert not any(t.is_alive() for t in threads)
    assert len(called_events(local_client, fake_server)) == 1


# --- properties (flags.md §8) -----------------------------------------------------------------


def test_remote_event_properties(fake_server: FakePostHog, remote_client: posthog.Client) -> None:
    fake_server.set_remote_flags(
        {"beta": "test"}, request_id="req-123", metadata={"beta": {"id": 23, "version": 4}}
    )

    assert remote_client.get_feature_flag("beta", "u1", groups={"company": "c1"}) == "test"

    [event] = called_events(remote_client, fake_server)
    props = event["properties"]
    assert event["distinct_id"] == "u1"
    assert props["$feature_flag"] == "beta"
    assert props["$feature_flag_response"] == "test"
    assert props["locally_evaluated"] is False
    assert props["$feature/beta"] == "test"
    assert props["$feature_flag_request_id"] == "req-123"
    assert props["$feature_flag_reason"] == "Matched condition set 1"
    assert props["$feature_flag_version"] == 4
    assert props["$feature_flag_id"] == 23
    assert props["$groups"] == {"company": "c1"}
    assert props["$lib"] == "posthog-python"
    assert props["$geoip_disable"] is True
    assert "$feature_flag_payload" not in props


def test_remote_false_is_reported_as_false(fake_server: FakePostHog, remote_client: posthog.Client) -> None:
    fake_server.set_remote_flags({"beta": False})

    assert remote_client.feature_enabled("beta", "u1") is False

    [event] = called_events(remote_client, fake_server)
    assert event["properties"]["$feature_flag_response"] is False
    assert event["properties"]["$feature_flag_reason"] == "No matching condition set"
    assert "$groups" not in event["properties"]


def test_local_event_properties(fake_server: FakePostHog, local_client: posthog.Client) -> None:
    assert local_client.get_feature_flag("no-payload", "u1", disable_geoip=False) is True

    [event] = called_events(local_client, fake_server)
    props = event["properties"]
    assert props["$feature_flag"] == "no-payload"
    assert props["$feature_flag_response"] is True
    assert props["locally_evaluated"] is True
    assert props["$feature/no-payload"] is True
    assert "$geoip_disable" not in props
    for remote_only in ("$feature_flag_request_id", "$feature_flag_reason", "$feature_flag_version"):
        assert remote_only not in props
    assert fake_server.requests_to(FLAGS) == []


def test_locally_matched_payload_call_reports_the_real_value(
    fake_server: FakePostHog, local_client: posthog.Client
) -> None:
    # weaknesses §D 32: 3.x reported `false` here for a flag that is on.
    assert local_client.get_feature_flag_payload("on", "u1") == '{"on": 1}'

    [event] = called_events(local_client, fake_server)
    props = event["properties"]
    assert props["$feature_flag_response"] is True
    assert props["$feature/on"] is True
    assert props["locally_evaluated"] is True
    assert props["$feature_flag_payload"] == '{"on": 1}'


def test_remote_payload_call_reports_value_and_payload(
    fake_server: FakePostHog, remote_client: posthog.Client
) -> None:
    fake_server.set_remote_flags({"beta": "test"}, payloads={"beta": {"x": 1}}, request_id="r-9")

    assert remote_client.get_feature_flag_payload("beta", "u1") == '{"x": 1}'

    [event] = called_events(remote_client, fake_server)
    props = event["properties"]
    assert props["$feature_flag_response"] == "test"
    assert props["$feature_flag_payload"] == '{"x": 1}'
    assert props["locally_evaluated"] is False
    assert props["$feature_flag_request_id"] == "r-9"


# --- no event when the value is undetermined (weaknesses §D 32) -------------------------------------


def test_no_event_when_only_local_and_inconclusive(
    fake_server: FakePostHog, local_client: posthog.Client
) -> None:
    assert local_client.get_feature_flag("pro-only", "u1", only_evaluate_locally=True) is None
    assert local_client.feature_enabled("pro-only", "u1", only_evaluate_locally=True) is None
    assert local_client.get_feature_flag_payload("pro-only", "u1", only_evaluate_locally=True) is None

    assert called_events(local_client, fake_server) == []


@pytest.mark.parametrize(
    "break_server",
    [
        lambda s: s.fail_next(FLAGS, times=5, status=500),
        lambda s: s.set_remote_flags({"beta": True}, quota_limited=True),
        lambda s: s.set_remote_flags({"other": True}, errors_while_computing=True),
    ],
    ids=["500", "quota-limited", "errors-while-computing"],
)
def test_no_event_when_remote_fails(
    fake_server: FakePostHog, remote_client: posthog.Client, break_server: Callable[[FakePostHog], None]
) -> None:
    break_server(fake_server)

    assert remote_client.get_feature_flag("beta", "u1") is None
    assert remote_client.get_feature_flag_payload("beta", "u1") is None

    assert called_events(remote_client, fake_server) == []


def test_a_failure_does_not_stop_a_later_report(
    fake_server: FakePostHog, remote_client: posthog.Client
) -> None:
    fake_server.set_remote_flags({"beta": True})
    fake_server.fail_next(FLAGS, times=1, status=500)

    assert remote_client.get_feature_flag("beta", "u1") is None
    assert remote_client.get_feature_flag("beta", "u1") is True

    assert [e["properties"]["$feature_flag_response"] for e in called_events(remote_client, fake_server)] == [
        True
    ]


# --- CalledEvents unit (LRU, string keys) ------------------------------------------------------


def test_first_time_is_true_once_per_flag_and_value() -> None:
    memory = CalledEvents()

    assert memory.first_time("u", "beta", True) is True
    assert memory.first_time("u", "beta", True) is False
    assert memory.first_time("u", "beta", False) is True
    assert memory.first_time("u", "beta", "control") is True
    assert memory.first_time("u", "other", True) is True
    assert memory.first_time("v", "beta", True) is True
    assert len(memory) == 2


def test_distinct_ids_are_compared_as_strings() -> None:
    memory = CalledEvents()

    assert memory.first_time(123, "beta", True) is True
    assert memory.first_time("123", "beta", True) is False
    assert 123 in memory
    assert "123" in memory
    assert len(memory) == 1


def test_lru_evicts_the_least_recently_used_id_only() -> None:
    memory = CalledEvents(max_ids=3)
    for ident in ("a", "b", "c"):
        memory.first_time(ident, "beta", True)
    memory.first_time("a", "beta", True)  # touch "a": "b" is now the oldest

    assert memory.first_time("d", "beta", True) is True

    assert len(memory) == 3
    assert "b" not in memory
    assert all(ident in memory for ident in ("a", "c", "d"))
    # The survivors still remember what was reported for them...
    assert memory.first_time("a", "beta", True) is False
    assert memory.first_time("c", "beta", True) is False
    # ...and the evicted id is reported again.
    assert memory.first_time("b", "beta", True) is True


def test_clear_forgets_everything() -> None:
    memory = CalledEvents()
    memory.first_time("a", "beta", True)
    memory.clear()

    assert len(memory) == 0
    assert memory.first_time("a", "beta", True) is True


def test_first_time_is_thread_safe() -> None:
    memory = CalledEvents(max_ids=10)
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait(5)
        for i in range(200):
            first = memory.first_time(f"id-{i % 5}", "beta", True)
            with lock:
                results.append(first)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert results.count(True) == 5

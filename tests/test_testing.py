"""posthog.testing: the recorder, the assertions, fixed flags and the pytest fixture, used as a user would."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path
from unittest.mock import ANY
from uuid import UUID

import pytest

import posthog
from posthog.testing import (
    FlagOverrides,
    RecordingClient,
    assert_captured,
    assert_not_captured,
    find_events,
)
from tests import app_under_test as app
from tests.fake_server import FakePostHog
from tests.support.builders import FlagBuilder, definitions, prop

pytest_plugins = ["posthog.testing.pytest_plugin"]

REPO_ROOT = Path(__file__).resolve().parents[1]
CART = [{"sku": "book-1", "price": "12.50", "quantity": 2}]

# Real local_evaluation JSON: "new-checkout" is on for pro users only; "pricing-test" is a variant flag.
PRO_ONLY = definitions(
    [
        FlagBuilder("new-checkout", flag_id=1).condition([prop("plan", "pro")]).build(),
        FlagBuilder("pricing-test", flag_id=2)
        .condition([prop("plan", "pro")], variant="discount")
        .variants(("control", 50), ("discount", 50))
        .payload("discount", '{"percent": 20}')
        .build(),
    ]
)


# --- the fixture with the application -----------------------------------------------------------


def test_fixture_records_what_the_application_captures(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.flags.flag("new-checkout", True)

    app.checkout("user-1", CART)

    event = assert_captured(
        posthog_recorder,
        "order completed",
        distinct_id="user-1",
        properties={"total": Decimal("25"), "currency": "EUR", "flow": "one-page", "skus": ["book-1"]},
    )
    assert event["properties"]["$groups"] == {"company": "acme"}


def test_fixture_is_the_default_client(posthog_recorder: RecordingClient) -> None:
    posthog.capture("user-1", "anything")

    assert posthog.default_client is posthog_recorder
    assert [e["event"] for e in posthog_recorder.events] == ["anything"]


def test_variant_and_payload_drive_the_discount(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.flags.flag("pricing-test", "discount", payload={"percent": 20})

    result = app.checkout("user-1", CART)

    assert result["total"] == Decimal("20")
    assert_captured(posthog_recorder, "order completed", properties={"discount_percent": 20, "total": 20.0})


def test_per_user_override_wins_over_everyone(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.flags.flag("new-checkout", True).for_user("user-2", "new-checkout", False)

    app.checkout("user-1", CART)
    app.checkout("user-2", CART)

    assert_captured(
        posthog_recorder, "order completed", distinct_id="user-1", properties={"flow": "one-page"}
    )
    assert_captured(posthog_recorder, "order completed", distinct_id="user-2", properties={"flow": "classic"})


def test_an_undecided_flag_is_none_and_the_app_takes_its_default(posthog_recorder: RecordingClient) -> None:
    result = app.checkout("user-1", CART)

    assert posthog.get_feature_flag("new-checkout", "user-1") is None
    assert result["flow"] == "classic"


def test_flag_calls_are_reported_as_in_production(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.flags.flag("new-checkout", True)

    app.checkout("user-1", CART)

    assert_captured(
        posthog_recorder,
        "$feature_flag_called",
        distinct_id="user-1",
        properties={"$feature_flag": "new-checkout", "$feature_flag_response": True},
        count=1,
    )


def test_empty_cart_completes_no_order(posthog_recorder: RecordingClient) -> None:
    app.checkout("user-1", [])

    assert_captured(posthog_recorder, "checkout abandoned", properties={"reason": "empty cart"})
    assert_not_captured(posthog_recorder, "order completed")


def test_sign_up_aliases_then_identifies(posthog_recorder: RecordingClient) -> None:
    app.sign_up("anon-1", "user-1", "ada@example.com")

    alias = assert_captured(
        posthog_recorder, "$create_alias", properties={"distinct_id": "anon-1", "alias": "user-1"}
    )
    identify = assert_captured(posthog_recorder, "$identify", distinct_id="user-1")
    assert identify["$set"] == {"email": "ada@example.com", "plan": "free"}
    assert posthog_recorder.events.index(alias) < posthog_recorder.events.index(identify)


def test_real_definitions_decide_offline(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.flags = FlagOverrides.from_definitions(PRO_ONLY)

    pro = posthog.get_feature_flag("new-checkout", "user-1", person_properties={"plan": "pro"})
    free = posthog.get_feature_flag("new-checkout", "user-1", person_properties={"plan": "free"})

    assert (pro, free) == (True, False)


def test_module_setting_disabled_is_lifted_for_the_test(posthog_recorder: RecordingClient) -> None:
    # Test settings often say posthog.disabled = True; the fixture put it back to False.
    assert posthog.disabled is False

    posthog.capture("user-1", "recorded anyway")

    assert_captured(posthog_recorder, "recorded anyway")


# --- the fixture's lifecycle, in a separate pytest run ------------------------------------------

FIXTURE_LIFECYCLE = """
import posthog
from posthog.testing import RecordingClient

ORIGINAL = posthog.Client("phc_original", send=False)

def test_1_before():
    posthog.default_client = ORIGINAL
    posthog.host = "https://eu.i.posthog.com"
    posthog.disabled = True

def test_2_with_the_fixture(posthog_recorder):
    assert isinstance(posthog.default_client, RecordingClient)
    assert posthog.disabled is False
    posthog.host = "http://changed.invalid"
    posthog.capture("u1", "inside")
    assert posthog_recorder.events[0]["event"] == "inside"

def test_3_after():
    assert posthog.default_client is ORIGINAL
    assert posthog.host == "https://eu.i.posthog.com"
    assert posthog.disabled is True

def test_4_a_readable_failure(posthog_recorder):
    posthog.capture("user-1", "order completed", {"total": 40, "currency": "EUR"})
    from posthog.testing import assert_captured
    assert_captured(posthog_recorder, "order completed", properties={"total": 42})
"""


def _run_pytest(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_lifecycle.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("POSTHOG_DISABLED", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fixture_restores_the_default_client_and_settings(tmp_path: Path) -> None:
    result = _run_pytest(tmp_path, FIXTURE_LIFECYCLE, "-p", "posthog.testing.pytest_plugin")

    assert "1 failed, 3 passed" in result.stdout, result.stdout + result.stderr
    # pytest shows the assertion's own message for the deliberate failure.
    assert "no captured event matches event='order completed'" in result.stdout
    assert "total: expected 42, got 40" in result.stdout
    assert "_assertions.py" not in result.stdout  # the helper's own frames are hidden


def test_plugin_is_opt_in(tmp_path: Path) -> None:
    result = _run_pytest(tmp_path, "def test_x(posthog_recorder):\n    pass\n")

    assert "fixture 'posthog_recorder' not found" in result.stdout


# --- readable failures --------------------------------------------------------------------------


def test_failure_lists_the_closest_candidates_key_by_key() -> None:
    recorder = RecordingClient()
    recorder.capture("user-1", "checkout started", {"flow": "classic"})
    recorder.capture("user-1", "order completed", {"total": 40, "Currency": "EUR", "flow": "classic"})
    recorder.capture("user-2", "order completed", {"total": 42})

    with pytest.raises(AssertionError) as failure:
        assert_captured(
            recorder,
            "order completed",
            distinct_id="user-1",
            properties={"total": 42, "currency": "EUR", "flow": "classic"},
        )

    assert str(failure.value) == textwrap.dedent(
        """\
        no captured event matches event='order completed', distinct_id='user-1', properties including {'total': 42, 'currency': 'EUR', 'flow': 'classic'}
          recorded 3 event(s): 'order completed' x2, 'checkout started' x1
          closest:
          - events[1] 'order completed' for 'user-1'
              total: expected 42, got 40
              currency: missing (did you mean 'Currency'?)
          - events[2] 'order completed' for 'user-2'
              distinct_id: expected 'user-1', got 'user-2'
              currency: missing (the event has: total)
              flow: missing (the event has: total)"""  # noqa: E501 - the message is one long line
    )


def test_failure_says_when_nothing_was_recorded() -> None:
    with pytest.raises(AssertionError, match="no events were recorded at all"):
        assert_captured(RecordingClient(), "order completed")


def test_failure_on_count_lists_the_matches() -> None:
    recorder = RecordingClient()
    recorder.capture("user-1", "page viewed")
    recorder.capture("user-1", "page viewed")

    with pytest.raises(AssertionError) as failure:
        assert_captured(recorder, "page viewed", count=1)

    assert str(failure.value).splitlines() == [
        "expected 1 captured event(s) matching event='page viewed', found 2:",
        "  - events[0] 'page viewed' for 'user-1'",
        "  - events[1] 'page viewed' for 'user-1'",
    ]


def test_assert_not_captured_shows_the_offending_event() -> None:
    recorder = RecordingClient()
    recorder.capture("user-1", "order completed", {"total": 40, "secret": "x"})

    with pytest.raises(AssertionError) as failure:
        assert_not_captured(recorder, "order completed", properties={"total": 40})

    assert str(failure.value).splitlines() == [
        "expected no captured event matching event='order completed', "
        "properties including {'total': 40}, found 1:",
        "  - events[0] 'order completed' for 'user-1' with {'total': 40}",
    ]


# --- matching -------------------------------------------------------------------------------------


def test_values_compare_as_on_the_wire() -> None:
    recorder = RecordingClient()
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    recorder.capture("user-1", "e", {"price": Decimal("9.5"), "at": when, "flag": True, "count": 1})

    assert_captured(recorder, properties={"price": Decimal("9.5"), "at": when, "flag": True, "count": ANY})
    assert find_events(recorder, properties={"flag": 1}) == []  # True is not 1 in JSON
    assert find_events(recorder, properties={"count": True}) == []


def test_find_events_filters_and_accepts_a_plain_list() -> None:
    events = [
        {"event": "a", "distinct_id": "1", "properties": {"x": 1}},
        {"event": "a", "distinct_id": "2", "properties": {"x": 2}},
        {"event": "b", "distinct_id": "1", "properties": {}},
    ]

    assert find_events(events, "a") == events[:2]
    assert find_events(events, distinct_id=1) == [events[0], events[2]]
    assert find_events(events, properties={"x": 2}) == [events[1]]


def test_helpers_take_the_fake_servers_events_too(fake_server: FakePostHog) -> None:
    client = posthog.Client("phc_x", host=fake_server.url, flush_interval=0.05)
    client.capture("user-1", "sent", {"n": 1})
    client.flush(2)

    assert_captured(fake_server.events(), "sent", properties={"n": 1})
    client.shutdown(2)


# --- RecordingClient ------------------------------------------------------------------------------


def test_events_are_the_messages_as_sent() -> None:
    recorder = RecordingClient(super_properties={"app": "shop"})

    recorder.capture("user-1", "e", {"tags": ("a",), "id": UUID(int=1)}, timestamp=dt.date(2024, 1, 2))

    (event,) = recorder.events
    assert event["uuid"] and event["timestamp"] == "2024-01-02T00:00:00+00:00"
    assert event["properties"]["$lib"] == "posthog-python"
    assert event["properties"]["app"] == "shop"
    assert event["properties"]["tags"] == ["a"]
    assert event["properties"]["id"] == "00000000-0000-0000-0000-000000000001"
    assert json.loads(json.dumps(event)) == event


def test_recorder_starts_no_thread_and_contacts_no_server(fake_server: FakePostHog) -> None:
    before = {t.ident for t in threading.enumerate()}
    recorder = RecordingClient(host=fake_server.url, flags={"beta": True})

    recorder.capture("user-1", "e", send_feature_flags=True)
    recorder.get_feature_flag("unknown", "user-1")
    recorder.get_all_flags_and_payloads("user-1")
    recorder.get_feature_variants("user-1")
    recorder.get_remote_config_payload("beta")
    recorder.load_feature_flags()
    assert recorder.flush(1) == 0
    recorder.shutdown(1)

    assert {t.ident for t in threading.enumerate()} - before == set()
    assert fake_server.requests == []


def test_capture_with_send_feature_flags_carries_the_overrides() -> None:
    recorder = RecordingClient(flags=FlagOverrides().flag("beta", True).flag("exp", "b"))

    recorder.capture("user-1", "e", send_feature_flags=True)

    assert_captured(
        recorder,
        "e",
        properties={"$feature/beta": True, "$feature/exp": "b", "$active_feature_flags": ["beta", "exp"]},
    )


def test_overrides_apply_on_top_of_definitions_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(PRO_ONLY))
    recorder = RecordingClient(
        flags=FlagOverrides().for_user("vip", "new-checkout", True), flag_definitions=path
    )

    assert recorder.get_feature_flag("new-checkout", "vip") is True
    assert recorder.get_feature_flag("new-checkout", "u", person_properties={"plan": "free"}) is False
    assert recorder.get_feature_flag("new-checkout", "u", person_properties={"plan": "pro"}) is True
    assert recorder.get_feature_flag("not-defined", "u") is None


def test_payloads_are_returned_as_posthog_stores_them() -> None:
    recorder = RecordingClient(
        flags=FlagOverrides().flag("exp", "b", payload={"a": 1}).flag("raw", True, payload="x")
    )

    assert recorder.get_feature_flag_payload("exp", "u") == '{"a": 1}'
    assert recorder.get_feature_flag_payload("raw", "u") == "x"
    assert recorder.get_all_flags_and_payloads("u")["featureFlagPayloads"] == {"exp": '{"a": 1}', "raw": "x"}
    assert recorder.get_remote_config_payload("exp") == '{"a": 1}'


def test_clear_forgets_recorded_events() -> None:
    recorder = RecordingClient()
    recorder.capture("user-1", "e")

    recorder.clear()

    assert recorder.events == []


def test_kill_switch_env_does_not_silence_the_recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_DISABLED", "1")

    recorder = RecordingClient()
    recorder.capture("user-1", "e")
    disabled = RecordingClient(disabled=True)
    disabled.capture("user-1", "e")

    assert len(recorder.events) == 1
    assert disabled.events == []
    # and its flags still answer from the overrides, through every flag call
    flagged = RecordingClient(flags={"f": True})
    assert flagged.get_feature_flag("f", "user-1") is True
    assert flagged.feature_enabled("f", "user-1") is True
    assert flagged.get_all_flags("user-1") == {"f": True}


@pytest.mark.parametrize("option", ["send", "personal_api_key", "flag_definitions_cache"])
def test_options_that_would_send_are_refused(option: str) -> None:
    with pytest.raises(TypeError, match=option):
        RecordingClient(**{option: "x"})


def test_invalid_overrides_raise_at_the_call_site() -> None:
    with pytest.raises(TypeError, match="value must be a bool or a variant name"):
        FlagOverrides().flag("beta", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flags"):
        FlagOverrides.from_definitions({"cohorts": {}})


def test_importing_posthog_testing_needs_no_pytest_and_starts_nothing() -> None:
    code = (
        "import sys, threading; sys.modules['pytest'] = None\n"
        "import posthog.testing as t\n"
        "r = t.RecordingClient(); r.capture('u', 'e'); t.assert_captured(r, 'e')\n"
        "print(threading.active_count())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert result.stdout.strip() == "1"

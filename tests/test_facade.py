"""The module facade: settings, lazy default client, per-call re-application (spec: api.md §2, §3).

Deliberate differences from 3.25.0: `project_root` and `privacy_mode` reach the default client
(weaknesses.md 39), `posthog.screen()` works (29), the first call is thread-safe (14), and
`debug` never configures the root logger nor overrides the application's level (38).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import posthog
from tests.fake_server import FakePostHog

ClientFactory = Callable[..., posthog.Client]

REPO_ROOT = Path(__file__).resolve().parents[1]

# api.md §2: every module setting and its default.
SETTINGS_DEFAULTS: dict[str, Any] = {
    "api_key": None,
    "project_api_key": None,
    "host": None,
    "on_error": None,
    "debug": False,
    "send": True,
    "sync_mode": False,
    "disabled": False,
    "personal_api_key": None,
    "poll_interval": 30,
    "disable_geoip": True,
    "feature_flags_request_timeout_seconds": 3,
    "super_properties": None,
    "enable_exception_autocapture": False,
    "exception_autocapture_integrations": [],
    "log_captured_exceptions": False,
    "project_root": None,
    "privacy_mode": False,
    "default_client": None,
    "max_retries": 3,  # ours: 3.x had no module setting; setting it asks for 3.x's retry contract
}
NOT_SETTINGS = ["gzip", "max_queue_size", "flush_at", "flush_interval", "timeout", "thread"]


@pytest.fixture
def configured(fake_server: FakePostHog) -> Iterator[FakePostHog]:
    """The facade pointed at ``fake_server``; the default client is shut down before the server."""
    posthog.api_key = "phc_facade"
    posthog.host = fake_server.url
    yield fake_server
    if posthog.default_client is not None:
        posthog.default_client.shutdown(timeout=2)


def test_settings_and_defaults_in_a_fresh_interpreter() -> None:
    names = [*SETTINGS_DEFAULTS, *NOT_SETTINGS]
    code = (
        "import json, posthog; names = json.loads(input()); "
        "print(json.dumps({n: getattr(posthog, n, '<missing>') for n in names}))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(names),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    values = json.loads(result.stdout)
    assert {n: values[n] for n in SETTINGS_DEFAULTS} == SETTINGS_DEFAULTS
    assert {n: values[n] for n in NOT_SETTINGS} == dict.fromkeys(NOT_SETTINGS, "<missing>")


def test_no_client_exists_before_the_first_call(configured: FakePostHog) -> None:
    assert posthog.default_client is None

    posthog.capture("u", "e")

    assert isinstance(posthog.default_client, posthog.Client)


def test_default_client_is_built_from_the_settings(configured: FakePostHog, tmp_path: Path) -> None:
    def on_error(error: Exception, batch: Any) -> None: ...

    posthog.personal_api_key = "phx_personal"
    posthog.poll_interval = 45
    posthog.disable_geoip = False
    posthog.feature_flags_request_timeout_seconds = 7
    posthog.super_properties = {"app": "shop"}
    posthog.on_error = on_error
    posthog.project_root = str(tmp_path)
    posthog.privacy_mode = True
    posthog.sync_mode = True

    posthog.capture("u", "e")

    client = posthog.default_client
    assert client is not None
    assert (client.api_key, client.host, client.personal_api_key) == (
        "phc_facade",
        configured.url,
        "phx_personal",
    )
    assert (client.poll_interval, client.disable_geoip, client.feature_flags_request_timeout_seconds) == (
        45,
        False,
        7,
    )
    assert client.super_properties == {"app": "shop"}
    assert client.on_error is on_error
    assert client.project_root == str(tmp_path)
    assert client.privacy_mode is True
    assert client.sync_mode is True
    [event] = configured.events()  # sync mode: already there
    assert event["properties"]["app"] == "shop"
    assert "$geoip_disable" not in event["properties"]


def test_send_false_setting_reaches_the_client(configured: FakePostHog) -> None:
    posthog.send = False

    ok, msg = posthog.capture("u", "e")
    posthog.flush()

    assert ok is True and msg["event"] == "e"
    assert configured.requests == []


def test_project_api_key_wins_over_api_key(configured: FakePostHog) -> None:
    posthog.project_api_key = "phc_project"

    posthog.capture("u", "e")
    posthog.flush()

    configured.wait_for_events(1)
    assert configured.batches()[0]["api_key"] == "phc_project"


def test_later_setting_changes_are_ignored(configured: FakePostHog) -> None:
    posthog.capture("u", "first")
    client = posthog.default_client
    assert client is not None

    with FakePostHog() as other:
        posthog.host = other.url
        posthog.api_key = "phc_other"
        posthog.super_properties = {"late": True}
        posthog.capture("u", "second")
        posthog.flush()

        assert posthog.default_client is client
        assert other.requests == []
    events = configured.wait_for_events(2)
    assert {b["api_key"] for b in configured.batches()} == {"phc_facade"}
    assert "late" not in events[1]["properties"]


def test_disabled_is_reapplied_on_every_call(configured: FakePostHog) -> None:
    assert posthog.capture("u", "on-1")[0] is True

    posthog.disabled = True
    assert posthog.capture("u", "off") == (False, "disabled")
    assert posthog.identify("u", {"a": 1}) == (False, "disabled")

    posthog.disabled = False
    assert posthog.capture("u", "on-2")[0] is True
    posthog.flush()

    assert [e["event"] for e in configured.wait_for_events(2)] == ["on-1", "on-2"]


def test_debug_is_reapplied_on_every_call(configured: FakePostHog) -> None:
    posthog.capture("u", "e")
    client = posthog.default_client
    assert client is not None and client.debug is False

    posthog.debug = True
    posthog.capture("u", "e")
    assert client.debug is True

    posthog.debug = False
    posthog.capture("u", "e")
    assert client.debug is False


def test_assigned_default_client_is_used(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    mine = make_client(api_key="phc_mine", sync_mode=True)
    posthog.default_client = mine

    posthog.capture("u", "through-mine")

    assert posthog.default_client is mine
    [batch] = fake_server.batches()
    assert batch["api_key"] == "phc_mine"
    assert batch["batch"][0]["event"] == "through-mine"


@pytest.mark.parametrize(
    "call",
    [
        lambda: posthog.capture("u", "e"),
        lambda: posthog.identify("u", {}),
        lambda: posthog.get_feature_flag("flag", "u"),
        posthog.flush,
        posthog.shutdown,
    ],
    ids=["capture", "identify", "get_feature_flag", "flush", "shutdown"],
)
def test_facade_without_a_key_raises_and_stores_no_client(call: Callable[[], Any]) -> None:
    with pytest.raises(AssertionError, match="api_key"):
        call()

    assert posthog.default_client is None


def test_facade_retries_creation_once_a_key_is_set(fake_server: FakePostHog) -> None:
    posthog.host = fake_server.url
    posthog.sync_mode = True
    with pytest.raises(AssertionError):
        posthog.capture("u", "e")

    posthog.api_key = "phc_late"
    ok, _ = posthog.capture("u", "e")

    assert ok is True
    assert fake_server.batches()[0]["api_key"] == "phc_late"


def test_screen_works(configured: FakePostHog) -> None:
    result = posthog.screen("u", "Home", {"tab": 1})
    posthog.flush()

    assert result is None
    [event] = configured.wait_for_events(1)
    assert event["event"] == "$screen"
    assert (event["properties"]["$screen_name"], event["properties"]["tab"]) == ("Home", 1)


def test_page_returns_none_and_sends(configured: FakePostHog) -> None:
    result = posthog.page("u", "https://example.com")
    posthog.flush()

    assert result is None
    [event] = configured.wait_for_events(1)
    assert event["properties"]["$current_url"] == "https://example.com"


def test_lifecycle_calls_return_none(configured: FakePostHog) -> None:
    posthog.capture("u", "e")

    assert posthog.flush() is None
    assert posthog.join() is None
    assert posthog.shutdown() is None
    assert len(configured.events()) == 1


def test_event_calls_return_the_client_result(configured: FakePostHog) -> None:
    ok, msg = posthog.identify("u", {"plan": "pro"})

    assert ok is True
    assert msg["$set"] == {"plan": "pro"}


def test_facade_event_calls_accept_3x_positional_arguments(configured: FakePostHog) -> None:
    ts = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    uid = "01234567-89ab-7cde-8f01-23456789abcd"

    posthog.capture("u", "c", {"a": 1}, None, ts, uid, {"company": "x"}, False, False)
    posthog.identify("u", {"b": 2}, None, ts, uid, False)
    posthog.set("u", {"b": 3}, None, ts, uid, False)
    posthog.set_once("u", {"b": 4}, None, ts, uid, False)
    posthog.group_identify("company", "x", {"c": 3}, None, ts, uid, False)
    posthog.alias("u", "v", None, ts, uid, False)
    posthog.page("u", "https://x", {"d": 4}, None, ts, uid, False)
    posthog.flush()

    events = configured.wait_for_events(7)
    assert [e["event"] for e in events] == [
        "c",
        "$identify",
        "$set",
        "$set_once",
        "$groupidentify",
        "$create_alias",
        "$pageview",
    ]
    assert {(e["timestamp"], e["uuid"]) for e in events} == {("2024-05-06T07:08:09+00:00", uid)}
    assert not any("$geoip_disable" in e["properties"] for e in events)
    assert events[0]["properties"]["$groups"] == {"company": "x"}


def test_facade_flag_options_are_positional(configured: FakePostHog) -> None:
    configured.set_remote_flags({"beta": "test"})

    value = posthog.get_feature_flag("beta", "u", {"company": "acme"}, {"plan": "pro"}, {}, False, False)

    assert value == "test"
    body = configured.requests_to("/flags")[0].json
    assert body["groups"] == {"company": "acme"}
    assert body["person_properties"]["plan"] == "pro"


# --- logging --------------------------------------------------------------------------------------------


def test_debug_does_not_configure_the_root_logger(fake_server: FakePostHog) -> None:
    root = logging.getLogger()
    saved = list(root.handlers)
    level_before = root.level
    # logging.basicConfig() is a no-op when the root logger has handlers (pytest adds some).
    for handler in saved:
        root.removeHandler(handler)
    try:
        client = posthog.Client("phc_k", host=fake_server.url, debug=True, send=False)
        root_handlers = list(root.handlers)
        client.debug = False
    finally:
        for handler in saved:
            root.addHandler(handler)

    assert root_handlers == []
    assert root.level == level_before


def test_debug_adds_a_handler_only_when_the_app_has_none(fake_server: FakePostHog) -> None:
    logger = logging.getLogger("posthog")
    saved = list(logger.handlers)
    for handler in saved:
        logger.removeHandler(handler)
    own = logging.NullHandler()
    try:
        client = posthog.Client("phc_k", host=fake_server.url, debug=True, send=False)
        added = list(logger.handlers)
        effective = logger.getEffectiveLevel()
        client.debug = False
        after_off = list(logger.handlers)

        logger.addHandler(own)
        client.debug = True
        with_app_handler = list(logger.handlers)
        client.debug = False
    finally:
        logger.removeHandler(own)
        for handler in saved:
            logger.addHandler(handler)

    assert len(added) == 1
    assert effective == logging.DEBUG
    assert after_off == []
    assert with_app_handler == [own]


def test_app_level_survives_constructing_clients(fake_server: FakePostHog) -> None:
    logger = logging.getLogger("posthog")
    logger.setLevel(logging.ERROR)

    posthog.Client("phc_k", host=fake_server.url, send=False)
    posthog.Client("phc_k", host=fake_server.url, send=False, debug=False)

    assert logger.level == logging.ERROR


def test_app_level_is_restored_when_debug_goes_back_off(configured: FakePostHog) -> None:
    logger = logging.getLogger("posthog")
    logger.setLevel(logging.ERROR)

    posthog.debug = True
    posthog.capture("u", "e")
    assert logger.level == logging.DEBUG

    posthog.debug = False
    posthog.capture("u", "e")
    assert logger.level == logging.ERROR

"""What the fake PostHog receives for every call type (spec: wire.md §2, §3, §5, §9; api.md §5).

Where we differ from posthog 3.25.0 on purpose (CHANGELOG): every event carries a UUIDv7 `uuid`,
timestamps are normalised to UTC, user properties win over the system context, `page()` leaves the
caller's dict alone, and `screen()` works.
"""

from __future__ import annotations

import gzip
import json
import platform
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import posthog
from tests.fake_server import FakePostHog

ClientFactory = Callable[..., posthog.Client]

REPO_ROOT = Path(__file__).resolve().parents[1]
API_KEY = "phc_test_key"  # what conftest's make_client uses
TS = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
TS_TEXT = "2024-05-06T07:08:09+00:00"
UUID_TEXT = "01234567-89ab-7cde-8f01-23456789abcd"
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SYSTEM_KEYS = ("$python_runtime", "$python_version", "$os", "$os_version")


def _linux_version_id() -> str:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "VERSION_ID":
                return value.strip().strip("\"'")
        return ""
    return ""


def _expected_system_context() -> dict[str, str]:
    """wire.md §2, system context table."""
    plat = sys.platform
    if plat.startswith("win"):
        os_name, os_version = "Windows", platform.win32_ver()[0]
    elif plat == "darwin":
        os_name, os_version = "Mac OS X", platform.mac_ver()[0]
    elif plat.startswith("linux"):
        os_name, os_version = "Linux", _linux_version_id()
    elif plat.startswith("freebsd"):
        os_name, os_version = "FreeBSD", platform.release()
    else:
        os_name, os_version = plat, platform.release()
    info = sys.version_info
    return {
        "$python_runtime": platform.python_implementation(),
        "$python_version": f"{info.major}.{info.minor}.{info.micro}",
        "$os": os_name,
        "$os_version": os_version,
    }


SYSTEM = _expected_system_context()
LIB = {"$lib": "posthog-python", "$lib_version": posthog.VERSION, "$geoip_disable": True}


def _delivered(client: posthog.Client, server: FakePostHog, n: int = 1) -> list[dict[str, Any]]:
    client.flush()
    return server.wait_for_events(n)


def _posthog_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("posthog.")}


# --- one message per call type ---------------------------------------------------------------------


def test_capture_message(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.capture("user-1", "movie played", {"movie_id": "123"}, timestamp=TS, uuid=UUID_TEXT)

    [event] = _delivered(client, fake_server)

    assert event == {
        "event": "movie played",
        "distinct_id": "user-1",
        "properties": {"movie_id": "123", **SYSTEM, **LIB},
        "timestamp": TS_TEXT,
        "uuid": UUID_TEXT,
    }


def test_capture_with_groups_sets_dollar_groups(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.capture("u", "e", {"$groups": {"old": "x"}}, groups={"company": "acme", "project": 5})

    [event] = _delivered(client, fake_server)

    assert event["properties"]["$groups"] == {"company": "acme", "project": 5}


def test_capture_passes_set_and_set_once_in_properties_through(
    client: posthog.Client, fake_server: FakePostHog
) -> None:
    props = {"$set": {"plan": "pro"}, "$set_once": {"first_seen": "2024-01-01"}}
    client.capture("u", "upgraded", props)

    [event] = _delivered(client, fake_server)

    assert event["properties"]["$set"] == {"plan": "pro"}
    assert event["properties"]["$set_once"] == {"first_seen": "2024-01-01"}
    assert "$set" not in event


@pytest.mark.parametrize(
    ("method", "event_name", "slot"),
    [("identify", "$identify", "$set"), ("set", "$set", "$set"), ("set_once", "$set_once", "$set_once")],
)
def test_person_property_messages(
    client: posthog.Client, fake_server: FakePostHog, method: str, event_name: str, slot: str
) -> None:
    getattr(client, method)("user-1", {"email": "a@b.c"}, timestamp=TS, uuid=UUID_TEXT)

    [event] = _delivered(client, fake_server)

    assert event == {
        "event": event_name,
        "distinct_id": "user-1",
        slot: {"email": "a@b.c"},
        "properties": LIB,
        "timestamp": TS_TEXT,
        "uuid": UUID_TEXT,
    }


def test_identify_without_properties_still_sends_an_empty_set(
    client: posthog.Client, fake_server: FakePostHog
) -> None:
    client.identify("user-1")

    [event] = _delivered(client, fake_server)

    assert event["$set"] == {}


def test_group_identify_with_numeric_key(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.group_identify("company", 5, {"employees": 11}, timestamp=TS, uuid=UUID_TEXT)

    [event] = _delivered(client, fake_server)

    assert event == {
        "event": "$groupidentify",
        "distinct_id": "$company_5",
        "properties": {"$group_type": "company", "$group_key": 5, "$group_set": {"employees": 11}, **LIB},
        "timestamp": TS_TEXT,
        "uuid": UUID_TEXT,
    }


def test_group_identify_with_explicit_distinct_id(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.group_identify("company", "acme", distinct_id="user-9")

    [event] = _delivered(client, fake_server)

    assert event["distinct_id"] == "user-9"
    assert event["properties"]["$group_set"] == {}


def test_alias_message_keeps_the_callers_uuid(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.alias("old-id", "new-id", timestamp=TS, uuid=UUID_TEXT)

    [event] = _delivered(client, fake_server)

    assert event == {
        "event": "$create_alias",
        "distinct_id": "old-id",
        "properties": {"distinct_id": "old-id", "alias": "new-id", **LIB},
        "timestamp": TS_TEXT,
        "uuid": UUID_TEXT,
    }


def test_alias_keeps_raw_id_types_inside_properties(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.alias(5, 6)

    [event] = _delivered(client, fake_server)

    assert event["distinct_id"] == "5"
    assert (event["properties"]["distinct_id"], event["properties"]["alias"]) == (5, 6)


def test_page_message(client: posthog.Client, fake_server: FakePostHog) -> None:
    props = {"p": 1}
    client.page("user-1", "https://example.com/x", props, timestamp=TS, uuid=UUID_TEXT)

    [event] = _delivered(client, fake_server)

    assert event == {
        "event": "$pageview",
        "distinct_id": "user-1",
        "properties": {"p": 1, "$current_url": "https://example.com/x", **LIB},
        "timestamp": TS_TEXT,
        "uuid": UUID_TEXT,
    }
    assert props == {"p": 1}  # 3.x wrote $current_url into the caller's dict


def test_screen_message(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.screen("user-1", "Home", {"tab": 2}, timestamp=TS, uuid=UUID_TEXT)

    [event] = _delivered(client, fake_server)

    assert event == {
        "event": "$screen",
        "distinct_id": "user-1",
        "properties": {"tab": 2, "$screen_name": "Home", **LIB},
        "timestamp": TS_TEXT,
        "uuid": UUID_TEXT,
    }


def test_capture_exception_basic(client: posthog.Client, fake_server: FakePostHog) -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        result = client.capture_exception(exc, "user-1", {"where": "checkout"})

    [event] = _delivered(client, fake_server)

    assert result is not None and result[0] is True
    assert (event["event"], event["distinct_id"]) == ("$exception", "user-1")
    props = event["properties"]
    assert (props["$exception_type"], props["$exception_message"]) == ("ValueError", "boom")
    [entry] = props["$exception_list"]
    assert (entry["type"], entry["value"]) == ("ValueError", "boom")
    assert props["$exception_personURL"] == f"{fake_server.url}/project/{API_KEY}/person/user-1"
    assert props["where"] == "checkout"
    assert {k: props[k] for k in SYSTEM_KEYS} == SYSTEM
    assert UUID7.match(event["uuid"])


def test_capture_exception_without_distinct_id_is_personless(
    client: posthog.Client, fake_server: FakePostHog
) -> None:
    try:
        raise KeyError("k")
    except KeyError:
        client.capture_exception()

    [event] = _delivered(client, fake_server)

    assert event["properties"]["$process_person_profile"] is False
    assert uuid.UUID(event["distinct_id"])
    assert event["properties"]["$exception_type"] == "KeyError"


# --- properties added by the pipeline ---------------------------------------------------------------


def test_system_context_only_on_capture(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.capture("u", "e")
    client.identify("u", {"a": 1})
    client.set("u", {"a": 1})
    client.set_once("u", {"a": 1})
    client.group_identify("company", "acme")
    client.alias("u", "v")
    client.page("u", "https://x")

    events = _delivered(client, fake_server, 7)

    with_system = [e["event"] for e in events if set(SYSTEM_KEYS) & set(e["properties"])]
    assert with_system == ["e"]
    assert {k: events[0]["properties"][k] for k in SYSTEM_KEYS} == SYSTEM


def test_user_properties_win_over_system_context(client: posthog.Client, fake_server: FakePostHog) -> None:
    # Deliberate difference from 3.x (weaknesses.md 41): a relay can set the device's OS.
    client.capture("u", "e", {"$os": "iOS", "$os_version": "17.1"})

    [event] = _delivered(client, fake_server)

    assert (event["properties"]["$os"], event["properties"]["$os_version"]) == ("iOS", "17.1")
    assert event["properties"]["$python_runtime"] == SYSTEM["$python_runtime"]


def test_lib_properties_override_user_values(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.capture("u", "e", {"$lib": "mine", "$lib_version": "0"})

    [event] = _delivered(client, fake_server)

    assert (event["properties"]["$lib"], event["properties"]["$lib_version"]) == (
        "posthog-python",
        posthog.VERSION,
    )


def test_super_properties_win_over_everything(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client(super_properties={"$lib": "wrapped", "$os": "Plan9", "app": "super", "$groups": "s"})
    client.capture("u", "e", {"app": "user"}, groups={"company": "acme"})
    client.identify("u", {"x": 1})

    captured, identified = _delivered(client, fake_server, 2)

    for event in (captured, identified):
        assert event["properties"]["$lib"] == "wrapped"
        assert event["properties"]["app"] == "super"
        assert event["properties"]["$groups"] == "s"
    assert captured["properties"]["$os"] == "Plan9"


def test_geoip_disable_per_client_and_per_call(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    default = make_client()
    allowing = make_client(disable_geoip=False)
    default.capture("u", "default")
    default.capture("u", "call-false", disable_geoip=False)
    allowing.capture("u", "client-false")
    allowing.capture("u", "client-false-call-true", disable_geoip=True)
    default.flush()
    allowing.flush()

    events = {e["event"]: e["properties"] for e in fake_server.wait_for_events(4)}

    assert events["default"]["$geoip_disable"] is True
    assert "$geoip_disable" not in events["call-false"]
    assert "$geoip_disable" not in events["client-false"]
    assert events["client-false-call-true"]["$geoip_disable"] is True


def test_distinct_ids_are_sent_as_strings(client: posthog.Client, fake_server: FakePostHog) -> None:
    some_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    client.capture(5, "int")
    client.capture(some_uuid, "uuid")
    client.capture(True, "bool")

    events = _delivered(client, fake_server, 3)

    assert [e["distinct_id"] for e in events] == ["5", str(some_uuid), "True"]


# --- uuid -------------------------------------------------------------------------------------------


def test_every_event_gets_a_unique_uuid7(client: posthog.Client, fake_server: FakePostHog) -> None:
    before_ms = int(time.time() * 1000)
    for i in range(20):
        client.capture("u", f"e{i}")
    client.identify("u")
    client.alias("u", "v")
    client.group_identify("company", 1)
    client.page("u", "https://x")
    after_ms = int(time.time() * 1000)

    events = _delivered(client, fake_server, 24)

    ids = [e["uuid"] for e in events]
    assert all(UUID7.match(i) for i in ids), ids
    assert len(set(ids)) == 24
    assert all(uuid.UUID(i).version == 7 for i in ids)
    # the first 48 bits are the Unix time in milliseconds
    stamps = [int(i.replace("-", "")[:12], 16) for i in ids]
    assert all(before_ms - 1 <= s <= after_ms + 1 for s in stamps)


@pytest.mark.parametrize(
    "given",
    [UUID_TEXT, uuid.UUID(UUID_TEXT)],
    ids=["str", "UUID"],
)
def test_callers_uuid_is_honoured(client: posthog.Client, fake_server: FakePostHog, given: Any) -> None:
    client.capture("u", "e", uuid=given)
    client.alias("u", "v", uuid=given)

    events = _delivered(client, fake_server, 2)

    assert [e["uuid"] for e in events] == [UUID_TEXT, UUID_TEXT]


# --- timestamps -------------------------------------------------------------------------------------


def test_default_timestamp_is_now_in_utc(client: posthog.Client, fake_server: FakePostHog) -> None:
    before = datetime.now(timezone.utc)
    client.capture("u", "e")
    after = datetime.now(timezone.utc)

    [event] = _delivered(client, fake_server)

    assert event["timestamp"].endswith("+00:00")
    sent = datetime.fromisoformat(event["timestamp"])
    assert before - timedelta(milliseconds=1) <= sent <= after + timedelta(milliseconds=1)


TIMESTAMPS = [
    ("aware-utc", TS, TS_TEXT),
    ("aware-plus-2", datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2))), TS_TEXT),
    (
        "aware-minus-5",
        datetime(2024, 5, 6, 2, 8, 9, 250000, tzinfo=timezone(timedelta(hours=-5))),
        "2024-05-06T07:08:09.250000+00:00",
    ),
    ("naive-is-utc", datetime(2024, 5, 6, 7, 8, 9), TS_TEXT),
    ("naive-now-is-utc", "NAIVE_UTCNOW", None),
    ("iso-z", "2024-05-06T07:08:09Z", TS_TEXT),
    ("iso-offset", "2024-05-06T09:08:09+02:00", TS_TEXT),
    ("iso-naive", "2024-05-06T07:08:09", TS_TEXT),
    ("date", date(2024, 5, 6), "2024-05-06T00:00:00+00:00"),
]


@pytest.mark.parametrize(("given", "expected"), [t[1:] for t in TIMESTAMPS], ids=[t[0] for t in TIMESTAMPS])
def test_timestamp_is_normalised_to_utc(
    client: posthog.Client, fake_server: FakePostHog, given: Any, expected: str | None
) -> None:
    if given == "NAIVE_UTCNOW":
        # 3.x guessed "local time" for recent naive values (weaknesses.md 9); naive means UTC here.
        now = datetime.now(timezone.utc)
        given = now.replace(tzinfo=None)
        expected = now.isoformat()
    client.capture("u", "e", timestamp=given)

    [event] = _delivered(client, fake_server)

    assert event["timestamp"] == expected


def test_datetimes_inside_properties_keep_their_iso_text(
    client: posthog.Client, fake_server: FakePostHog
) -> None:
    client.capture("u", "e", {"naive": datetime(2024, 1, 2, 3, 4, 5), "day": date(2024, 1, 2)})

    [event] = _delivered(client, fake_server)

    assert event["properties"]["naive"] == "2024-01-02T03:04:05"
    assert event["properties"]["day"] == "2024-01-02"


# --- the /batch/ request ----------------------------------------------------------------------------


def test_batch_request_headers(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.capture("u", "e")
    _delivered(client, fake_server)

    [request] = fake_server.requests

    assert (request.method, request.path) == ("POST", "/batch/")
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == f"posthog-python/{posthog.VERSION}"
    assert request.header("Authorization") is None
    assert request.header("Content-Encoding") is None


def test_batch_body_keys(client: posthog.Client, fake_server: FakePostHog) -> None:
    before = datetime.now(timezone.utc)
    client.capture("u", "e")
    _delivered(client, fake_server)

    body = fake_server.requests[0].json

    assert set(body) == {"batch", "historical_migration", "sentAt", "api_key"}
    assert body["historical_migration"] is False
    assert body["api_key"] == API_KEY
    assert body["sentAt"].endswith("+00:00")
    assert datetime.fromisoformat(body["sentAt"]) >= before - timedelta(milliseconds=1)
    assert list(body["batch"][0]) and "api_key" not in body["batch"][0]


def test_historical_migration_flag(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client(historical_migration=True)
    client.capture("u", "e")
    _delivered(client, fake_server)

    assert fake_server.requests[0].json["historical_migration"] is True


def test_gzip_body(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client(gzip=True)
    client.capture("u", "zipped", {"text": "x" * 1000})
    [event] = _delivered(client, fake_server)

    [request] = fake_server.requests

    assert request.header("Content-Encoding") == "gzip"
    assert json.loads(gzip.decompress(request.raw_body)) == request.json
    assert len(request.raw_body) < len(request.body)
    assert event["properties"]["text"] == "x" * 1000


def test_body_is_strict_ascii_json(client: posthog.Client, fake_server: FakePostHog) -> None:
    client.capture("u", "e", {"name": "Zoë ☃", "nan": float("nan")})
    [event] = _delivered(client, fake_server)

    raw = fake_server.requests[0].body

    raw.decode("ascii")  # non-ASCII is escaped
    assert b"NaN" not in raw  # strict JSON (weaknesses.md 6)
    assert event["properties"]["name"] == "Zoë ☃"


def test_values_are_those_at_call_time(client: posthog.Client, fake_server: FakePostHog) -> None:
    # The top-level dict is copied; a caller reusing it for the next event must not change this one.
    props = {"step": 1}
    client.capture("u", "e", props)
    props["step"] = 2

    [event] = _delivered(client, fake_server)

    assert event["properties"]["step"] == 1


def test_nested_values_are_those_at_call_time(client: posthog.Client, fake_server: FakePostHog) -> None:
    # Keep the consumer busy so the second event is encoded only after the caller mutated it.
    fake_server.delay_next("/batch", 0.4)
    client.capture("u", "first")
    fake_server.wait_for_requests("/batch", 1)
    person: dict[str, Any] = {"plan": {"name": "free"}}
    props: dict[str, Any] = {"tags": ["a"], "nested": {"k": 1}}
    client.identify("u", person)
    client.capture("u", "second", props)
    person["plan"]["name"] = "pro"
    props["tags"].append("b")
    props["nested"]["k"] = 2

    events = _delivered(client, fake_server, 3)

    assert events[1]["$set"] == {"plan": {"name": "free"}}
    assert (events[2]["properties"]["tags"], events[2]["properties"]["nested"]) == (["a"], {"k": 1})


# --- return values and modes ------------------------------------------------------------------------


def test_accepted_call_returns_true_and_the_message(client: posthog.Client, fake_server: FakePostHog) -> None:
    ok, msg = client.capture("u", "e", {"a": 1})

    [event] = _delivered(client, fake_server)

    assert ok is True
    assert isinstance(msg, dict)
    assert (msg["event"], msg["distinct_id"], msg["uuid"], msg["timestamp"]) == (
        event["event"],
        event["distinct_id"],
        event["uuid"],
        event["timestamp"],
    )


def test_returned_message_holds_cleaned_values(make_client: ClientFactory) -> None:
    # api.md §5: accepted calls return (True, cleaned message); send=False is how apps test events.
    client = make_client(send=False)

    _, msg = client.capture(
        "u",
        "e",
        {
            "price": Decimal("9.99"),
            "id": uuid.UUID(int=1),
            "tags": {"a"},
            "pair": (1, 2),
            "raw": b"x",
            "nested": {"d": Decimal("1")},
        },
    )
    _, person = client.identify("u", {"d": Decimal("9.99")})

    props = msg["properties"]
    assert (props["price"], type(props["price"])) == (9.99, float)
    assert props["id"] == "00000000-0000-0000-0000-000000000001"
    assert (props["tags"], props["pair"], props["raw"]) == (["a"], [1, 2], "x")
    assert props["nested"] == {"d": 1.0}
    assert person["$set"] == {"d": 9.99}
    json.dumps(msg)


def test_client_event_calls_accept_3x_positional_arguments(
    client: posthog.Client, fake_server: FakePostHog
) -> None:
    client.capture("u", "c", {"a": 1}, None, TS, UUID_TEXT, {"company": "x"}, False, False)
    client.identify("u", {"b": 2}, None, TS, UUID_TEXT, False)
    client.group_identify("company", "x", {"c": 3}, None, TS, UUID_TEXT, False, "user-9")
    client.alias("u", "v", None, TS, UUID_TEXT, False)
    client.page("u", "https://x", {"d": 4}, None, TS, UUID_TEXT, False)

    events = _delivered(client, fake_server, 5)

    assert [(e["timestamp"], e["uuid"]) for e in events] == [(TS_TEXT, UUID_TEXT)] * 5
    assert not any("$geoip_disable" in e["properties"] for e in events)
    assert events[0]["properties"]["$groups"] == {"company": "x"}
    assert events[1]["$set"] == {"b": 2}
    assert events[2]["distinct_id"] == "user-9"
    assert events[4]["properties"]["$current_url"] == "https://x"


def test_disabled_client_returns_false_and_sends_nothing(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(disabled=True)

    results = [
        client.capture("u", "e"),
        client.identify("u", {"a": 1}),
        client.set("u", {}),
        client.set_once("u", {}),
        client.group_identify("company", 1),
        client.alias("u", "v"),
        client.page("u", "https://x"),
    ]
    client.flush()

    assert results == [(False, "disabled")] * 7
    assert fake_server.requests == []


def test_send_false_builds_messages_but_sends_nothing(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    threads_before = _posthog_threads()
    client = make_client(send=False)

    ok, msg = client.capture("u", "e", {"a": 1})
    client.identify("u", {"a": 1})
    client.flush()

    assert ok is True
    assert msg["event"] == "e"
    assert msg["properties"]["a"] == 1
    assert _posthog_threads() - threads_before == set()
    assert fake_server.requests == []


def test_posthog_disabled_environment_variable(fake_server: FakePostHog) -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import posthog
        client = posthog.Client("phc_env", host=sys.argv[1], flush_interval=0.05)
        posthog.api_key = "phc_env"
        posthog.host = sys.argv[1]
        results = [client.capture("u", "e"), client.identify("u", {"a": 1}), posthog.capture("u", "e")]
        try:
            client.capture(None, "e")
            raised = False
        except AssertionError:
            raised = True
        client.flush()
        client.shutdown()
        posthog.shutdown()
        print(json.dumps({"results": results, "raised": raised}))
        """
    )
    env = {"POSTHOG_DISABLED": "1", "PATH": "/usr/bin:/bin"}

    result = subprocess.run(
        [sys.executable, "-c", code, fake_server.url],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    out = json.loads(result.stdout)
    assert out == {"results": [[False, "disabled"]] * 3, "raised": True}
    assert fake_server.requests == []


# --- the deprecated `context` argument ----------------------------------------------------------------

CONTEXT_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("capture", lambda t: t.capture("u", "e", context={"ip": "ctx-marker"})),
    ("identify", lambda t: t.identify("u", {"a": 1}, context={"ip": "ctx-marker"})),
    ("set", lambda t: t.set("u", {"a": 1}, context={"ip": "ctx-marker"})),
    ("set_once", lambda t: t.set_once("u", {"a": 1}, context={"ip": "ctx-marker"})),
    ("group_identify", lambda t: t.group_identify("company", 1, context={"ip": "ctx-marker"})),
    ("alias", lambda t: t.alias("u", "v", context={"ip": "ctx-marker"})),
]


@pytest.fixture
def facade(fake_server: FakePostHog) -> Iterator[Any]:
    posthog.api_key = API_KEY
    posthog.host = fake_server.url
    yield posthog
    # Before fake_server closes: nothing left to retry against a closed port.
    posthog.shutdown()


def _context_warnings(record: pytest.WarningsRecorder) -> list[warnings.WarningMessage]:
    return [w for w in record if "context" in str(w.message)]


@pytest.mark.parametrize("call", [c[1] for c in CONTEXT_CALLS], ids=[c[0] for c in CONTEXT_CALLS])
@pytest.mark.parametrize("target", ["client", "facade"])
def test_context_warns_exactly_once_and_is_not_sent(
    request: pytest.FixtureRequest,
    fake_server: FakePostHog,
    target: str,
    call: Callable[[Any], Any],
) -> None:
    api = request.getfixturevalue(target)

    with pytest.warns(DeprecationWarning) as record:
        call(api)

    assert len(record) == 1
    assert len(_context_warnings(record)) == 1
    (posthog.default_client or api).flush()
    [event] = fake_server.wait_for_events(1)
    assert "context" not in event
    assert "ctx-marker" not in json.dumps(event)


def test_capture_without_context_does_not_warn(client: posthog.Client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.capture("u", "e")
        client.identify("u", {})


@pytest.mark.parametrize(
    "call",
    [c[1] for c in CONTEXT_CALLS],
    ids=[c[0] for c in CONTEXT_CALLS],
)
def test_context_warning_points_at_the_callers_line_client(
    client: posthog.Client, call: Callable[[Any], Any]
) -> None:
    with pytest.warns(DeprecationWarning) as record:
        call(client)

    assert [Path(w.filename).name for w in record] == [Path(__file__).name]


@pytest.mark.parametrize("call", [c[1] for c in CONTEXT_CALLS], ids=[c[0] for c in CONTEXT_CALLS])
def test_context_warning_points_at_the_callers_line_facade(facade: Any, call: Callable[[Any], Any]) -> None:
    # With Python's default filters a DeprecationWarning is shown only when attributed to __main__.
    with pytest.warns(DeprecationWarning) as record:
        call(facade)

    assert [Path(w.filename).name for w in record] == [Path(__file__).name]

"""Bad arguments raise at the call site, naming the argument; nothing invalid reaches the consumer.

Spec: api.md §5 (validation per call), §9 (exceptions); STYLE "Validate at the call site".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

import posthog
from posthog import InvalidTypeError, InvalidValueError
from tests.fake_server import FakePostHog

ClientFactory = Callable[..., posthog.Client]

# (id, call, argument named in the message, expected exception type)
BAD_CALLS: list[tuple[str, Callable[[posthog.Client], Any], str, type[Exception]]] = [
    ("capture-distinct_id-None", lambda c: c.capture(None, "e"), "distinct_id", InvalidTypeError),
    ("capture-distinct_id-list", lambda c: c.capture(["u"], "e"), "distinct_id", InvalidTypeError),
    ("capture-distinct_id-dict", lambda c: c.capture({"id": 1}, "e"), "distinct_id", InvalidTypeError),
    ("capture-event-missing", lambda c: c.capture("u"), "event", InvalidTypeError),
    ("capture-event-int", lambda c: c.capture("u", 5), "event", InvalidTypeError),
    ("capture-properties-str", lambda c: c.capture("u", "e", "props"), "properties", InvalidTypeError),
    ("capture-properties-pairs", lambda c: c.capture("u", "e", [("a", 1)]), "properties", InvalidTypeError),
    ("capture-groups-list", lambda c: c.capture("u", "e", groups=["company"]), "groups", InvalidTypeError),
    (
        "capture-timestamp-int",
        lambda c: c.capture("u", "e", timestamp=1700000000),
        "timestamp",
        InvalidTypeError,
    ),
    (
        "capture-timestamp-bad-str",
        lambda c: c.capture("u", "e", timestamp="yesterday"),
        "timestamp",
        InvalidValueError,
    ),
    ("identify-distinct_id-None", lambda c: c.identify(None, {"a": 1}), "distinct_id", InvalidTypeError),
    ("identify-properties-str", lambda c: c.identify("u", "a=1"), "properties", InvalidTypeError),
    ("set-properties-list", lambda c: c.set("u", ["a"]), "properties", InvalidTypeError),
    ("set_once-distinct_id-list", lambda c: c.set_once([1], {"a": 1}), "distinct_id", InvalidTypeError),
    ("group_identify-type-None", lambda c: c.group_identify(None, "acme"), "group_type", InvalidTypeError),
    (
        "group_identify-key-list",
        lambda c: c.group_identify("company", ["acme"]),
        "group_key",
        InvalidTypeError,
    ),
    ("group_identify-key-None", lambda c: c.group_identify("company"), "group_key", InvalidTypeError),
    (
        "group_identify-properties-str",
        lambda c: c.group_identify("company", 5, "x"),
        "properties",
        InvalidTypeError,
    ),
    ("alias-previous_id-None", lambda c: c.alias(None, "new"), "previous_id", InvalidTypeError),
    ("alias-distinct_id-dict", lambda c: c.alias("old", {}), "distinct_id", InvalidTypeError),
    ("page-url-int", lambda c: c.page("u", 5), "url", InvalidTypeError),
    ("page-url-missing", lambda c: c.page("u"), "url", InvalidTypeError),
    ("page-distinct_id-None", lambda c: c.page(None, "https://x"), "distinct_id", InvalidTypeError),
    ("page-properties-str", lambda c: c.page("u", "https://x", "p"), "properties", InvalidTypeError),
]


@pytest.fixture
def offline(make_client: ClientFactory) -> posthog.Client:
    """A client that validates and builds messages but never sends."""
    return make_client(send=False)


@pytest.mark.parametrize(
    ("call", "argument", "error"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_argument_raises_naming_it(
    offline: posthog.Client, call: Callable[[posthog.Client], Any], argument: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        call(offline)

    assert str(info.value).startswith(f"{argument} ")


@pytest.mark.parametrize(
    ("call", "argument", "error"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_catching_assertion_error_still_works(
    offline: posthog.Client, call: Callable[[posthog.Client], Any], argument: str, error: type[Exception]
) -> None:
    # 3.x raised AssertionError; code written for it must keep catching our errors.
    with pytest.raises(AssertionError):
        call(offline)


def test_invalid_type_error_is_a_type_error_too(offline: posthog.Client) -> None:
    with pytest.raises(TypeError, match="distinct_id"):
        offline.capture(None, "e")


def test_invalid_value_error_is_a_value_error_too(offline: posthog.Client) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        offline.capture("u", "e", timestamp="not a date")


@pytest.mark.parametrize(
    "distinct_id",
    ["user-1", "", 5, 5.5, True, Decimal("1.5"), uuid.UUID("12345678-1234-5678-1234-567812345678")],
    ids=["str", "empty-str", "int", "float", "bool", "Decimal", "UUID"],
)
def test_accepted_distinct_id_types(offline: posthog.Client, distinct_id: Any) -> None:
    ok, msg = offline.capture(distinct_id, "e")

    assert ok is True
    assert msg["distinct_id"] == str(distinct_id)


def test_any_mapping_is_accepted_as_properties(offline: posthog.Client) -> None:
    ok, msg = offline.capture("u", "e", MappingProxyType({"a": 1}), groups=MappingProxyType({"company": "x"}))

    assert ok is True
    assert msg["properties"]["a"] == 1
    assert msg["properties"]["$groups"] == {"company": "x"}


def test_falsy_properties_mean_none_as_in_3x(offline: posthog.Client) -> None:
    # 3.x did `properties or {}`: empty values of any type are treated as "no properties".
    ok, msg = offline.capture("u", "e", "", groups=[])

    assert ok is True
    assert "$groups" not in msg["properties"]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"api_key": None}, {"project_api_key": None}, {"api_key": 123}],
    ids=["nothing", "api_key-None", "project_api_key-None", "api_key-int"],
)
def test_client_without_a_string_key_raises(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidTypeError, match="api_key") as info:
        posthog.Client(send=False, **kwargs)

    assert isinstance(info.value, AssertionError)


def test_client_accepts_an_empty_key_string() -> None:
    client = posthog.Client("", send=False)

    assert client.api_key == ""


def test_validation_still_raises_on_a_disabled_client(make_client: ClientFactory) -> None:
    client = make_client(disabled=True)

    with pytest.raises(AssertionError, match="distinct_id"):
        client.capture(None, "e")
    with pytest.raises(AssertionError, match="url"):
        client.page("u", None)
    assert client.capture("u", "e") == (False, "disabled")


def test_flag_calls_validate_key_and_groups(offline: posthog.Client) -> None:
    with pytest.raises(AssertionError, match="key"):
        offline.get_feature_flag(5, "u")  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="distinct_id"):
        offline.feature_enabled("flag", None)
    with pytest.raises(AssertionError, match="groups"):
        offline.get_feature_flag("flag", "u", groups=["company"])  # type: ignore[arg-type]


def test_nothing_invalid_reaches_the_consumer(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client()
    for _, call, _, error in BAD_CALLS:
        with pytest.raises(error):
            call(client)

    ok, _ = client.capture("good-user", "good event", {"n": 1})
    client.flush()

    assert ok is True
    events = fake_server.wait_for_events(1)
    assert [(e["distinct_id"], e["event"]) for e in events] == [("good-user", "good event")]
    assert all(r.status == 200 for r in fake_server.requests)
    # the consumer thread is still alive and delivering
    client.capture("good-user", "second")
    client.flush()
    assert [e["event"] for e in fake_server.wait_for_events(2)] == ["good event", "second"]

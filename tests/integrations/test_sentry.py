"""Sentry: PostHogIntegration and PosthogDistinctIdMiddleware (spec/integrations.md §2; weaknesses.md §D 46).

A real ``sentry_sdk.init`` with a recording transport; PostHog events go to the fake server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

sentry_sdk = pytest.importorskip("sentry_sdk")

from sentry_sdk.transport import Transport  # noqa: E402

import posthog  # noqa: E402
from posthog.sentry import POSTHOG_ID_TAG  # noqa: E402
from posthog.sentry.posthog_integration import (  # noqa: E402
    PostHogIntegration,
    build_posthog_exception,
    posthog_ui_host,
)
from tests.conftest import API_KEY  # noqa: E402
from tests.fake_server import FakePostHog  # noqa: E402

DSN = "http://public@127.0.0.1:1/4242"
SENTINEL = "sentinel: nothing else was sent"


def start_sentry(integrations: list[Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    class RecordingTransport(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            event = envelope.get_event()
            if event is not None:
                events.append(event)

    sentry_sdk.init(
        dsn=DSN,
        transport=RecordingTransport,
        integrations=integrations,
        default_integrations=False,
        auto_enabling_integrations=False,
    )
    return events


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    """Events Sentry would have sent, with PostHogIntegration active."""
    yield start_sentry([PostHogIntegration()])
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def ph_client(make_client: Callable[..., posthog.Client]) -> posthog.Client:
    """A sync client bound to the fake server, installed as ``posthog.default_client``."""
    client = make_client(sync_mode=True)
    posthog.default_client = client
    return client


def capture_error(distinct_id: str | None, message: str = "payment failed") -> None:
    with sentry_sdk.isolation_scope():
        if distinct_id is not None:
            sentry_sdk.set_tag(POSTHOG_ID_TAG, distinct_id)
        try:
            raise ValueError(message)
        except ValueError:
            sentry_sdk.capture_exception()


def assert_only_sentinel(server: FakePostHog, client: posthog.Client) -> None:
    client.capture("sentinel", SENTINEL)
    assert [e["event"] for e in server.wait_for_events(1, timeout=5)] == [SENTINEL]


# -- the pure helper -------------------------------------------------------------------------------


def error_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "abc123",
        "level": "error",
        "tags": {POSTHOG_ID_TAG: "user 1/2"},
        "exception": {"values": [{"type": "ValueError", "value": "x"}]},
    }
    event.update(overrides)
    return event


def build(event: Any, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "organization": None,
        "project_id": None,
        "prefix": "https://sentry.io/organizations/",
        "posthog_ui_host": "https://us.posthog.com",
        "api_key": "phc_key",
    }
    options.update(overrides)
    return build_posthog_exception(event, **options)


def test_helper_builds_properties_and_a_person_link() -> None:
    distinct_id, properties, url = build(error_event())

    assert distinct_id == "user 1/2"
    assert properties == {
        "$sentry_event_id": "abc123",
        "$sentry_exception": {"values": [{"type": "ValueError", "value": "x"}]},
    }
    assert url == "https://us.posthog.com/project/phc_key/person/user%201%2F2"


def test_helper_adds_the_sentry_url_when_organization_and_project_are_known() -> None:
    _, properties, _ = build(error_event(), organization="acme", project_id=4242)
    assert (
        properties["$sentry_url"] == "https://sentry.io/organizations/acme/issues/?project=4242&query=abc123"
    )


@pytest.mark.parametrize(
    "event",
    [
        error_event(level="warning"),
        error_event(level=None),
        error_event(tags={}),
        error_event(tags={POSTHOG_ID_TAG: ""}),
        None,
        ["not", "an", "event"],
        "text",
    ],
    ids=["warning", "no-level", "no-tag", "empty-tag", "none", "list", "str"],
)
def test_helper_ignores_other_events(event: Any) -> None:
    assert build(event) is None


def test_helper_accepts_error_events_without_exception_data() -> None:
    event = error_event()
    del event["exception"]
    _, properties, _ = build(event)
    assert properties == {"$sentry_event_id": "abc123"}


def test_helper_reads_tags_given_as_pairs() -> None:
    distinct_id, _, _ = build(error_event(tags=[["other", "x"], [POSTHOG_ID_TAG, "pair-user"]]))
    assert distinct_id == "pair-user"


def test_helper_without_api_key_links_to_the_person_path() -> None:
    _, _, url = build(error_event(tags={POSTHOG_ID_TAG: "u"}), api_key=None)
    assert url == "https://us.posthog.com/person/u"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, "https://us.posthog.com"),
        ("https://us.i.posthog.com", "https://us.posthog.com"),
        ("https://eu.i.posthog.com/", "https://eu.posthog.com"),
        ("https://EU.i.posthog.com", "https://eu.posthog.com"),
        ("https://posthog.example.com//", "https://posthog.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_posthog_ui_host(host: str | None, expected: str) -> None:
    assert posthog_ui_host(host) == expected


def test_integration_class_attributes() -> None:
    assert PostHogIntegration.identifier == "posthog-python"
    assert PostHogIntegration.organization is None
    assert PostHogIntegration.project_id is None
    assert PostHogIntegration.prefix == "https://sentry.io/organizations/"


# -- through a real Sentry client ------------------------------------------------------------------


def test_tagged_error_reaches_posthog_and_sentry_gets_the_link(
    fake_server: FakePostHog, ph_client: posthog.Client, sentry_events: list[dict[str, Any]]
) -> None:
    capture_error("user-1")

    (sentry_event,) = sentry_events
    assert sentry_event["tags"][POSTHOG_ID_TAG] == "user-1"
    assert sentry_event["tags"]["PostHog URL"] == f"{fake_server.url}/project/{API_KEY}/person/user-1"
    (event,) = fake_server.wait_for_events(1, timeout=5)
    assert event["event"] == "$exception"
    assert event["distinct_id"] == "user-1"
    assert event["properties"]["$sentry_event_id"] == sentry_event["event_id"]
    values = event["properties"]["$sentry_exception"]["values"]
    assert values[-1]["type"] == "ValueError"
    assert values[-1]["value"] == "payment failed"
    assert "$sentry_url" not in event["properties"]


def test_sentry_url_uses_the_dsn_project(
    fake_server: FakePostHog,
    ph_client: posthog.Client,
    sentry_events: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(PostHogIntegration, "organization", "acme")

    capture_error("user-2")

    (event,) = fake_server.wait_for_events(1, timeout=5)
    event_id = sentry_events[0]["event_id"]
    assert event["properties"]["$sentry_url"] == (
        f"https://sentry.io/organizations/acme/issues/?project=4242&query={event_id}"
    )


def test_untagged_and_non_error_events_are_not_forwarded(
    fake_server: FakePostHog, ph_client: posthog.Client, sentry_events: list[dict[str, Any]]
) -> None:
    capture_error(None)
    with sentry_sdk.isolation_scope():
        sentry_sdk.set_tag(POSTHOG_ID_TAG, "user-3")
        sentry_sdk.capture_message("just saying", level="info")

    assert len(sentry_events) == 2
    assert all("PostHog URL" not in e.get("tags", {}) for e in sentry_events)
    assert_only_sentinel(fake_server, ph_client)


def test_error_message_without_exception_is_forwarded(
    fake_server: FakePostHog, ph_client: posthog.Client, sentry_events: list[dict[str, Any]]
) -> None:
    with sentry_sdk.isolation_scope():
        sentry_sdk.set_tag(POSTHOG_ID_TAG, "user-4")
        sentry_sdk.capture_message("something broke", level="error")

    (event,) = fake_server.wait_for_events(1, timeout=5)
    assert event["distinct_id"] == "user-4"
    assert "$sentry_exception" not in event["properties"]
    assert "PostHog URL" in sentry_events[0]["tags"]


def test_without_default_client_the_facade_is_used(
    fake_server: FakePostHog, sentry_events: list[dict[str, Any]]
) -> None:
    posthog.api_key = API_KEY
    posthog.host = fake_server.url
    posthog.sync_mode = True

    capture_error("facade-user")

    (event,) = fake_server.wait_for_events(1, timeout=5)
    assert event["distinct_id"] == "facade-user"
    assert (
        sentry_events[0]["tags"]["PostHog URL"] == f"{fake_server.url}/project/{API_KEY}/person/facade-user"
    )


def test_inactive_integration_does_nothing(fake_server: FakePostHog, ph_client: posthog.Client) -> None:
    PostHogIntegration.setup_once()  # the processor exists, as after any earlier init in the process
    PostHogIntegration.setup_once()  # and registering it again changes nothing
    events = start_sentry([])
    try:
        capture_error("user-5")
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)

    assert "PostHog URL" not in events[0]["tags"]
    assert_only_sentinel(fake_server, ph_client)


def test_posthog_failure_does_not_lose_the_sentry_event(
    sentry_events: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    class Exploding:
        raw_host = "https://us.i.posthog.com"
        api_key = "phc_x"

        def capture(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("posthog is down")

    posthog.default_client = Exploding()  # type: ignore[assignment]
    try:
        capture_error("user-6")
    finally:
        posthog.default_client = None

    (sentry_event,) = sentry_events
    assert sentry_event["tags"]["PostHog URL"] == "https://us.posthog.com/project/phc_x/person/user-6"


# -- Django middleware -----------------------------------------------------------------------------


@pytest.fixture
def django_with_sentry(django_setup: None) -> Iterator[None]:
    """Django reports view exceptions to Sentry, as sentry_sdk's DjangoIntegration would."""
    from django.core.signals import got_request_exception
    from django.test.utils import override_settings

    def report(sender: Any, **kwargs: Any) -> None:
        sentry_sdk.capture_exception()

    got_request_exception.connect(report, dispatch_uid="tests.sentry.report")
    settings = {
        "MIDDLEWARE": ["posthog.sentry.django.PosthogDistinctIdMiddleware"],
        "POSTHOG_DJANGO": {"distinct_id": lambda request: request.headers.get("X-User")},
    }
    try:
        with override_settings(**settings):
            yield
    finally:
        got_request_exception.disconnect(dispatch_uid="tests.sentry.report")


def django_get(path: str, **headers: str) -> int:
    from django.test import Client

    response = Client(raise_request_exception=False).get(path, headers=headers)
    return int(response.status_code)


def test_django_middleware_tags_the_request_scope(
    fake_server: FakePostHog,
    ph_client: posthog.Client,
    sentry_events: list[dict[str, Any]],
    django_with_sentry: None,
) -> None:
    assert django_get("/boom/", **{"X-User": "django-user"}) == 500
    capture_error(None, "after the request")  # the tag must not leak out of the request

    request_event, later_event = sentry_events
    assert request_event["tags"][POSTHOG_ID_TAG] == "django-user"
    assert request_event["tags"]["PostHog URL"].endswith("/person/django-user")
    assert POSTHOG_ID_TAG not in later_event.get("tags", {})
    (event,) = fake_server.wait_for_events(1, timeout=5)
    assert event["distinct_id"] == "django-user"
    assert event["properties"]["$sentry_exception"]["values"][-1]["type"] == "CheckoutError"


def test_django_middleware_survives_a_failing_callable(
    sentry_events: list[dict[str, Any]], django_with_sentry: None, caplog: pytest.LogCaptureFixture
) -> None:
    from django.test.utils import override_settings

    def broken(request: Any) -> str:
        raise RuntimeError("no user")

    with (
        override_settings(POSTHOG_DJANGO={"distinct_id": broken}),
        caplog.at_level("DEBUG", logger="posthog"),
    ):
        assert django_get("/ok/") == 200
        assert django_get("/boom/") == 500

    assert POSTHOG_ID_TAG not in sentry_events[0].get("tags", {})
    assert "POSTHOG_DJANGO['distinct_id'] failed" in caplog.text


def test_django_middleware_reads_settings_when_built(django_setup: None) -> None:
    from django.test.utils import override_settings

    from posthog.sentry.django import PosthogDistinctIdMiddleware

    with override_settings(POSTHOG_DJANGO={"distinct_id": lambda request: "first"}):
        first = PosthogDistinctIdMiddleware(lambda request: None)
    with override_settings(POSTHOG_DJANGO={"distinct_id": lambda request: "second"}):
        second = PosthogDistinctIdMiddleware(lambda request: None)
    without = PosthogDistinctIdMiddleware(lambda request: None)

    assert first.get_distinct_id(object()) == "first"
    assert second.get_distinct_id(object()) == "second"
    assert without.get_distinct_id(object()) is None

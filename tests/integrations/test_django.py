"""Django: PosthogContextMiddleware and the exception-autocapture DjangoIntegration.

Real Django: the test Client runs the full middleware chain and the real
``got_request_exception`` signal; events go to the fake server.
spec/integrations.md §1, §3.3; weaknesses.md §D 45.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("django")

from django.core.signals import got_request_exception
from django.test import AsyncClient, Client
from django.test.utils import override_settings

import posthog
from posthog.exception_capture import Integrations
from posthog.exception_integrations.django import DjangoIntegration
from posthog.integrations.django import PosthogContextMiddleware
from tests.conftest import API_KEY
from tests.fake_server import FakePostHog

pytestmark = pytest.mark.usefixtures("django_setup")

MIDDLEWARE = "posthog.integrations.django.PosthogContextMiddleware"
SENTINEL = "sentinel: nothing else was sent"


@pytest.fixture
def ph_client(make_client: Callable[..., posthog.Client]) -> posthog.Client:
    return make_client(sync_mode=True)


@pytest.fixture
def middleware_client(ph_client: posthog.Client) -> Iterator[posthog.Client]:
    """The middleware reports through ``ph_client`` (settings.POSTHOG_MIDDLEWARE_CLIENT)."""
    with override_settings(POSTHOG_MIDDLEWARE_CLIENT=ph_client):
        yield ph_client


def browser() -> Client:
    return Client(raise_request_exception=False, HTTP_USER_AGENT="pytest-browser/1.0")


def only_event(server: FakePostHog, client: posthog.Client) -> dict[str, Any]:
    """The single event sent before a sentinel; proves nothing else was sent."""
    client.capture("sentinel", SENTINEL)  # sync_mode: everything earlier has been delivered
    events = server.wait_for_events(1, timeout=5)
    assert events[-1]["event"] == SENTINEL
    assert len(events) == 2, [e["event"] for e in events]
    return events[0]


def assert_no_event(server: FakePostHog, client: posthog.Client) -> None:
    client.capture("sentinel", SENTINEL)
    events = server.wait_for_events(1, timeout=5)
    assert [e["event"] for e in events] == [SENTINEL]


# -- PosthogContextMiddleware ----------------------------------------------------------------------


def test_view_exception_reaches_the_server_with_request_properties(
    fake_server: FakePostHog, middleware_client: posthog.Client
) -> None:
    response = browser().get(
        "/boom/?page=2",
        HTTP_X_POSTHOG_DISTINCT_ID="user-42",
        HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1",
        HTTP_TRACEPARENT="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )

    assert response.status_code == 500
    event = only_event(fake_server, middleware_client)
    props = event["properties"]
    assert event["event"] == "$exception"
    assert event["distinct_id"] == "user-42"
    assert props["$current_url"] == "http://testserver/boom/"  # no query string: it carries secrets
    assert props["$request_method"] == "GET"
    assert props["$request_path"] == "/boom/" and props["$request_route"] == "/boom/"
    assert props["$ip"] == "127.0.0.1"  # X-Forwarded-For is not read unless the peer is a trusted proxy
    assert props["$user_agent"] == "pytest-browser/1.0"
    assert props["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert props["$exception_type"] == "CheckoutError"
    assert props["$exception_message"] == "card declined for 42"
    frames = props["$exception_list"][-1]["stacktrace"]["frames"]
    assert [f["function"] for f in frames][-2:] == ["boom", "_charge_card"]
    assert "$process_person_profile" not in props


def test_distinct_id_falls_back_to_tracestate(
    fake_server: FakePostHog, middleware_client: posthog.Client
) -> None:
    browser().get("/boom/", HTTP_TRACESTATE="vendor=abc, posthog-distinct-id=from-trace,other=1")

    event = only_event(fake_server, middleware_client)
    assert event["distinct_id"] == "from-trace"
    assert event["properties"]["$ip"] == "127.0.0.1"  # REMOTE_ADDR of the test client


def test_without_any_id_the_event_is_personless(
    fake_server: FakePostHog, middleware_client: posthog.Client
) -> None:
    browser().get("/boom/")

    event = only_event(fake_server, middleware_client)
    assert event["properties"]["$process_person_profile"] is False


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("tests.integrations.django_project.identity.from_user_header", "alice"),
        (lambda request: f"callable-{request.headers['X-User']}", "callable-alice"),
        ("tests.integrations.django_project.identity.broken", "header-id"),
    ],
    ids=["dotted-path", "callable", "failing-callable-falls-back-to-header"],
)
def test_distinct_id_setting(
    fake_server: FakePostHog, middleware_client: posthog.Client, setting: Any, expected: str
) -> None:
    with override_settings(POSTHOG_MIDDLEWARE_DISTINCT_ID=setting):
        browser().get("/boom/", HTTP_X_USER="alice", HTTP_X_POSTHOG_DISTINCT_ID="header-id")

    assert only_event(fake_server, middleware_client)["distinct_id"] == expected


def test_without_client_setting_the_facade_is_used(fake_server: FakePostHog) -> None:
    posthog.api_key = API_KEY
    posthog.host = fake_server.url
    posthog.sync_mode = True

    browser().get("/boom/", HTTP_X_POSTHOG_DISTINCT_ID="facade-user")

    (event,) = fake_server.wait_for_events(1, timeout=5)
    assert event["event"] == "$exception"
    assert event["distinct_id"] == "facade-user"
    assert posthog.default_client is not None


@pytest.mark.parametrize("path", ["/missing/", "/forbidden/", "/ok/"])
def test_client_errors_and_successes_are_not_reported(
    fake_server: FakePostHog, middleware_client: posthog.Client, path: str
) -> None:
    response = browser().get(path)

    assert response.status_code in (200, 403, 404)
    assert_no_event(fake_server, middleware_client)


def test_reporting_can_be_switched_off(fake_server: FakePostHog, middleware_client: posthog.Client) -> None:
    with override_settings(POSTHOG_MIDDLEWARE_CAPTURE_EXCEPTIONS=False):
        assert browser().get("/boom/").status_code == 500

    assert_no_event(fake_server, middleware_client)


def test_async_view_exception_is_reported(
    fake_server: FakePostHog, middleware_client: posthog.Client
) -> None:
    async def request() -> Any:
        client = AsyncClient(raise_request_exception=False)
        return await client.get("/async-boom/", headers={"X-POSTHOG-DISTINCT-ID": "async-user"})

    response = asyncio.run(request())

    assert response.status_code == 500
    event = only_event(fake_server, middleware_client)
    assert event["distinct_id"] == "async-user"
    assert event["properties"]["$exception_message"] == "card declined for 7"
    assert event["properties"]["$request_method"] == "GET"


def test_async_view_succeeds_through_the_middleware(middleware_client: posthog.Client) -> None:
    async def request() -> Any:
        return await AsyncClient().get("/async-ok/")

    response = asyncio.run(request())

    assert response.status_code == 200
    assert response.content == b"async ok"


def test_middleware_adapts_to_sync_and_async_stacks() -> None:
    from asgiref.sync import iscoroutinefunction

    async def async_get_response(request: Any) -> str:
        return "async response"

    def sync_get_response(request: Any) -> str:
        return "sync response"

    async_mw = PosthogContextMiddleware(async_get_response)
    sync_mw = PosthogContextMiddleware(sync_get_response)

    assert PosthogContextMiddleware.sync_capable and PosthogContextMiddleware.async_capable
    assert iscoroutinefunction(async_mw)
    assert not iscoroutinefunction(sync_mw)
    assert asyncio.run(async_mw(object())) == "async response"
    assert sync_mw(object()) == "sync response"


def test_settings_are_read_when_the_middleware_is_built(recording_client: Any) -> None:
    with override_settings(POSTHOG_MIDDLEWARE_CLIENT=recording_client):
        middleware = PosthogContextMiddleware(lambda request: None)
    other = type(recording_client)()
    with override_settings(POSTHOG_MIDDLEWARE_CLIENT=other):
        middleware.process_exception(Client().request().wsgi_request, ValueError("x"))

    assert len(recording_client.calls) == 1
    assert other.calls == []


# -- exception autocapture: DjangoIntegration -------------------------------------------------------


def test_autocapture_integration_reports_through_the_signal(
    fake_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    client = make_client(
        sync_mode=True,
        enable_exception_autocapture=True,
        exception_autocapture_integrations=[Integrations.Django],
    )
    with override_settings(MIDDLEWARE=[]):
        response = browser().get("/boom/", HTTP_TRACESTATE="posthog-distinct-id=signal-user")

    assert response.status_code == 500
    event = only_event(fake_server, client)
    assert event["distinct_id"] == "signal-user"
    assert event["properties"]["$exception_type"] == "CheckoutError"
    assert event["properties"]["$current_url"] == "http://testserver/boom/"
    assert event["properties"]["$user_agent"] == "pytest-browser/1.0"


def test_middleware_and_integration_together_report_once(
    fake_server: FakePostHog, make_client: Callable[..., posthog.Client]
) -> None:
    client = make_client(
        sync_mode=True,
        enable_exception_autocapture=True,
        exception_autocapture_integrations=[Integrations.Django],
    )
    with override_settings(POSTHOG_MIDDLEWARE_CLIENT=client):
        browser().get("/boom/", HTTP_X_POSTHOG_DISTINCT_ID="once")

    assert only_event(fake_server, client)["distinct_id"] == "once"


def test_integration_uninstall_disconnects_the_receiver() -> None:
    received: list[tuple[Any, Any, Any]] = []
    integration = DjangoIntegration(
        lambda exc_info, distinct_id, props: received.append((exc_info, distinct_id, props))
    )
    listeners_with = len(got_request_exception.receivers)

    with override_settings(MIDDLEWARE=[]):
        browser().get("/boom/", HTTP_X_POSTHOG_DISTINCT_ID="first")
        integration.uninstall()
        browser().get("/boom/", HTTP_X_POSTHOG_DISTINCT_ID="second")

    assert [distinct_id for _, distinct_id, _ in received] == ["first"]
    assert len(got_request_exception.receivers) == listeners_with - 1
    exc_info, _, props = received[0]
    assert exc_info[0].__name__ == "CheckoutError"
    assert props["$request_method"] == "GET"


def test_shutdown_uninstalls_the_integration(make_client: Callable[..., posthog.Client]) -> None:
    before = len(got_request_exception.receivers)
    client = make_client(
        sync_mode=True,
        enable_exception_autocapture=True,
        exception_autocapture_integrations=[Integrations.Django],
    )
    assert len(got_request_exception.receivers) == before + 1

    client.shutdown(timeout=2)

    assert len(got_request_exception.receivers) == before

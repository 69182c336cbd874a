"""``PosthogContextMiddleware``'s request contexts with real Django: under gunicorn ``gthread``
(reused threads), and in process with Django's test client (sync and async views, settings).

spec: contexts.md §2-§3.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("gunicorn")

from django.test import AsyncClient, Client
from django.test.utils import override_settings

import posthog
from tests.fake_server import FakePostHog
from tests.integrations.web_checks import (
    check_concurrent_requests,
    check_unhandled_exceptions,
    tracing_headers,
)
from tests.support.gunicorn import Gunicorn

Served = tuple[str, FakePostHog]  # gunicorn's base URL, and the fake PostHog its app sends to


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One gunicorn (1 worker, 4 threads) serving tests/integrations/served_django.py for the module."""
    with FakePostHog() as fake:
        env = {"POSTHOG_TEST_KEY": "phc_django", "POSTHOG_TEST_HOST": fake.url}
        with Gunicorn("tests.integrations.served_django:application", env) as base:
            yield base, fake


def test_concurrent_requests_on_reused_threads_each_get_their_own_ids(served: Served) -> None:
    check_concurrent_requests(*served)


def test_an_unhandled_exception_is_captured_once_with_the_requests_ids(served: Served) -> None:
    check_unhandled_exceptions(*served)


# -- in process: Django's test client runs the full middleware chain ---------------------------


@pytest.fixture
def ph_client(make_client: Any, django_setup: None) -> Iterator[posthog.Client]:
    client = make_client(sync_mode=True)
    with override_settings(ROOT_URLCONF="tests.integrations.django_project.urls", POSTHOG_MW_CLIENT=client):
        yield client


def test_a_view_may_capture_without_a_distinct_id(
    fake_server: FakePostHog, ph_client: posthog.Client
) -> None:
    Client().get("/capture/", HTTP_X_POSTHOG_DISTINCT_ID="ada", HTTP_X_POSTHOG_SESSION_ID="s-1")
    Client().get("/capture/")

    known, unknown = fake_server.events()
    assert (known["event"], known["distinct_id"]) == ("viewed", "ada")
    assert known["properties"]["$session_id"] == "s-1"
    assert known["properties"]["$request_route"] == "/capture/"
    assert unknown["properties"]["$process_person_profile"] is False and unknown["distinct_id"] != "ada"


def test_async_views_get_the_requests_context(fake_server: FakePostHog, ph_client: posthog.Client) -> None:
    async def run() -> None:
        browser = AsyncClient(raise_request_exception=False)
        # AsyncClient puts HTTP_* keyword arguments in the ASGI scope, not in the headers
        await browser.get("/async-capture/", headers={"X-POSTHOG-DISTINCT-ID": "grace"})
        await browser.get("/async-boom/", headers={"X-POSTHOG-DISTINCT-ID": "alan"})

    asyncio.run(run())
    events = {e["event"]: e for e in fake_server.events()}
    assert events["viewed async"]["distinct_id"] == "grace"
    assert events["viewed async"]["properties"]["$request_path"] == "/async-capture/"
    assert events["$exception"]["distinct_id"] == "alan"


@pytest.mark.parametrize("prefix", ["POSTHOG_MW_", "POSTHOG_MIDDLEWARE_"])
def test_settings_filter_tags_tracing_headers_and_proxies(
    fake_server: FakePostHog, ph_client: posthog.Client, prefix: str
) -> None:
    options = {
        "REQUEST_FILTER": lambda request: request.path != "/health/",
        "EXTRA_TAGS": "tests.integrations.django_project.identity.tenant_tags",
        "CAPTURE_TRACING_HEADERS": False,
        "TRUSTED_PROXIES": ["127.0.0.1"],
    }
    with override_settings(**{prefix + name: value for name, value in options.items()}):
        Client().get("/capture/", HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.2", **_ids(1))
        Client().get("/health/", **_ids(2))

    viewed, health = fake_server.events()
    assert viewed["properties"]["tenant"] == "acme"
    assert viewed["properties"]["$ip"] == "198.51.100.2"  # the last hop not added by a trusted proxy
    assert viewed["properties"]["$process_person_profile"] is False  # tracing headers ignored
    assert health["distinct_id"] == "probe" and "$request_path" not in health["properties"]


def test_the_authenticated_users_email_is_a_property(
    fake_server: FakePostHog, ph_client: posthog.Client
) -> None:
    middleware = [
        "tests.integrations.django_project.identity.FakeAuthenticationMiddleware",
        "posthog.integrations.django.PosthogContextMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware):
        Client().get("/capture/", HTTP_X_USER="ada@example.com", **_ids(1))
        Client().get("/capture/", **_ids(2))

    signed_in, anonymous = fake_server.events()
    assert signed_in["properties"]["email"] == "ada@example.com"
    assert "email" not in anonymous["properties"]


def _ids(n: int) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in tracing_headers(n).items()}

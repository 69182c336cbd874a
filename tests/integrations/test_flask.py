"""``PosthogFlaskIntegration`` with real Flask: under gunicorn ``gthread`` (reused threads), and in process.

spec: contexts.md §2-§3.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import pytest

import posthog
from posthog.exceptions import InvalidTypeError
from tests.fake_server import FakePostHog
from tests.integrations.web_checks import (
    check_concurrent_requests,
    check_unhandled_exceptions,
    tracing_headers,
)
from tests.support.gunicorn import Gunicorn

flask = pytest.importorskip("flask")
pytest.importorskip("gunicorn")

from posthog.integrations.flask import PosthogFlaskIntegration  # noqa: E402

Served = tuple[str, FakePostHog]  # gunicorn's base URL, and the fake PostHog its app sends to


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One gunicorn (1 worker, 4 threads) serving tests/integrations/served_flask.py for the module."""
    with FakePostHog() as fake:
        env = {"POSTHOG_TEST_KEY": "phc_flask", "POSTHOG_TEST_HOST": fake.url}
        with Gunicorn("tests.integrations.served_flask:app", env) as base:
            yield base, fake


def test_concurrent_requests_on_reused_threads_each_get_their_own_ids(served: Served) -> None:
    check_concurrent_requests(*served)


def test_an_unhandled_exception_is_captured_once_with_the_requests_ids(served: Served) -> None:
    check_unhandled_exceptions(*served)


@pytest.fixture
def app_client(make_client: Any) -> posthog.Client:
    return make_client(sync_mode=True)


def _app(client: Optional[posthog.Client], **options: Any) -> Any:
    app = flask.Flask("posthog_flask_test")
    integration = PosthogFlaskIntegration(client=client, **options)
    integration.init_app(app)  # the application-factory way
    capture = client.capture if client is not None else posthog.capture

    @app.get("/work/<int:n>")
    def work(n: int) -> dict[str, int]:
        capture(event="work done", properties={"n": n})
        return {"n": n}

    @app.get("/health")
    def health() -> str:
        capture("probe", "health checked")
        return "ok"

    @app.get("/fail")
    def fail() -> str:
        raise ValueError("card declined")

    @app.errorhandler(KeyError)
    def handled(error: KeyError) -> tuple[str, int]:
        return "handled", 409

    @app.get("/handled")
    def raises_handled() -> str:
        raise KeyError("known")

    return app


def test_options_filter_extra_properties_tracing_headers_and_trusted_proxies(
    fake_server: FakePostHog, app_client: posthog.Client
) -> None:
    app = _app(
        app_client,
        request_filter=lambda request: request.path != "/health",
        extra_properties=lambda request: {"tenant": request.args.get("tenant")},
        capture_tracing_headers=False,
        trusted_proxies=["10.0.0.0/8"],
    )
    http = app.test_client()
    proxied = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2, 10.1.1.1", **tracing_headers(1)}
    http.get("/work/1?tenant=acme", headers=proxied, environ_base={"REMOTE_ADDR": "10.2.2.2"})
    http.get("/health", headers=tracing_headers(3))

    work = next(e for e in fake_server.events() if e["event"] == "work done")
    assert work["properties"]["tenant"] == "acme"
    assert work["properties"]["$ip"] == "198.51.100.2"  # the last hop added by a party not trusted
    assert work["properties"]["$current_url"] == "http://localhost/work/1"
    assert work["properties"]["$process_person_profile"] is False  # tracing headers ignored
    probe = next(e for e in fake_server.events() if e["event"] == "health checked")
    assert "$request_path" not in probe["properties"] and probe["distinct_id"] == "probe"  # no context


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    fake_server: FakePostHog, app_client: posthog.Client
) -> None:
    http = _app(app_client).test_client()
    http.get("/work/1", headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    (event,) = fake_server.events()
    assert event["properties"]["$ip"] == "192.0.2.1"


def test_handled_and_http_errors_are_not_captured_and_capture_exceptions_false_turns_it_off(
    fake_server: FakePostHog, app_client: posthog.Client
) -> None:
    http = _app(app_client).test_client()
    assert http.get("/handled", headers=tracing_headers(1)).status_code == 409
    assert http.get("/missing", headers=tracing_headers(1)).status_code == 404
    assert http.get("/fail", headers=tracing_headers(2)).status_code == 500
    quiet = _app(app_client, capture_exceptions=False).test_client()
    assert quiet.get("/fail", headers=tracing_headers(3)).status_code == 500

    exceptions = [e for e in fake_server.events() if e["event"] == "$exception"]
    assert [e["distinct_id"] for e in exceptions] == ["user-2"]
    assert exceptions[0]["properties"]["$exception_list"][0]["type"] == "ValueError"


def test_the_default_client_is_used_when_none_is_given(fake_server: FakePostHog) -> None:
    posthog.api_key = "phc_flask_default"
    posthog.host = fake_server.url
    posthog.sync_mode = True
    http = _app(None).test_client()
    http.get("/work/5", headers=tracing_headers(5))
    assert http.get("/fail", headers=tracing_headers(6)).status_code == 500

    events = {e["event"]: e for e in fake_server.events()}
    assert events["work done"]["distinct_id"] == "user-5"
    assert events["$exception"]["distinct_id"] == "user-6"
    assert events["$exception"]["properties"]["$request_route"] == "/fail"


def test_no_context_outlives_its_request(fake_server: FakePostHog, app_client: posthog.Client) -> None:
    http = _app(app_client).test_client()
    http.get("/work/1", headers=tracing_headers(1))
    assert posthog.contexts.current() is None  # the test client runs the request on this thread
    with pytest.raises(InvalidTypeError, match="distinct_id"):  # as in 3.25.0 outside a context
        app_client.capture(event="outside any request")

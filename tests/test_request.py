"""The request layer: host mapping, paths, headers, error mapping (spec: wire.md §1, §5-§8; api.md §9)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

import posthog
from posthog import request
from posthog.request import APIError, QuotaLimitError, determine_server_host
from tests.fake_server import FakePostHog

ClientFactory = Callable[..., posthog.Client]

US = "https://us.i.posthog.com"
EU = "https://eu.i.posthog.com"

# (given host, host used for requests); ours is case-insensitive and takes any number of slashes
# (weaknesses.md 42), custom hosts are kept as given.
HOSTS = [
    (None, US),
    ("", US),
    ("https://app.posthog.com", US),
    ("https://app.posthog.com/", US),
    ("https://us.posthog.com", US),
    ("https://us.posthog.com//", US),
    ("https://eu.posthog.com", EU),
    ("https://eu.posthog.com/", EU),
    ("https://eu.posthog.com///", EU),
    ("HTTPS://EU.PostHog.com", EU),
    ("https://App.PostHog.com/", US),
    ("https://us.i.posthog.com", US),
    ("https://eu.i.posthog.com", EU),
    ("https://posthog.example.com", "https://posthog.example.com"),
    ("https://posthog.example.com/", "https://posthog.example.com/"),
    ("http://localhost:8000", "http://localhost:8000"),
    ("http://app.posthog.com", "http://app.posthog.com"),
]


@pytest.mark.parametrize(("given", "expected"), HOSTS, ids=[repr(h[0]) for h in HOSTS])
def test_determine_server_host(given: str | None, expected: str) -> None:
    assert determine_server_host(given) == expected


@pytest.mark.parametrize(("given", "expected"), HOSTS[2:10], ids=[repr(h[0]) for h in HOSTS[2:10]])
def test_client_host_is_mapped_and_raw_host_kept(given: str, expected: str) -> None:
    client = posthog.Client("phc_k", host=given, send=False)

    assert client.host == expected
    assert client.raw_host == given


def test_client_without_host_uses_the_us_ingestion_host() -> None:
    client = posthog.Client("phc_k", send=False)

    assert (client.host, client.raw_host) == (US, US)


def test_trailing_slash_of_a_custom_host_does_not_double_in_paths(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(host=fake_server.url + "/", sync_mode=True)

    client.capture("u", "e")

    assert [r.path for r in fake_server.requests] == ["/batch/"]


# --- paths ------------------------------------------------------------------------------------------


def test_events_are_posted_to_batch(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client(sync_mode=True)

    client.capture("u", "e")

    [req] = fake_server.requests
    assert (req.method, req.path, req.query) == ("POST", "/batch/", {})


def test_remote_flags_are_posted_to_flags_v2(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    fake_server.set_remote_flags({"beta": "test"})
    client = make_client()

    value = client.get_feature_flag("beta", "user-1", send_feature_flag_events=False)

    assert value == "test"
    [req] = fake_server.requests
    assert (req.method, req.path, req.query) == ("POST", "/flags/", {"v": ["2"]})
    assert req.json["api_key"] == "phc_test_key"
    assert req.json["distinct_id"] == "user-1"
    assert req.header("User-Agent") == request.USER_AGENT
    assert req.header("Content-Type") == "application/json"


def test_definitions_are_fetched_with_the_personal_key(
    make_client: ClientFactory, fake_server: FakePostHog
) -> None:
    client = make_client(personal_api_key="phx_personal")

    client.load_feature_flags()

    req = fake_server.wait_for_requests("/api/feature_flag/local_evaluation")[0]
    assert (req.method, req.path) == ("GET", "/api/feature_flag/local_evaluation/")
    assert req.query["token"] == ["phc_test_key"]
    assert "send_cohorts" in req.query
    assert req.header("Authorization") == "Bearer phx_personal"
    assert req.header("User-Agent") == request.USER_AGENT


def test_remote_config_path(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    fake_server.set_remote_config("my-flag", {"color": "red"})
    client = make_client(personal_api_key="phx_personal")

    payload = client.get_remote_config_payload("my-flag")

    assert payload == {"color": "red"}
    [req] = fake_server.requests_to("/api/projects")
    assert (req.method, req.path) == ("GET", "/api/projects/@current/feature_flags/my-flag/remote_config/")
    assert req.header("Authorization") == "Bearer phx_personal"


def test_module_batch_post(fake_server: FakePostHog) -> None:
    response = request.batch_post("phc_mod", host=fake_server.url, batch=[{"event": "e", "distinct_id": "u"}])

    assert response.status_code == 200
    [req] = fake_server.requests
    assert req.path == "/batch/"
    assert set(req.json) == {"batch", "sentAt", "api_key"}
    assert req.json["api_key"] == "phc_mod"
    assert datetime.fromisoformat(req.json["sentAt"]).utcoffset() == timedelta(0)


def test_module_batch_post_gzip(fake_server: FakePostHog) -> None:
    request.batch_post("phc_mod", host=fake_server.url, gzip=True, batch=[{"event": "e", "distinct_id": "u"}])

    [req] = fake_server.requests
    assert req.header("Content-Encoding") == "gzip"
    assert req.json["batch"] == [{"event": "e", "distinct_id": "u"}]


@pytest.mark.parametrize("function", [request.flags, request.decide], ids=["flags", "decide"])
def test_module_flag_requests(fake_server: FakePostHog, function: Callable[..., Any]) -> None:
    fake_server.set_remote_flags({"beta": True})

    result = function("phc_mod", host=fake_server.url, distinct_id="user-1")

    [req] = fake_server.requests
    assert (req.path, req.query) == ("/flags/", {"v": ["2"]})
    assert req.json["distinct_id"] == "user-1"
    assert req.json["api_key"] == "phc_mod"
    assert result["flags"]["beta"]["enabled"] is True


def test_module_get_sends_a_bearer(fake_server: FakePostHog) -> None:
    result = request.get(
        "phx_personal", "/api/feature_flag/local_evaluation/?token=phc", host=fake_server.url
    )

    assert set(result) == {"flags", "group_type_mapping", "cohorts"}
    [req] = fake_server.requests
    assert req.header("Authorization") == "Bearer phx_personal"


def test_module_remote_config(fake_server: FakePostHog) -> None:
    fake_server.set_remote_config("cfg", [1, 2])

    assert request.remote_config("phx_personal", host=fake_server.url, key="cfg") == [1, 2]


# --- errors -----------------------------------------------------------------------------------------


def _post_failing(server: FakePostHog, **fault: Any) -> APIError:
    server.fail_next("/batch", **fault)
    with pytest.raises(APIError) as info:
        request.batch_post("phc_mod", host=server.url, batch=[{"event": "e"}])
    return info.value


def test_api_error_text_format() -> None:
    assert str(APIError(503, "Service unavailable")) == "[PostHog] Service unavailable (503)"


def test_api_error_takes_detail_from_json(fake_server: FakePostHog) -> None:
    error = _post_failing(fake_server, status=401, body={"type": "auth", "detail": "Invalid token"})

    assert (error.status, error.message) == (401, "Invalid token")
    assert str(error) == "[PostHog] Invalid token (401)"


def test_api_error_takes_the_text_of_a_non_json_body(fake_server: FakePostHog) -> None:
    error = _post_failing(fake_server, status=502, body="<html>Bad gateway</html>")

    assert (error.status, error.message) == (502, "<html>Bad gateway</html>")


def test_api_error_takes_the_text_of_json_without_detail(fake_server: FakePostHog) -> None:
    error = _post_failing(fake_server, status=400, body={"error": "nope"})

    assert json.loads(error.message) == {"error": "nope"}


@pytest.mark.parametrize("status", [201, 202, 204], ids=str)
def test_other_2xx_answers_are_errors(fake_server: FakePostHog, status: int) -> None:
    error = _post_failing(fake_server, status=status, body="")

    assert error.status == status


@pytest.mark.parametrize(
    ("header", "expected"),
    [(2, 2.0), (0.3, 0.3), ("120", 120.0), (None, None), ("soon", None)],
    ids=["int", "float", "str", "absent", "garbage"],
)
def test_retry_after_seconds_are_parsed(
    fake_server: FakePostHog, header: Any, expected: float | None
) -> None:
    error = _post_failing(fake_server, status=429, retry_after=header)

    assert error.status == 429
    assert error.retry_after == expected


def test_retry_after_http_date_is_parsed(fake_server: FakePostHog) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)

    error = _post_failing(fake_server, status=503, retry_after=format_datetime(when, usegmt=True))

    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 31


def test_quota_limited_flags_answer_raises_quota_limit_error(fake_server: FakePostHog) -> None:
    fake_server.set_remote_flags({"beta": True}, quota_limited=True)

    with pytest.raises(QuotaLimitError) as info:
        request.flags("phc_mod", host=fake_server.url, distinct_id="u")

    assert info.value.status == 200
    assert isinstance(info.value, APIError)


def test_sync_mode_surfaces_the_api_error(make_client: ClientFactory, fake_server: FakePostHog) -> None:
    client = make_client(sync_mode=True)
    fake_server.fail_next("/batch", status=400, body={"detail": "Malformed"})

    with pytest.raises(APIError) as info:
        client.capture("u", "e")

    assert (info.value.status, info.value.message) == (400, "Malformed")

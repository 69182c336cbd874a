"""Remote flag evaluation through the fake server: body, retries, failures (wire.md §6, §8; flags.md §6)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

import posthog
from posthog.exceptions import APIError, QuotaLimitError
from tests.conftest import API_KEY
from tests.fake_server import FakePostHog, SilentServer

MakeClient = Callable[..., posthog.Client]

FLAGS = "/flags"
PERSONAL_KEY = "phx_personal"
FLAG_TIMEOUT = 0.5
#: A remote failure must come back within the flag timeout, plus slack for a loaded machine.
FAILURE_BUDGET = 1.5


def flag_requests(server: FakePostHog) -> list[Any]:
    return server.requests_to(FLAGS)


# --- the request body (wire.md §6) ---------------------------------------------------------------


def test_remote_body_carries_context_and_automatic_properties(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_remote_flags({"beta": True})
    client = make_client(gzip=True)  # gzip is for batches only: /flags is never compressed

    value = client.get_feature_flag(
        "beta",
        "user-1",
        groups={"company": "acme"},
        person_properties={"plan": "pro"},
        group_properties={"company": {"size": 5}},
        disable_geoip=False,
    )

    assert value is True
    [request] = flag_requests(fake_server)
    assert request.method == "POST"
    assert request.query == {"v": ["2"]}
    assert request.header("Content-Encoding") is None
    assert request.header("Content-Type") == "application/json"
    body = request.json
    assert body["distinct_id"] == "user-1"
    assert body["groups"] == {"company": "acme"}
    assert body["person_properties"] == {"distinct_id": "user-1", "plan": "pro"}
    assert body["group_properties"] == {"company": {"$group_key": "acme", "size": 5}}
    # 3.x sent `disable_geoip`; the server reads `geoip_disable` (weaknesses §D 34): both go out.
    assert body["disable_geoip"] is False
    assert body["geoip_disable"] is False
    assert body["api_key"] == API_KEY
    assert body["flag_keys_to_evaluate"] == ["beta"]
    assert "sentAt" in body


def test_remote_body_uses_client_geoip_default(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags({"beta": True})
    make_client().get_feature_flag("beta", "user-1")
    make_client(disable_geoip=False).get_feature_flag("beta", "user-2")

    first, second = (r.json for r in flag_requests(fake_server))
    assert (first["disable_geoip"], first["geoip_disable"]) == (True, True)
    assert (second["disable_geoip"], second["geoip_disable"]) == (False, False)


def test_caller_may_override_automatic_properties(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags({"beta": True})
    make_client().get_feature_flag(
        "beta",
        "user-1",
        groups={"company": "acme"},
        person_properties={"distinct_id": "other"},
        group_properties={"company": {"$group_key": "other-co"}},
    )

    body = flag_requests(fake_server)[0].json
    assert body["person_properties"] == {"distinct_id": "other"}
    assert body["group_properties"] == {"company": {"$group_key": "other-co"}}


def test_int_distinct_id_goes_out_as_a_json_number(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags({"beta": True})
    assert make_client().get_feature_flag("beta", 42) is True
    assert flag_requests(fake_server)[0].json["distinct_id"] == 42


USER_UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("distinct_id", "person_properties", "expected_id", "expected_props"),
    [
        (USER_UUID, None, str(USER_UUID), {"distinct_id": str(USER_UUID)}),
        ("u", {"amount": Decimal("1.25")}, "u", {"distinct_id": "u", "amount": 1.25}),
        ("u", {"tags": {"only"}}, "u", {"distinct_id": "u", "tags": ["only"]}),
        ("u", {"ref": USER_UUID}, "u", {"distinct_id": "u", "ref": str(USER_UUID)}),
    ],
    ids=["uuid-distinct-id", "decimal-property", "set-property", "uuid-property"],
)
def test_unusual_values_do_not_break_the_remote_call(
    fake_server: FakePostHog,
    make_client: MakeClient,
    distinct_id: Any,
    person_properties: Any,
    expected_id: Any,
    expected_props: dict[str, Any],
) -> None:
    # weaknesses §D 33: 3.x failed to encode these and silently returned None without a request.
    fake_server.set_remote_flags({"beta": "test"})

    value = make_client().get_feature_flag("beta", distinct_id, person_properties=person_properties)

    assert value == "test"
    [request] = flag_requests(fake_server)
    assert request.json["distinct_id"] == expected_id
    assert request.json["person_properties"] == expected_props


# --- failures: None, within the flag timeout (flags.md §6 step 6) --------------------------------


@pytest.fixture
def quick_client(make_client: MakeClient) -> posthog.Client:
    return make_client(feature_flags_request_timeout_seconds=FLAG_TIMEOUT)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    "break_server",
    [
        lambda s: s.fail_next(FLAGS, times=5, status=500),
        lambda s: s.drop_next(FLAGS, times=5),
        lambda s: s.hang(FLAGS),
        lambda s: s.fail_next(FLAGS, times=5, status=200, body="not json"),
        lambda s: s.fail_next(FLAGS, times=5, status=200, body=[1, 2]),
    ],
    ids=["500", "dropped-connection", "hang", "invalid-json", "not-an-object"],
)
def test_remote_failure_reads_as_unknown_within_the_timeout(
    fake_server: FakePostHog,
    quick_client: posthog.Client,
    break_server: Callable[[FakePostHog], None],
) -> None:
    fake_server.set_remote_flags({"beta": True})
    break_server(fake_server)

    value, elapsed = _timed(lambda: quick_client.get_feature_flag("beta", "user-1"))
    enabled, _ = _timed(lambda: quick_client.feature_enabled("beta", "user-1"))
    payload, _ = _timed(lambda: quick_client.get_feature_flag_payload("beta", "user-1"))

    assert (value, enabled, payload) == (None, None, None)
    assert elapsed < FAILURE_BUDGET
    assert flag_requests(fake_server), "the server was asked"


def test_silent_server_reads_as_unknown_within_the_timeout(
    silent_server: SilentServer, make_client: MakeClient
) -> None:
    client = make_client(host=silent_server.url, feature_flags_request_timeout_seconds=FLAG_TIMEOUT)

    value, elapsed = _timed(lambda: client.get_feature_flag("beta", "user-1"))
    flags, all_elapsed = _timed(lambda: client.get_all_flags_and_payloads("user-1"))

    assert value is None
    assert elapsed < FAILURE_BUDGET
    assert flags == {"featureFlags": {}, "featureFlagPayloads": {}}
    assert all_elapsed < FAILURE_BUDGET


def test_unreachable_server_with_personal_key_stays_within_budget(
    silent_server: SilentServer, make_client: MakeClient
) -> None:
    # Definitions never arrive: each call waits at most the flag timeout for them, then asks remotely.
    client = make_client(
        host=silent_server.url,
        personal_api_key=PERSONAL_KEY,
        feature_flags_request_timeout_seconds=FLAG_TIMEOUT,
    )

    for distinct_id in ("u1", "u2"):
        value, elapsed = _timed(lambda: client.get_feature_flag("beta", distinct_id))  # noqa: B023
        assert value is None
        assert elapsed < 2 * FAILURE_BUDGET


def test_quota_limited_answer_reads_as_unknown(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags({"beta": True}, quota_limited=True)
    client = make_client()

    assert client.get_feature_flag("beta", "user-1") is None
    assert client.feature_enabled("beta", "user-1") is None
    assert client.get_all_flags("user-1") == {}


def test_errors_while_computing_with_flag_absent_is_unknown(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    # weaknesses §D 35: a flag the server failed to compute is unknown, not False.
    fake_server.set_remote_flags({"other": True}, errors_while_computing=True)
    client = make_client()

    assert client.get_feature_flag("beta", "user-1") is None
    assert client.feature_enabled("beta", "user-1") is None
    assert client.get_feature_flag_payload("beta", "user-1") is None


def test_errors_while_computing_still_returns_flags_that_were_computed(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_remote_flags({"beta": "test"}, errors_while_computing=True)
    assert make_client().get_feature_flag("beta", "user-1") == "test"


def test_flag_absent_from_a_clean_answer_is_false(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags({"other": True})
    client = make_client()

    assert client.get_feature_flag("beta", "user-1") is False
    assert client.feature_enabled("beta", "user-1") is False


# --- one quick retry (remote.py) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fail_once",
    [
        lambda s: s.fail_next(FLAGS, status=502),
        lambda s: s.fail_next(FLAGS, status=504),
        lambda s: s.drop_next(FLAGS),
    ],
    ids=["502", "504", "dropped-connection"],
)
def test_one_quick_retry_recovers(
    fake_server: FakePostHog, quick_client: posthog.Client, fail_once: Callable[[FakePostHog], None]
) -> None:
    fake_server.set_remote_flags({"beta": "test"})
    fail_once(fake_server)

    value, elapsed = _timed(lambda: quick_client.get_feature_flag("beta", "user-1"))

    assert value == "test"
    assert len(flag_requests(fake_server)) == 2
    assert elapsed < FAILURE_BUDGET


@pytest.mark.parametrize("status", [502, 504])
def test_only_one_retry(fake_server: FakePostHog, quick_client: posthog.Client, status: int) -> None:
    fake_server.set_remote_flags({"beta": True})
    fake_server.fail_next(FLAGS, times=5, status=status)

    assert quick_client.get_feature_flag("beta", "user-1") is None
    assert len(flag_requests(fake_server)) == 2


@pytest.mark.parametrize("status", [500, 400, 401, 429])
def test_no_retry_on_other_statuses(
    fake_server: FakePostHog, quick_client: posthog.Client, status: int
) -> None:
    fake_server.set_remote_flags({"beta": True})
    fake_server.fail_next(FLAGS, times=1, status=status)

    assert quick_client.get_feature_flag("beta", "user-1") is None
    assert len(flag_requests(fake_server)) == 1


def test_no_retry_after_a_timeout(silent_server: SilentServer, make_client: MakeClient) -> None:
    client = make_client(host=silent_server.url, feature_flags_request_timeout_seconds=FLAG_TIMEOUT)

    value, elapsed = _timed(lambda: client.get_feature_flag("beta", "user-1"))

    assert value is None
    assert elapsed < FAILURE_BUDGET
    assert silent_server.accepted == 1


# --- client-only remote helpers: errors propagate (flags.md §6, wire.md §6 Errors) ----------------


def test_remote_helpers_return_the_server_answer(fake_server: FakePostHog, make_client: MakeClient) -> None:
    fake_server.set_remote_flags(
        {"beta": "test", "on": True, "off": False},
        payloads={"beta": {"a": 1}, "off": "ignored"},
        request_id="req-1",
    )
    client = make_client()

    assert client.get_feature_variants("user-1") == {"beta": "test", "on": True, "off": False}
    assert client.get_feature_payloads("user-1") == {"beta": '{"a": 1}'}
    assert client.get_feature_flags_and_payloads("user-1") == {
        "featureFlags": {"beta": "test", "on": True, "off": False},
        "featureFlagPayloads": {"beta": '{"a": 1}'},
    }
    decision = client.get_flags_decision("user-1", groups={"company": "acme"})
    assert decision["requestId"] == "req-1"
    assert decision["flags"]["beta"].get_value() == "test"
    assert decision["flags"]["beta"].metadata.payload == '{"a": 1}'
    # The helpers ask for every flag, with the properties as given.
    last = flag_requests(fake_server)[-1].json
    assert "flag_keys_to_evaluate" not in last
    assert last["groups"] == {"company": "acme"}


HELPERS = [
    "get_feature_variants",
    "get_feature_payloads",
    "get_feature_flags_and_payloads",
    "get_flags_decision",
]


@pytest.mark.parametrize("method", HELPERS)
def test_remote_helpers_raise_api_errors(
    fake_server: FakePostHog, make_client: MakeClient, method: str
) -> None:
    fake_server.fail_next(FLAGS, status=500, body={"detail": "boom"})

    with pytest.raises(APIError) as info:
        getattr(make_client(), method)("user-1")

    assert info.value.status == 500


@pytest.mark.parametrize("method", HELPERS)
def test_remote_helpers_raise_quota_limit(
    fake_server: FakePostHog, make_client: MakeClient, method: str
) -> None:
    fake_server.set_remote_flags({"beta": True}, quota_limited=True)

    with pytest.raises(QuotaLimitError):
        getattr(make_client(), method)("user-1")


def test_remote_helpers_raise_transport_errors(silent_server: SilentServer, make_client: MakeClient) -> None:
    client = make_client(host=silent_server.url, feature_flags_request_timeout_seconds=FLAG_TIMEOUT)

    started = time.monotonic()
    with pytest.raises(Exception) as info:
        client.get_feature_variants("user-1")

    assert not isinstance(info.value, AssertionError)
    assert time.monotonic() - started < FAILURE_BUDGET


# --- remote config (wire.md §8) ------------------------------------------------------------------


@pytest.fixture
def keyed_server(fake_server: FakePostHog) -> Iterator[FakePostHog]:
    fake_server.personal_api_key = PERSONAL_KEY
    yield fake_server


def test_remote_config_payload_with_personal_key(keyed_server: FakePostHog, make_client: MakeClient) -> None:
    keyed_server.set_remote_config("my-config", {"colour": "blue"})
    client = make_client(personal_api_key=PERSONAL_KEY)

    assert client.get_remote_config_payload("my-config") == {"colour": "blue"}

    [request] = keyed_server.requests_to("/api/projects")
    assert request.method == "GET"
    assert request.path == "/api/projects/@current/feature_flags/my-config/remote_config/"
    assert request.header("Authorization") == f"Bearer {PERSONAL_KEY}"


def test_remote_config_payload_without_personal_key_is_none_without_request(
    fake_server: FakePostHog, make_client: MakeClient
) -> None:
    fake_server.set_remote_config("my-config", {"colour": "blue"})

    assert make_client().get_remote_config_payload("my-config") is None
    assert fake_server.requests_to("/api/projects") == []


@pytest.mark.parametrize(
    ("key", "break_server"),
    [
        ("unknown", lambda s: None),
        ("known", lambda s: s.fail_next("/api/projects", status=500)),
        ("known", lambda s: s.drop_next("/api/projects", times=3)),
        ("known", lambda s: setattr(s, "personal_api_key", "phx_someone_else")),
    ],
    ids=["404", "500", "dropped", "401"],
)
def test_remote_config_payload_error_is_none(
    keyed_server: FakePostHog, make_client: MakeClient, key: str, break_server: Callable[[FakePostHog], None]
) -> None:
    keyed_server.set_remote_config("known", {"colour": "blue"})
    client = make_client(personal_api_key=PERSONAL_KEY, feature_flags_request_timeout_seconds=FLAG_TIMEOUT)
    break_server(keyed_server)

    assert client.get_remote_config_payload(key) is None
    assert keyed_server.requests_to("/api/projects")

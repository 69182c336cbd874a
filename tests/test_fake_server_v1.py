"""The fake PostHog's capture v1 and AI endpoints, exercised through real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import uuid as uuidlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fake_server import FakePostHog, V1Answer

REPO_ROOT = Path(__file__).resolve().parents[1]
V1 = "/i/v1/analytics/events"
AI = "/i/v0/ai/batch/"
NOW = "2026-03-04T05:06:07.123456+00:00"
ERROR_URI = "https://posthog.com/docs/api"


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(max_lifetime=60) as fake:
        yield fake
    assert fake.handler_errors == []


def _event(name: str = "played", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": name,
        "uuid": str(uuidlib.uuid4()),
        "distinct_id": "u1",
        "timestamp": "2025-01-02T03:04:05+00:00",
        "options": {},
        "properties": {"n": 1},
    }
    event.update(extra)
    return event


def _body(*events: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"created_at": NOW, "batch": list(events) or [_event()], **extra}


def _headers(request_id: str | None = None, attempt: int = 1, token: str = "phc_t") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "posthog-python/9.9.9",
        "Authorization": f"Bearer {token}",
        "PostHog-Sdk-Info": "posthog-python/9.9.9",
        "PostHog-Attempt": str(attempt),
        "PostHog-Request-Id": request_id or str(uuidlib.uuid4()),
        "PostHog-Request-Timestamp": "2026-03-04T05:06:08.5+00:00",
    }


def _post(
    server: FakePostHog,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    encoding: str | None = None,
    path: str = V1,
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = _headers() if headers is None else dict(headers)
    if encoding is not None:
        sent["Content-Encoding"] = encoding
    return requests.post(f"{server.url}{path}", data=data, headers=sent, timeout=5)


def _ai_body(*names: str) -> dict[str, Any]:
    return {
        "batch": [
            {
                "event": name,
                "distinct_id": "user-1",
                "uuid": str(uuidlib.uuid4()),
                "timestamp": "2025-01-02T03:04:05+00:00",
                "properties": {"$ai_model": "gpt-x", "$lib": "posthog-python", "$lib_version": "9.9.9"},
            }
            for name in names
        ],
        "historical_migration": False,
        "sent_at": NOW,
        "api_key": "phc_t",
    }


def _assert_v1_error(response: requests.Response, status: int, error: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error", "error_description", "error_uri"}
    assert body["error"] == error
    assert body["error_uri"] == ERROR_URI
    assert isinstance(body["error_description"], str) and body["error_description"]


# -- default answer, auth, encodings ----------------------------------------------------------------


def test_default_answer_is_ok_for_every_event_keyed_by_uuid(server: FakePostHog) -> None:
    first, second = _event("a"), _event("b")
    headers = _headers(request_id="0198c0de-0000-4000-8000-000000000001")

    response = _post(server, _body(first, second), headers=headers)

    assert response.status_code == 200
    assert response.json() == {"results": {first["uuid"]: {"result": "ok"}, second["uuid"]: {"result": "ok"}}}
    assert response.headers["PostHog-Request-Id"] == "0198c0de-0000-4000-8000-000000000001"
    assert "Retry-After" not in response.headers
    [recorded] = server.requests_to(V1)
    assert (recorded.status, recorded.json) == (200, _body(first, second))
    assert recorded.header("authorization") == "Bearer phc_t"
    assert server.v1_events() == [first, second]
    assert server.events() == [first, second]
    assert server.v1_results_log() == [[(first["uuid"], "ok"), (second["uuid"], "ok")]]
    assert server.wait_for_events(2) == [first, second]
    assert server.stats() == {"events": 2, "batches": 1, "requests": 1}
    assert server.v1_violations == []


def test_trailing_slash_and_lowercase_bearer_with_spaces_are_accepted(server: FakePostHog) -> None:
    headers = {**_headers(), "Authorization": "bearer   phc_t  "}

    assert _post(server, _body(), headers=headers, path=V1 + "/").status_code == 200
    assert server.v1_violations == []


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer    ", "Basic cGhjX3Q=", "phc_t"])
def test_missing_or_empty_bearer_token_is_401(server: FakePostHog, authorization: str | None) -> None:
    headers = _headers()
    del headers["Authorization"]
    if authorization is not None:
        headers["Authorization"] = authorization

    response = _post(server, _body(), headers=headers)

    _assert_v1_error(response, 401, "missing_authorization")
    assert server.v1_events() == []
    assert server.v1_results_log() == [[]]
    assert any("Authorization" in v for v in server.v1_violations)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        (None, lambda raw: raw),
        ("identity", lambda raw: raw),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("GZip", gzip.compress),
    ],
)
def test_compressed_bodies_are_decoded(server: FakePostHog, encoding: str | None, compress: Any) -> None:
    body = _body(_event("squeezed"))
    raw = compress(json.dumps(body).encode())

    response = _post(server, raw, encoding=encoding)

    assert response.status_code == 200
    [recorded] = server.requests_to(V1)
    assert (recorded.raw_body, recorded.json) == (raw, body)
    assert [e["event"] for e in server.v1_events()] == ["squeezed"]


def test_zstd_body_is_decoded(server: FakePostHog) -> None:
    zstandard = pytest.importorskip("zstandard")
    body = _body(_event("zstd"))
    raw = zstandard.ZstdCompressor().compress(json.dumps(body).encode())
    assert raw[:4] == b"\x28\xb5\x2f\xfd"

    response = _post(server, raw, encoding="zstd")

    assert response.status_code == 200
    assert server.requests_to(V1)[0].json == body
    assert server.v1_violations == []


def test_brotli_is_decoded_only_when_the_package_is_there(server: FakePostHog) -> None:
    body = json.dumps(_body(_event("br"))).encode()
    if importlib.util.find_spec("brotli") is not None:
        import brotli  # type: ignore[import-not-found,unused-ignore]

        assert _post(server, brotli.compress(body), encoding="br").status_code == 200
    else:
        _assert_v1_error(_post(server, body, encoding="br"), 400, "request_parsing_error")
        assert server.v1_events() == []


@pytest.mark.parametrize(
    ("encoding", "raw"),
    [
        ("compress", b"whatever"),
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(b'{"created_at": "x", "batch": [', mtime=0)[:-8]),
        ("deflate", zlib.compress(b"{}")[2:-4]),  # raw deflate: the server wants zlib framing
        ("zstd", b"not zstd"),
    ],
    ids=["unknown", "not-gzip", "truncated-gzip", "raw-deflate", "not-zstd"],
)
def test_undecodable_bodies_are_400(server: FakePostHog, encoding: str, raw: bytes) -> None:
    _assert_v1_error(_post(server, raw, encoding=encoding), 400, "request_parsing_error")
    assert server.v1_results_log() == [[]]
    assert server.v1_violations != []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(server: FakePostHog, content_type: str | None) -> None:
    headers = _headers()
    del headers["Content-Type"]
    if content_type is not None:
        headers["Content-Type"] = content_type

    _assert_v1_error(_post(server, _body(), headers=headers), 415, "unsupported_content_type")


def test_json_content_type_with_a_charset_is_accepted(server: FakePostHog) -> None:
    headers = {**_headers(), "Content-Type": "application/json; charset=utf-8"}

    assert _post(server, _body(), headers=headers).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        [],
        {"created_at": NOW},
        {"created_at": NOW, "batch": []},
        {"created_at": NOW, "batch": {"event": "x"}},
        {"batch": [_event()]},
        {"created_at": 12, "batch": [_event()]},
        {"created_at": NOW, "batch": ["not an event"]},
        {"created_at": NOW, "batch": [{k: v for k, v in _event().items() if k != "uuid"}]},
        {"created_at": NOW, "batch": [_event(event=None)]},
        {"created_at": NOW, "batch": [_event(distinct_id=12345)]},
        {"created_at": NOW, "batch": [_event(timestamp=1700000000)]},
        {"created_at": NOW, "batch": [_event(options=[])]},
        {"created_at": NOW, "batch": [_event(options=None)]},
        {"created_at": NOW, "batch": [_event(properties="x")]},
        {"created_at": NOW, "batch": [_event(options={"cookieless_mode": "true"})]},
        {"created_at": NOW, "batch": [_event(options={"product_tour_id": 3})]},
    ],
)
def test_malformed_requests_are_400(server: FakePostHog, body: Any) -> None:
    server.script_v1(V1Answer("retry"))

    _assert_v1_error(_post(server, body), 400, "request_parsing_error")
    assert server.pending_v1_answers() == 1  # a rejected request uses no scripted answer
    assert server.v1_events() == []
    assert server.stats()["events"] == 0


def test_a_later_malformed_event_rejects_the_whole_batch(server: FakePostHog) -> None:
    response = _post(server, _body(_event("fine"), _event("bad", uuid=7)))

    _assert_v1_error(response, 400, "request_parsing_error")
    assert "event 1" in response.json()["error_description"]
    assert server.events() == []


# -- scripted results ------------------------------------------------------------------------------


def test_results_by_position_with_details_and_left_out_uuids(server: FakePostHog) -> None:
    events = [_event(str(i)) for i in range(5)]
    server.script_v1(V1Answer(["ok", ("retry", "not_persisted"), ("drop", "invalid_event"), None]))

    results = _post(server, _body(*events)).json()["results"]

    assert results == {
        events[0]["uuid"]: {"result": "ok"},
        events[1]["uuid"]: {"result": "retry", "details": "not_persisted"},
        events[2]["uuid"]: {"result": "drop", "details": "invalid_event"},
        events[4]["uuid"]: {"result": "ok"},  # past the end of the script
    }
    assert server.v1_events() == [events[0], events[4]]
    assert server.v1_results_log() == [
        [
            (events[0]["uuid"], "ok"),
            (events[1]["uuid"], "retry"),
            (events[2]["uuid"], "drop"),
            (events[4]["uuid"], "ok"),
        ]
    ]
    assert server.requests_to(V1)[0].v1_results == (
        (events[0]["uuid"], "ok", None),
        (events[1]["uuid"], "retry", "not_persisted"),
        (events[2]["uuid"], "drop", "invalid_event"),
        (events[3]["uuid"], None, None),
        (events[4]["uuid"], "ok", None),
    )


def test_one_result_for_every_event_with_retry_after_then_fifo_then_default(server: FakePostHog) -> None:
    event = _event()
    request_id = str(uuidlib.uuid4())
    server.script_v1(V1Answer("retry", retry_after=3), V1Answer("retry", retry_after=1.5))

    with requests.Session() as session:
        answers = []
        for attempt in (1, 2, 3):
            answers.append(
                session.post(
                    f"{server.url}{V1}",
                    data=json.dumps(_body(event)),
                    headers=_headers(request_id, attempt),
                    timeout=5,
                )
            )

    assert [a.json()["results"][event["uuid"]]["result"] for a in answers] == ["retry", "retry", "ok"]
    assert [a.headers.get("Retry-After") for a in answers] == ["3", "1.5", None]
    assert all(a.headers["PostHog-Request-Id"] == request_id for a in answers)
    assert server.v1_results_log() == [[(event["uuid"], r)] for r in ("retry", "retry", "ok")]
    assert server.v1_events() == [event]  # delivered exactly once
    assert server.pending_v1_answers() == 0
    assert server.v1_violations == []


def test_callable_results_and_the_persistent_results_function(server: FakePostHog) -> None:
    seen: list[str] = []

    def by_name(event: dict[str, Any]) -> str | tuple[str, str | None]:
        seen.append(event["event"])
        return ("warning", "slow down") if event["event"] == "warn" else "limited"

    server.script_v1(V1Answer(lambda event: "drop" if event["event"] == "bad" else "ok"))
    server.set_v1_results(by_name)
    good, bad, warn, other = _event("good"), _event("bad"), _event("warn"), _event("other")

    scripted = _post(server, _body(good, bad)).json()["results"]
    persistent = _post(server, _body(warn, other)).json()["results"]
    server.set_v1_results(None)
    default = _post(server, _body(other)).json()["results"]

    assert scripted == {good["uuid"]: {"result": "ok"}, bad["uuid"]: {"result": "drop"}}
    assert persistent == {
        warn["uuid"]: {"result": "warning", "details": "slow down"},
        other["uuid"]: {"result": "limited"},
    }
    assert default == {other["uuid"]: {"result": "ok"}}
    assert seen == ["warn", "other"]
    assert server.v1_events() == [good, warn, other]


def test_other_2xx_statuses_empty_204_and_unreadable_bodies(server: FakePostHog) -> None:
    event = _event()
    server.script_v1(
        V1Answer(status=202),
        V1Answer(status=204, body=b""),
        V1Answer(body=b"<html>proxy</html>"),
        V1Answer(status=204),
    )

    accepted = _post(server, _body(event))
    empty = _post(server, _body(event))
    unreadable = _post(server, _body(event))
    empty_default = _post(server, _body(event))

    assert (accepted.status_code, accepted.json()) == (202, {"results": {event["uuid"]: {"result": "ok"}}})
    assert (empty.status_code, empty.content) == (204, b"")
    assert (unreadable.status_code, unreadable.content) == (200, b"<html>proxy</html>")
    assert (empty_default.status_code, empty_default.content) == (204, b"")
    assert server.v1_results_log() == [[(event["uuid"], "ok")], [], [], []]
    assert server.v1_events() == [event]
    assert server.stats()["events"] == 1


def test_v1_answer_is_validated() -> None:
    with pytest.raises(ValueError, match="2xx"):
        V1Answer(status=503)
    with pytest.raises(TypeError):
        V1Answer([("drop", "a", "b")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        V1Answer(body="text")  # type: ignore[arg-type]
    assert V1Answer(["ok", "retry"]).results == (("ok", None), ("retry", None))


def test_a_raising_results_function_answers_500_and_is_reported(server: FakePostHog) -> None:
    def boom(event: dict[str, Any]) -> str:
        raise RuntimeError("results boom")

    server.set_v1_results(boom)

    assert _post(server, _body()).status_code == 500
    assert "RuntimeError: results boom" in server.handler_errors[0]
    server.handler_errors.clear()


# -- faults on the v1 path -------------------------------------------------------------------------


def test_status_faults_answer_with_the_v1_error_body(server: FakePostHog) -> None:
    request_id = str(uuidlib.uuid4())
    server.script_v1(V1Answer("retry"))
    server.fail_next(V1, status=503, retry_after=2)
    server.fail_next(V1, status=402)
    server.fail_next(V1, status=418, body={"detail": "custom"})

    unavailable = _post(server, _body(), headers=_headers(request_id))
    billing = _post(server, _body())
    custom = _post(server, _body())
    scripted = _post(server, _body())

    _assert_v1_error(unavailable, 503, "service_unavailable")
    assert unavailable.headers["Retry-After"] == "2"
    assert unavailable.headers["PostHog-Request-Id"] == request_id
    assert billing.status_code == 402
    assert billing.json()["error"] == "billing_limit_exceeded"
    assert "Retry-After" not in billing.headers
    assert (custom.status_code, custom.json()) == (418, {"detail": "custom"})
    assert list(scripted.json()["results"].values()) == [{"result": "retry"}]  # faults used no answer
    assert [r.status for r in server.requests_to(V1)] == [503, 402, 418, 200]
    assert server.v1_results_log() == [
        [],
        [],
        [],
        [(server.requests_to(V1)[3].json["batch"][0]["uuid"], "retry")],
    ]
    assert server.v1_violations == []


def test_fail_for_drop_next_and_delay_apply_to_the_v1_path(server: FakePostHog) -> None:
    server.drop_next(V1)
    server.fail_for(V1 + "/", 30, status=504)

    with pytest.raises(requests.ConnectionError):
        _post(server, _body())
    _assert_v1_error(_post(server, _body()), 504, "gateway_timeout")
    assert requests.post(f"{server.url}/batch/", json={"batch": [], "api_key": "k"}, timeout=5).ok

    server.clear_faults()
    server.delay_next(V1, 0.2)
    assert _post(server, _body()).status_code == 200
    assert [r.status for r in server.requests_to(V1)] == [None, 504, 200]


# -- events(), violations, reset -------------------------------------------------------------------


def test_only_ok_and_warning_events_are_delivered_interleaved_with_batch(server: FakePostHog) -> None:
    events = [_event(r) for r in ("ok", "warning", "retry", "drop", "limited", "someday")]
    server.set_v1_results(lambda event: event["event"])

    requests.post(f"{server.url}/batch/", json={"batch": [{"event": "v0-first"}], "api_key": "k"}, timeout=5)
    _post(server, _body(*events))
    requests.post(f"{server.url}/batch/", json={"batch": [{"event": "v0-last"}], "api_key": "k"}, timeout=5)

    assert [e["event"] for e in server.v1_events()] == ["ok", "warning"]
    assert [e["event"] for e in server.events()] == ["v0-first", "ok", "warning", "v0-last"]
    assert [e["event"] for e in server.batches()[0]["batch"]] == ["v0-first"]
    assert server.stats() == {"events": 4, "batches": 3, "requests": 3}


def test_protocol_violations_are_noted_without_changing_the_answer(server: FakePostHog) -> None:
    event = {**_event(properties={"$lib": "posthog-python", "$session_id": "s"}), "$set": {"plan": "pro"}}
    headers = _headers()
    del headers["PostHog-Attempt"]
    headers["PostHog-Request-Timestamp"] = "yesterday"

    response = _post(
        server, _body(event, api_key="phc_t", sent_at=NOW, historical_migration=False), headers=headers
    )

    assert response.status_code == 200
    assert server.v1_events() == [event]
    violations = server.v1_violations
    for expected in (
        "v1 request 1: missing header PostHog-Attempt",
        "v1 request 1: PostHog-Request-Timestamp is not RFC 3339 UTC: 'yesterday'",
        "v1 request 1: v1 body has 'api_key'",
        "v1 request 1: v1 body has 'sent_at'",
        "v1 request 1: historical_migration sent but not true: False",
        "v1 request 1: event 0: top-level '$set'",
        "v1 request 1: event 0: properties hold '$lib'",
        "v1 request 1: event 0: properties hold '$session_id'",
    ):
        assert expected in violations
    assert len(violations) == 8


def test_api_key_alone_is_one_violation_and_faulted_requests_are_checked_too(server: FakePostHog) -> None:
    server.fail_next(V1, status=500)

    _post(server, _body(api_key="phc_t"))
    _post(server, _body())

    assert server.v1_violations == ["v1 request 1: v1 body has 'api_key'"]


def test_reset_forgets_everything_new_and_clear_keeps_the_script(server: FakePostHog) -> None:
    server.script_v1(V1Answer("retry"), V1Answer("drop"))
    server.set_v1_results(lambda event: "drop")
    _post(server, _body(api_key="k"))
    requests.post(
        f"{server.url}{AI}", json=_ai_body("$ai_generation"), headers={"Authorization": "x"}, timeout=5
    )

    server.clear()
    assert (server.v1_violations, server.ai_violations, server.v1_results_log()) == ([], [], [])
    assert server.pending_v1_answers() == 1

    server.reset()
    event = _event()
    assert _post(server, _body(event)).json() == {"results": {event["uuid"]: {"result": "ok"}}}
    assert server.pending_v1_answers() == 0
    assert server.v1_events() == [event]
    assert server.v1_violations == []
    assert server.stats() == {"events": 1, "batches": 1, "requests": 1}


# -- AI endpoint -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [AI, AI.rstrip("/")])
def test_ai_batches_plain_and_gzip_are_accepted_and_recorded(server: FakePostHog, path: str) -> None:
    plain, zipped = _ai_body("$ai_generation"), _ai_body("$ai_span", "$ai_trace")
    headers = {"Content-Type": "application/json", "User-Agent": "posthog-python/9.9.9"}

    first = requests.post(f"{server.url}{path}", data=json.dumps(plain), headers=headers, timeout=5)
    second = requests.post(
        f"{server.url}{path}",
        data=gzip.compress(json.dumps(zipped).encode()),
        headers={**headers, "Content-Encoding": "gzip"},
        timeout=5,
    )

    assert (first.status_code, first.json()) == (200, {"status": 1})
    assert (second.status_code, second.json()) == (200, {"status": 1})
    assert [r.json for r in server.requests_to(AI)] == [plain, zipped]
    assert [e["event"] for e in server.ai_events()] == ["$ai_generation", "$ai_span", "$ai_trace"]
    assert server.events() == server.ai_events()
    assert server.v1_events() == []
    assert server.batches() == []  # /batch/ only
    assert server.stats() == {"events": 3, "batches": 2, "requests": 2}
    assert server.ai_violations == []


def test_ai_endpoint_answers_like_batch_and_has_its_own_faults(server: FakePostHog) -> None:
    server.fail_next("/batch/", status=500)
    server.fail_next(AI, status=503, retry_after=1)

    failed = requests.post(f"{server.url}{AI}", json=_ai_body("$ai_generation"), timeout=5)
    accepted = requests.post(f"{server.url}{AI}", json=_ai_body("$ai_generation"), timeout=5)
    malformed = requests.post(f"{server.url}{AI}", data=b"{nope", timeout=5)

    assert (failed.status_code, failed.headers["Retry-After"]) == (503, "1")
    assert "detail" in failed.json()
    assert accepted.status_code == 200
    assert malformed.status_code == 400
    assert requests.post(f"{server.url}/batch/", json={"batch": []}, timeout=5).status_code == 500
    assert len(server.ai_events()) == 1


def test_ai_violations_note_v1_headers_and_v0_shape_problems(server: FakePostHog) -> None:
    body = _ai_body("$ai_generation")
    del body["sent_at"]
    del body["batch"][0]["uuid"]
    headers = {**_headers(), "Content-Encoding": "deflate"}

    response = requests.post(
        f"{server.url}{AI}", data=zlib.compress(json.dumps(body).encode()), headers=headers, timeout=5
    )

    assert response.status_code == 200
    violations = server.ai_violations
    assert "ai request 1: AI request has an Authorization header" in violations
    assert "ai request 1: AI request has header PostHog-Request-Id" in violations
    assert "ai request 1: AI request uses Content-Encoding 'deflate' (gzip or none only)" in violations
    assert "ai request 1: sent_at missing or not RFC 3339 UTC: None" in violations
    assert "ai request 1: event 0: uuid missing or not a UUID: None" in violations
    assert server.v1_violations == []


# -- another process -------------------------------------------------------------------------------


def test_v1_control_endpoints_of_a_subprocess_server() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_server", "--max-seconds", "60"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("FAKE_POSTHOG_URL="), line
        url = line.strip().split("=", 1)[1]
        answers = {
            "answers": [
                {"results": ["ok", ["retry", "not_persisted"], None], "retry_after": 2},
                {"results": "drop", "status": 202},
                {"status": 204, "body": ""},
            ]
        }
        assert requests.post(f"{url}/_fake/v1/answers", json=answers, timeout=5).json() == {
            "ok": True,
            "pending": 3,
        }
        for bad in (
            {"answers": [{"status": 500}]},
            {"answers": [{"results": 3}]},
            {"answers": [{"nope": 1}]},
            {},
        ):
            assert requests.post(f"{url}/_fake/v1/answers", json=bad, timeout=5).status_code == 400
        events = [_event("a"), _event("b"), _event("c")]

        def send() -> requests.Response:
            data = json.dumps(_body(*events))
            return requests.post(f"{url}{V1}", data=data, headers=_headers(), timeout=5)

        first, second, third, fourth = send(), send(), send(), send()

        assert first.headers["Retry-After"] == "2"
        assert first.json()["results"] == {
            events[0]["uuid"]: {"result": "ok"},
            events[1]["uuid"]: {"result": "retry", "details": "not_persisted"},
        }
        assert (second.status_code, {r["result"] for r in second.json()["results"].values()}) == (
            202,
            {"drop"},
        )
        assert (third.status_code, third.content) == (204, b"")
        assert fourth.status_code == 200
        capture = requests.get(f"{url}/_fake/capture", timeout=5).json()
        assert [[pair[1] for pair in log] for log in capture["v1_results"]] == [
            ["ok", "retry"],
            ["drop", "drop", "drop"],
            [],
            ["ok", "ok", "ok"],
        ]
        assert [e["event"] for e in capture["v1_events"]] == ["a", "a", "b", "c"]
        assert capture["v1_violations"] == []
        assert (capture["ai_events"], capture["ai_violations"]) == ([], [])
        recorded = requests.get(f"{url}/_fake/requests", timeout=5).json()
        assert recorded[0]["v1_results"][1] == [events[1]["uuid"], "retry", "not_persisted"]
        assert [e["event"] for e in requests.get(f"{url}/_fake/events", timeout=5).json()] == [
            "a",
            "a",
            "b",
            "c",
        ]

        requests.post(f"{url}/_fake/v1/answers", json=[{"results": "retry"}], timeout=5)
        assert requests.delete(f"{url}/_fake/v1/answers", timeout=5).status_code == 200
        assert [r["result"] for r in send().json()["results"].values()] == ["ok", "ok", "ok"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=5)
    assert process.returncode == 0

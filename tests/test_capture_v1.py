"""Capture v1 (``capture_mode="v1"``) through a real client and the fake server (spec: capture-v1.md).

Settings (§11), the wire (§1-§5), per-event results (§6), retries and backoff (§7), compression
(§8), sync mode (§9), and the drop reports. The fake answers each v1 request from a script
(``V1Answer``) and notes every protocol violation it sees; every test checks there were none.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import posthog
from posthog import CaptureCompression, CaptureMode, DropReason
from posthog.capture_v1 import CaptureV1Error
from posthog.testing.fake_server import V1Answer
from tests.fake_server import FakePostHog
from tests.support.errors import ErrorLog
from tests.support.scripts import run_script

ClientFactory = Callable[..., posthog.Client]
V1_PATH = "/i/v1/analytics/events"


@pytest.fixture
def v1(make_client: ClientFactory) -> Callable[..., posthog.Client]:
    """Clients in capture v1 mode."""

    def factory(**kwargs: Any) -> posthog.Client:
        kwargs.setdefault("capture_mode", "v1")
        return make_client(**kwargs)

    return factory


@pytest.fixture(autouse=True)
def _no_violations(fake_server: FakePostHog) -> Iterator[None]:
    yield
    assert fake_server.v1_violations == []


def _v1_requests(server: FakePostHog) -> list[Any]:
    return server.requests_to(V1_PATH)


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, CaptureMode.V0),
        ("v0", CaptureMode.V0),
        ("legacy", CaptureMode.V0),
        (" V1 ", CaptureMode.V1),
        ("analytics_v1", CaptureMode.V1),
        (CaptureMode.V1, CaptureMode.V1),
    ],
)
def test_capture_mode_values(make_client: ClientFactory, value: Any, expected: CaptureMode) -> None:
    assert make_client(capture_mode=value).capture_mode is expected


@pytest.mark.parametrize("value", ["v2", 1, True])
def test_a_bad_capture_mode_raises_at_construction_naming_it(value: Any) -> None:
    with pytest.raises(ValueError, match="capture_mode") as info:
        posthog.Client("phc_x", capture_mode=value)
    assert isinstance(info.value, AssertionError)


def test_the_environment_sets_the_mode_and_a_bad_value_warns(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("POSTHOG_CAPTURE_MODE", "v1")
    assert make_client().capture_mode is CaptureMode.V1
    assert make_client(capture_mode="v0").capture_mode is CaptureMode.V0  # the argument wins
    monkeypatch.setenv("POSTHOG_CAPTURE_MODE", "v9")
    with caplog.at_level(logging.WARNING, logger="posthog"):
        assert make_client().capture_mode is CaptureMode.V0
    assert "POSTHOG_CAPTURE_MODE" in caplog.text


@pytest.mark.parametrize(
    ("value", "gzip_on", "expected"),
    [
        (None, False, CaptureCompression.NONE),
        (None, True, CaptureCompression.GZIP),
        ("identity", True, CaptureCompression.NONE),  # explicit none beats gzip=True
        ("DEFLATE", False, CaptureCompression.DEFLATE),
        ("zstd", False, CaptureCompression.ZSTD),
        (CaptureCompression.BR, False, CaptureCompression.BR),
    ],
)
def test_capture_compression_values(
    make_client: ClientFactory, value: Any, gzip_on: bool, expected: CaptureCompression
) -> None:
    assert make_client(capture_compression=value, gzip=gzip_on).capture_compression is expected


def test_a_compression_without_its_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as if not installed
    with pytest.raises(ValueError, match=r"posthog\[zstd\]"):
        posthog.Client("phc_x", capture_compression="zstd")
    with pytest.raises(ValueError, match="capture_compression"):
        posthog.Client("phc_x", capture_compression="lz4")


def test_the_module_settings_reach_the_default_client(fake_server: FakePostHog) -> None:
    posthog.api_key = "phc_module"
    posthog.host = fake_server.url
    posthog.capture_mode = "v1"
    posthog.capture_compression = "deflate"

    posthog.capture("u", "from the facade")
    posthog.flush()

    [request] = _v1_requests(fake_server)
    assert request.header("Content-Encoding") == "deflate"
    assert [e["event"] for e in fake_server.v1_events()] == ["from the facade"]


# --- the wire -------------------------------------------------------------------------------------


def test_events_go_to_capture_v1_in_its_shape(fake_server: FakePostHog, v1: ClientFactory) -> None:
    client = v1()
    client.capture("u-1", "movie played", {"movie_id": "123"}, groups={"company": "acme"})
    client.capture(42, "int id")
    client.identify("u-1", {"plan": "pro"})
    client.set_once("u-1", {"first": "2024"})
    client.alias("old", "new")
    assert client.flush(timeout=5) == 0

    [request] = _v1_requests(fake_server)
    assert fake_server.requests_to("/batch") == []
    assert request.header("Authorization") == "Bearer phc_test_key"
    assert request.header("PostHog-Sdk-Info") == f"posthog-python/{posthog.VERSION}"
    assert request.header("PostHog-Attempt") == "1"
    assert str(uuid.UUID(request.header("PostHog-Request-Id") or "")) == request.header("PostHog-Request-Id")
    assert request.header("PostHog-Request-Timestamp", "").endswith("+00:00")
    body = request.json
    assert list(body) == ["created_at", "batch"]  # no api_key, sentAt, historical_migration
    played, int_id, identify, set_once, alias = body["batch"]
    assert set(played) == {"event", "uuid", "distinct_id", "timestamp", "options", "properties"}
    assert played["options"] == {}
    assert played["properties"]["movie_id"] == "123"
    assert played["properties"]["$groups"] == {"company": "acme"}
    assert played["properties"]["$geoip_disable"] is True
    assert "$lib" not in played["properties"] and "$lib_version" not in played["properties"]
    assert int_id["distinct_id"] == "42"
    assert identify["properties"]["$set"] == {"plan": "pro"} and "$set" not in identify
    assert set_once["properties"]["$set_once"] == {"first": "2024"}
    assert alias["properties"]["alias"] == "new"


def test_reserved_properties_become_typed_options(fake_server: FakePostHog, v1: ClientFactory) -> None:
    client = v1()
    client.capture(
        "u",
        "e",
        {
            "$cookieless_mode": "true",
            "$ignore_sent_at": 1,
            "$process_person_profile": "0",
            "$product_tour_id": "tour_1",
            "$session_id": "s-1",
            "$window_id": "w-1",
            "kept": True,
        },
    )
    client.capture("u", "unclear", {"$cookieless_mode": "maybe", "$session_id": 5})
    assert client.flush(timeout=5) == 0

    first, second = _v1_requests(fake_server)[0].json["batch"]
    assert first["options"] == {
        "cookieless_mode": True,
        "disable_skew_correction": True,
        "process_person_profile": False,
        "product_tour_id": "tour_1",
    }
    assert (first["session_id"], first["window_id"]) == ("s-1", "w-1")
    assert first["properties"] == {**first["properties"], "kept": True}
    assert not {"$cookieless_mode", "$session_id", "$window_id"} & set(first["properties"])
    assert second["options"] == {} and "session_id" not in second
    assert "$cookieless_mode" not in second["properties"]


def test_historical_migration_is_sent_only_when_true(fake_server: FakePostHog, v1: ClientFactory) -> None:
    client = v1(historical_migration=True)
    client.capture("u", "old")
    assert client.flush(timeout=5) == 0
    assert _v1_requests(fake_server)[0].json["historical_migration"] is True


@pytest.mark.parametrize(
    ("compression", "encoding", "decode"),
    [
        ("gzip", "gzip", gzip.decompress),
        ("deflate", "deflate", zlib.decompress),
        (
            "zstd",
            "zstd",
            lambda body: __import__("zstandard").ZstdDecompressor().decompressobj().decompress(body),
        ),
        ("br", "br", lambda body: __import__("brotli").decompress(body)),
    ],
)
def test_each_compression_is_what_content_encoding_says(
    fake_server: FakePostHog, v1: ClientFactory, compression: str, encoding: str, decode: Any
) -> None:
    client = v1(capture_compression=compression)
    client.capture("u", "squeezed", {"text": "x" * 2000})
    assert client.flush(timeout=5) == 0

    [request] = _v1_requests(fake_server)
    assert request.header("Content-Encoding") == encoding
    assert json.loads(decode(request.raw_body))["batch"][0]["event"] == "squeezed"
    assert [e["event"] for e in fake_server.v1_events()] == ["squeezed"]


# --- per-event results ----------------------------------------------------------------------------


def test_retry_events_go_again_alone_under_the_same_request_id(
    fake_server: FakePostHog, v1: ClientFactory
) -> None:
    errors = ErrorLog()
    client = v1(on_error=errors, flush_at=3, flush_interval=30)
    fake_server.script_v1(V1Answer(["ok", "retry", ("drop", "invalid_event")], retry_after=1.5))

    for name in ("kept", "again", "refused"):
        client.capture("u", name)
    assert client.flush(timeout=10) == 0

    first, second = _v1_requests(fake_server)
    assert second.header("PostHog-Request-Id") == first.header("PostHog-Request-Id")
    assert (first.header("PostHog-Attempt"), second.header("PostHog-Attempt")) == ("1", "2")
    assert second.json["created_at"] == first.json["created_at"]
    assert second.json["batch"] == [first.json["batch"][1]]  # same uuid, timestamp and content
    assert second.time - first.time >= 1.4  # Retry-After on a partial answer is a floor
    assert [e["event"] for e in fake_server.v1_events()] == ["kept", "again"]
    [(error, batch)] = errors.calls
    assert error.reason is DropReason.REJECTED
    cause = error.__cause__
    assert isinstance(cause, CaptureV1Error)
    assert cause.drops == [(first.json["batch"][2]["uuid"], "invalid_event")]
    assert (cause.status, cause.attempts, cause.retry_exhausted) == (200, 2, [])
    assert cause.request_id == first.header("PostHog-Request-Id")
    # The error itself is a CaptureV1Error too, for callbacks written for 7.x's capture v1.
    assert isinstance(error, CaptureV1Error) and isinstance(error, posthog.DroppedEventError)
    assert (error.drops, error.request_id, error.attempts) == (cause.drops, cause.request_id, 2)
    assert [m["event"] for m in batch] == ["refused"]
    assert client.stats.sent == 2 and client.stats.dropped == {"rejected": 1}


def test_ok_warning_limited_and_unknown_results_are_delivered(
    fake_server: FakePostHog, v1: ClientFactory
) -> None:
    errors = ErrorLog()
    client = v1(on_error=errors, flush_at=4, flush_interval=30)
    fake_server.script_v1(V1Answer(["ok", "warning", "limited", "something_new"]))
    for i in range(4):
        client.capture("u", f"e{i}")
    assert client.flush(timeout=5) == 0

    assert len(_v1_requests(fake_server)) == 1
    assert errors.calls == []
    assert client.stats.sent == 4


def test_an_explicit_max_retries_bounds_partial_retries_too(
    fake_server: FakePostHog, v1: ClientFactory
) -> None:
    errors = ErrorLog()
    client = v1(on_error=errors, max_retries=1)
    fake_server.set_v1_results(lambda event: "retry")

    client.capture("u", "never persisted")
    [(error, batch)] = errors.wait(1, timeout=10)

    assert [r.header("PostHog-Attempt") for r in _v1_requests(fake_server)] == ["1", "2"]
    assert error.reason is DropReason.RETRIES_EXHAUSTED
    cause = error.__cause__
    assert isinstance(cause, CaptureV1Error)
    assert cause.retry_exhausted == [batch[0]["uuid"]] and cause.attempts == 2
    assert "still pending retry after 2 attempt(s)" in str(cause)


def test_retry_answers_past_the_retries_are_held_when_the_buffer_is_on(
    fake_server: FakePostHog, v1: ClientFactory
) -> None:
    errors = ErrorLog()
    client = v1(on_error=errors, max_retries=0, retry_buffer_age=60)
    fake_server.script_v1(V1Answer("retry"), V1Answer("retry"))

    client.capture("u", "patient")
    assert client.flush(timeout=15) == 0

    assert [r.header("PostHog-Attempt") for r in _v1_requests(fake_server)] == ["1", "2", "3"]
    assert len({r.header("PostHog-Request-Id") for r in _v1_requests(fake_server)}) == 1
    assert [e["event"] for e in fake_server.v1_events()] == ["patient"]
    assert errors.calls == []


@pytest.mark.parametrize("status", [400, 401, 402, 403, 415, 501])
def test_final_statuses_are_reported_after_one_request(
    fake_server: FakePostHog, v1: ClientFactory, status: int
) -> None:
    errors = ErrorLog()
    client = v1(on_error=errors)
    fake_server.fail_next(V1_PATH, status=status, times=3)

    client.capture("u", "refused")
    [(error, _)] = errors.wait(1, timeout=5)

    assert len(_v1_requests(fake_server)) == 1
    assert error.reason is DropReason.REJECTED
    assert isinstance(error.__cause__, CaptureV1Error) and error.__cause__.status == status


@pytest.mark.parametrize("status", [404, 408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_with_the_same_identity(
    fake_server: FakePostHog, v1: ClientFactory, status: int
) -> None:
    client = v1()
    fake_server.fail_next(V1_PATH, status=status)

    client.capture("u", "second time lucky")
    assert client.flush(timeout=10) == 0

    first, second = _v1_requests(fake_server)
    assert (first.status, second.status) == (status, 200)
    assert second.header("PostHog-Request-Id") == first.header("PostHog-Request-Id")
    assert second.header("PostHog-Attempt") == "2"
    assert second.time - first.time >= 0.9  # 1 s before the first retry, no jitter


def test_an_unreadable_success_is_final_and_reported(fake_server: FakePostHog, v1: ClientFactory) -> None:
    errors = ErrorLog()
    client = v1(on_error=errors)
    fake_server.script_v1(V1Answer(status=204, body=b""))

    client.capture("u", "lost in silence")
    [(error, _)] = errors.wait(1, timeout=5)

    assert len(_v1_requests(fake_server)) == 1
    assert isinstance(error.__cause__, CaptureV1Error)
    assert "unparseable body" in str(error.__cause__)


def test_an_outage_delivers_every_event_exactly_once(fake_server: FakePostHog, v1: ClientFactory) -> None:
    client = v1(flush_interval=0.05)
    fake_server.fail_for(V1_PATH, seconds=3, status=503)

    for i in range(40):
        client.capture("u", "steady", {"i": i})
        time.sleep(0.05)
    assert client.flush(timeout=40) == 0

    delivered = [e["properties"]["i"] for e in fake_server.v1_events()]
    assert sorted(delivered) == list(range(40))
    assert client.stats.dropped_total == 0


def test_a_413_splits_the_batch_under_new_request_ids(fake_server: FakePostHog, v1: ClientFactory) -> None:
    client = v1(flush_at=4, flush_interval=30)
    fake_server.fail_next(V1_PATH, status=413)
    for i in range(4):
        client.capture("u", f"e{i}")
    assert client.flush(timeout=10) == 0

    assert sorted(e["event"] for e in fake_server.v1_events()) == ["e0", "e1", "e2", "e3"]
    ids = [r.header("PostHog-Request-Id") for r in _v1_requests(fake_server)]
    assert len(ids) >= 3 and ids[0] not in ids[1:]


def test_sync_mode_retries_inline(fake_server: FakePostHog, v1: ClientFactory) -> None:
    errors = ErrorLog()
    client = v1(sync_mode=True, on_error=errors)
    fake_server.script_v1(V1Answer("retry", retry_after=0.1))

    ok, _ = client.capture("u", "inline")

    assert ok is True
    assert [r.header("PostHog-Attempt") for r in _v1_requests(fake_server)] == ["1", "2"]
    assert [e["event"] for e in fake_server.v1_events()] == ["inline"]
    assert errors.calls == []


def test_v0_stays_the_default_wire(fake_server: FakePostHog, make_client: ClientFactory) -> None:
    client = make_client()
    client.capture("u", "classic")
    assert client.flush(timeout=5) == 0
    assert _v1_requests(fake_server) == []
    assert [e["event"] for e in fake_server.events()] == ["classic"]


# --- exit and fork ---------------------------------------------------------------------------------

_EXIT_SCRIPT = r"""
import sys
import posthog

client = posthog.Client("phc_exit", host=sys.argv[1], capture_mode="v1")
for i in range(500):
    client.capture("someone", "exit-event", {"i": i})
# no flush(), no shutdown(): the interpreter simply ends
"""

_FORK_SCRIPT = r"""
import os, sys
import posthog

client = posthog.Client("phc_fork", host=sys.argv[1], capture_mode="v1")
client.capture("parent", "before fork")
client.flush()
pid = os.fork()
if pid == 0:
    client.capture("child", "in the child")
    client.shutdown()
    os._exit(0)
os.waitpid(pid, 0)
client.capture("parent", "after fork")
client.shutdown()
"""


def test_events_captured_before_exit_are_delivered_once(fake_server: FakePostHog) -> None:
    run_script(_EXIT_SCRIPT, fake_server.url)
    assert sorted(e["properties"]["i"] for e in fake_server.v1_events()) == list(range(500))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_delivers_its_own_events_once(fake_server: FakePostHog) -> None:
    run_script(_FORK_SCRIPT, fake_server.url)
    assert sorted(e["event"] for e in fake_server.v1_events()) == [
        "after fork",
        "before fork",
        "in the child",
    ]


def test_a_tight_loop_with_default_settings_loses_nothing(
    fake_server: FakePostHog, v1: ClientFactory
) -> None:
    client = v1(flush_interval=0.5)
    for i in range(20_000):
        client.capture("u", "burst", {"i": i})
    assert client.flush(timeout=60) == 0

    assert client.stats.dropped_total == 0
    assert len(fake_server.v1_events()) == 20_000

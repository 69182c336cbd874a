"""Hostile property values through a real client and the fake server: no exception in the caller or
the consumer thread, the other events delivered, strict JSON on the wire, every drop reported
(weaknesses.md §A.1, A.2, A.6, A.7, B.12; wire.md §4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

import posthog
from posthog import DropReason
from posthog import _serialize as serialize
from posthog._serialize import MAX_DEPTH
from posthog.exceptions import DroppedEventError
from tests.fake_server import FakePostHog
from tests.test_serialize import CONVERSIONS, strict_loads

MakeClient = Callable[..., posthog.Client]
MIB = 1024 * 1024


class ErrorLog:
    """``on_error`` that records (reason, batch size) per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[DropReason, int]] = []

    def __call__(self, error: Exception, batch: Sequence[Any]) -> None:
        assert isinstance(error, DroppedEventError)
        self.calls.append((error.reason, len(batch)))


@pytest.fixture
def posthog_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture the SDK's log; fail the test if anything reached ERROR (a thread's unexpected error)."""
    caplog.set_level(logging.DEBUG, logger="posthog")
    yield caplog
    errors = [r for r in caplog.records if r.name == "posthog" and r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def wire_events(server: FakePostHog) -> list[dict[str, Any]]:
    """Every event of every accepted batch, parsed from the raw body by a strict JSON parser."""
    return [
        message
        for request in server.requests_to("/batch")
        if request.status == 200
        for message in strict_loads(request.body)["batch"]
    ]


def props_of(server: FakePostHog, event: str) -> list[dict[str, Any]]:
    return [e["properties"] for e in wire_events(server) if e["event"] == event]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in CONVERSIONS], ids=[c[0] for c in CONVERSIONS])
@pytest.mark.parametrize("sync_mode", [False, True], ids=["async", "sync"])
def test_hostile_value_is_converted_and_the_other_events_delivered(
    fake_server: FakePostHog,
    make_client: MakeClient,
    posthog_log: pytest.LogCaptureFixture,
    value: Any,
    expected: Any,
    sync_mode: bool,
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors, sync_mode=sync_mode)

    ok, _ = client.capture("someone", "hostile", {"v": value, "ok": 1})
    for i in range(2):
        client.capture("someone", "after", {"i": i})

    assert ok is True
    assert client.flush(timeout=5) == 0
    hostile = props_of(fake_server, "hostile")
    assert len(hostile) == 1
    assert hostile[0]["v"] == expected
    assert hostile[0]["ok"] == 1
    assert [p["i"] for p in props_of(fake_server, "after")] == [0, 1]
    assert errors.calls == []


def test_nan_and_infinity_never_reach_the_wire(fake_server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client()
    client.capture("someone", "floats", {"nan": float("nan"), "inf": float("inf"), "l": [float("-inf"), 1.5]})
    client.identify("someone", {"score": float("nan")})

    assert client.flush(timeout=5) == 0

    bodies = [r.body for r in fake_server.requests_to("/batch")]
    assert bodies
    assert not any(token in body for body in bodies for token in (b"NaN", b"Infinity"))
    [props] = props_of(fake_server, "floats")
    assert (props["nan"], props["inf"], props["l"]) == (None, None, [None, 1.5])


def test_value_with_no_json_form_is_dropped_element_wise_and_logged_once(
    fake_server: FakePostHog, make_client: MakeClient, posthog_log: pytest.LogCaptureFixture
) -> None:
    # A class name no other test uses: "logged once" is per kind of value per process.
    class NoJsonFormForHostileTest:
        pass

    client = make_client()
    for i in range(2):
        client.capture(
            "someone",
            "opaque",
            {"lst": [1, NoJsonFormForHostileTest(), 2], "obj": NoJsonFormForHostileTest(), "ok": i},
        )

    assert client.flush(timeout=5) == 0

    opaque = props_of(fake_server, "opaque")
    assert [(p["lst"], p["ok"], "obj" in p) for p in opaque] == [([1, 2], 0, False), ([1, 2], 1, False)]
    lines = [r for r in posthog_log.records if "NoJsonFormForHostileTest" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING


def test_self_referencing_values_are_cut_and_the_event_delivered(
    fake_server: FakePostHog, make_client: MakeClient, posthog_log: pytest.LogCaptureFixture
) -> None:
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    lst: list[Any] = [1, "two"]
    lst.append(lst)
    client = make_client()

    ok, _ = client.capture("someone", "cyclic", {"d": d, "l": lst, "ok": 1})
    client.capture("someone", "after")

    assert ok is True
    assert client.flush(timeout=5) == 0
    [props] = props_of(fake_server, "cyclic")
    assert (props["d"], props["l"], props["ok"]) == ({"a": 1}, [1, "two"], 1)
    assert len(props_of(fake_server, "after")) == 1


def _levels(value: Any) -> int:
    """Levels of containers in a chain of dicts or lists ({"n": {"n": {}}} has 3)."""
    levels = 0
    while isinstance(value, (dict, list)):
        levels += 1
        value = (value.get("n") if isinstance(value, dict) else value[0]) if value else None
    return levels


def _chain(levels: int, kind: type = dict) -> Any:
    value: Any = {} if kind is dict else []
    for _ in range(levels - 1):
        value = {"n": value} if kind is dict else [value]
    return value


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, 100, 5000])
def test_nesting_is_cut_at_the_same_explicit_depth_on_every_path(
    fake_server: FakePostHog, make_client: MakeClient, levels: int
) -> None:
    # PostHog's capture service parses at most 128 levels: one event nested deeper would get its
    # whole batch rejected. The cut must not depend on how far the interpreter's encoder recurses.
    client = make_client()
    client.capture("u", "plain", {"deep": _chain(levels), "list": _chain(levels, list)})
    client.capture("u", "converted", {"deep": _chain(levels), "set": {1}})  # the careful path
    client.identify("u", {"deep": _chain(levels)})
    client.capture("u", "after", {"n": 1})

    assert client.flush(timeout=5) == 0
    events = {e["event"]: e for e in fake_server.events()}
    expected = min(levels, MAX_DEPTH)
    assert _levels(events["plain"]["properties"]["deep"]) == expected
    assert _levels(events["plain"]["properties"]["list"]) == expected
    assert _levels(events["converted"]["properties"]["deep"]) == expected
    assert _levels(events["$identify"]["$set"]["deep"]) == expected
    assert events["after"]["properties"]["n"] == 1


def test_deep_nesting_costs_only_its_key_and_is_logged_once(
    fake_server: FakePostHog,
    make_client: MakeClient,
    posthog_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(serialize, "_logged", set())  # "once" is per kind of problem per process
    client = make_client()
    for _ in range(3):
        client.capture("u", "deep", {"deep": _chain(200), "flat": "kept", "wide": [{"a": [1]}] * 500})

    assert client.flush(timeout=5) == 0
    for props in props_of(fake_server, "deep"):
        assert (props["flat"], len(props["wide"]), _levels(props["deep"])) == ("kept", 500, MAX_DEPTH)
    assert len([r for r in posthog_log.records if "too deep" in r.getMessage()]) == 1


def test_complex_number_does_not_kill_the_consumer(fake_server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client()
    client.capture("someone", "complex", {"c": 1j})
    for i in range(10):
        client.capture("someone", "after", {"i": i})

    assert client.flush(timeout=5) == 0

    assert props_of(fake_server, "complex")[0]["c"] == "1j"
    assert [p["i"] for p in props_of(fake_server, "after")] == list(range(10))
    assert all(c.is_alive() for c in client.consumers or [])


# --- oversized events -----------------------------------------------------------------------

OVERSIZED: list[tuple[str, Callable[[posthog.Client], tuple[bool, Any]]]] = [
    ("flat-1MiB-string", lambda c: c.capture("someone", "big", {"blob": "x" * MIB})),
    ("nested-list", lambda c: c.capture("someone", "big", {"rows": [{"t": "y" * 500}] * 2100})),
    ("non-ascii-escapes", lambda c: c.capture("someone", "big", {"blob": "€" * 160_000})),
    ("identify-set", lambda c: c.identify("someone", {"blob": "z" * MIB})),
]


@pytest.mark.parametrize("send", [o[1] for o in OVERSIZED], ids=[o[0] for o in OVERSIZED])
@pytest.mark.parametrize("sync_mode", [False, True], ids=["async", "sync"])
def test_oversized_event_is_refused_at_capture_and_reported(
    fake_server: FakePostHog,
    make_client: MakeClient,
    posthog_log: pytest.LogCaptureFixture,
    send: Callable[[posthog.Client], tuple[bool, Any]],
    sync_mode: bool,
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors, sync_mode=sync_mode)

    ok, msg = send(client)

    assert ok is False  # synchronously: the caller learns at once
    assert isinstance(msg, dict)
    assert client.stats.dropped == {DropReason.TOO_LARGE: 1}
    assert errors.calls == [(DropReason.TOO_LARGE, 1)]
    for i in range(10):
        client.capture("someone", "after", {"i": i})
    started = time.monotonic()
    assert client.flush() == 0  # 3.x hung here forever
    assert time.monotonic() - started < 2
    assert [p["i"] for p in props_of(fake_server, "after")] == list(range(10))
    assert all(len(r.body) < 900 * 1024 for r in fake_server.requests_to("/batch"))
    assert "x" * 1000 not in posthog_log.text  # the size is logged, never the content


def test_oversized_event_the_capture_check_misses_is_dropped_by_the_consumer(
    fake_server: FakePostHog, make_client: MakeClient, posthog_log: pytest.LogCaptureFixture
) -> None:
    # model_dump() hides the size from the cheap estimate: only encoding reveals it.
    class LargeModel:
        def model_dump(self) -> dict[str, str]:
            return {"blob": "q" * MIB}

    errors = ErrorLog()
    client = make_client(on_error=errors)

    client.capture("someone", "big", {"model": LargeModel()})
    for i in range(10):
        client.capture("someone", "after", {"i": i})

    started = time.monotonic()
    assert client.flush() == 0
    assert time.monotonic() - started < 2
    assert errors.calls == [(DropReason.TOO_LARGE, 1)]
    assert client.stats.dropped == {DropReason.TOO_LARGE: 1}
    assert [p["i"] for p in props_of(fake_server, "after")] == list(range(10))
    assert "q" * 1000 not in posthog_log.text


# --- values that fail the whole event today -------------------------------------------------


class UnprintableKey:
    def __str__(self) -> str:
        raise RuntimeError("no text form")

    def __hash__(self) -> int:
        return 1


@pytest.mark.parametrize(
    "props",
    [{"huge": 10**5000, "ok": 1}, {UnprintableKey(): 1, "ok": 1}],
    ids=["int-over-4300-digits", "key-whose-str-raises"],
)
def test_unconvertible_value_costs_only_its_key(
    fake_server: FakePostHog, make_client: MakeClient, props: dict[Any, Any]
) -> None:
    errors = ErrorLog()
    client = make_client(on_error=errors)

    ok, _ = client.capture("someone", "hostile", props)

    assert ok is True
    assert client.flush(timeout=5) == 0
    assert [p["ok"] for p in props_of(fake_server, "hostile")] == [1]

"""Find recorded events and assert on them, with failure messages that show the closest misses.

    event = assert_captured(recorder, "order completed", distinct_id="u1", properties={"total": 42})

``properties`` is a subset: every key given must be present with an equal value (compared as
on the wire, so ``Decimal("9.5")`` matches ``9.5`` and a ``datetime`` its ISO text); other keys
are ignored. Matchers such as ``unittest.mock.ANY`` work as values.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final, Optional, Union

from .._serialize import clean
from ._recording import RecordingClient

__all__ = ["EventSource", "assert_captured", "assert_not_captured", "find_events"]

EventSource = Union[RecordingClient, Iterable[Mapping[str, Any]]]

_CANDIDATES: Final = 3
_REPR_LIMIT: Final = 80
_MISSING: Final = object()


def _events_of(source: EventSource) -> list[Mapping[str, Any]]:
    if isinstance(source, RecordingClient):
        return list(source.events)
    if isinstance(source, (str, bytes, Mapping)):
        raise TypeError(f"expected a RecordingClient or a list of events, got {type(source).__name__}")
    return list(source)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def _same(expected: Any, actual: Any) -> bool:
    """Equal as on the wire: ``True`` is not ``1`` there, but ``Decimal("1.5")`` is ``1.5``."""
    if isinstance(expected, bool) != isinstance(actual, bool) and isinstance(expected, (int, float)):
        return False
    if expected == actual:
        return True
    if expected is None or isinstance(expected, (str, int, float)):
        return False
    return bool(clean(expected) == actual)


class _Query:
    def __init__(
        self, event: Optional[str], distinct_id: Any, properties: Optional[Mapping[str, Any]]
    ) -> None:
        if event is not None and not isinstance(event, str):
            raise TypeError(f"event must be str, got {type(event).__name__}")
        if properties is not None and not isinstance(properties, Mapping):
            raise TypeError(f"properties must be a mapping, got {type(properties).__name__}")
        self.event = event
        self.distinct_id = None if distinct_id is None else str(distinct_id)
        self.properties: Mapping[str, Any] = properties or {}

    def matches(self, msg: Mapping[str, Any]) -> bool:
        return not self.differences(msg)

    def differences(self, msg: Mapping[str, Any]) -> list[str]:
        """One readable line per way ``msg`` misses the query (empty: it matches)."""
        lines: list[str] = []
        if self.event is not None and msg.get("event") != self.event:
            lines.append(f"event: expected {self.event!r}, got {msg.get('event')!r}")
        if self.distinct_id is not None and msg.get("distinct_id") != self.distinct_id:
            lines.append(f"distinct_id: expected {self.distinct_id!r}, got {msg.get('distinct_id')!r}")
        props = msg.get("properties")
        actual: Mapping[str, Any] = props if isinstance(props, Mapping) else {}
        for key, expected in self.properties.items():
            value = actual.get(key, _MISSING)
            if value is _MISSING:
                lines.append(f"{key}: missing{_near_keys(key, actual)}")
            elif not _same(expected, value):
                lines.append(f"{key}: expected {_short(expected)}, got {_short(value)}")
        return lines

    def score(self, msg: Mapping[str, Any]) -> int:
        """How close ``msg`` comes: the event name counts most, then the user, then each property."""
        points = 0
        if self.event is None or msg.get("event") == self.event:
            points += 100
        if self.distinct_id is None or msg.get("distinct_id") == self.distinct_id:
            points += 10
        props = msg.get("properties")
        if isinstance(props, Mapping):
            points += sum(1 for key in self.properties if key in props)
            points += sum(
                1 for key, value in self.properties.items() if key in props and _same(value, props[key])
            )
        return points

    def describe(self) -> str:
        parts = []
        if self.event is not None:
            parts.append(f"event={self.event!r}")
        if self.distinct_id is not None:
            parts.append(f"distinct_id={self.distinct_id!r}")
        if self.properties:
            shown = ", ".join(f"{k!r}: {_short(v)}" for k, v in self.properties.items())
            parts.append(f"properties including {{{shown}}}")
        return ", ".join(parts) or "any event"


def _near_keys(key: str, actual: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, [str(k) for k in actual], n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    own = sorted(str(k) for k in actual if not str(k).startswith("$"))
    return f" (the event has: {', '.join(own[:12])}{', ...' if len(own) > 12 else ''})" if own else ""


def _label(index: int, msg: Mapping[str, Any]) -> str:
    return f"events[{index}] {msg.get('event')!r} for {msg.get('distinct_id')!r}"


def _recorded_summary(events: list[Mapping[str, Any]]) -> str:
    names = Counter(str(msg.get("event")) for msg in events)
    return ", ".join(f"{name!r} x{count}" for name, count in names.most_common(10))


def _no_match_message(query: _Query, events: list[Mapping[str, Any]]) -> str:
    head = f"no captured event matches {query.describe()}"
    if not events:
        return head + "\n  no events were recorded at all (is the code under test using this client?)"
    ranked = sorted(range(len(events)), key=lambda i: (-query.score(events[i]), i))
    same_name = [i for i in ranked if query.event is not None and events[i].get("event") == query.event]
    # Events of the right name are the interesting near-misses; others only when there are none.
    ranked = (same_name or ranked)[:_CANDIDATES]
    lines = [head, f"  recorded {len(events)} event(s): {_recorded_summary(events)}", "  closest:"]
    for index in ranked:
        lines.append(f"  - {_label(index, events[index])}")
        lines.extend(f"      {diff}" for diff in query.differences(events[index]))
    return "\n".join(lines)


def find_events(
    source: EventSource,
    event: Optional[str] = None,
    *,
    distinct_id: Any = None,
    properties: Optional[Mapping[str, Any]] = None,
) -> list[dict[str, Any]]:
    """Every recorded event matching the filters (``None`` matches anything), oldest first."""
    query = _Query(event, distinct_id, properties)
    return [dict(msg) for msg in _events_of(source) if query.matches(msg)]


def assert_captured(
    source: EventSource,
    event: Optional[str] = None,
    *,
    distinct_id: Any = None,
    properties: Optional[Mapping[str, Any]] = None,
    count: Optional[int] = None,
) -> dict[str, Any]:
    """Assert an event matching the filters was captured (exactly ``count`` times if given).

    Returns the first matching event. Raises ``AssertionError`` listing the closest candidates,
    key by key, when none matches.
    """
    __tracebackhide__ = True  # pytest: show the caller's line, not this helper's
    query = _Query(event, distinct_id, properties)
    events = _events_of(source)
    matching = [i for i, msg in enumerate(events) if query.matches(msg)]
    if not matching:
        raise AssertionError(_no_match_message(query, events))
    if count is not None and len(matching) != count:
        found = "\n".join(f"  - {_label(i, events[i])}" for i in matching)
        raise AssertionError(
            f"expected {count} captured event(s) matching {query.describe()}, found {len(matching)}:\n{found}"
        )
    return dict(events[matching[0]])


def assert_not_captured(
    source: EventSource,
    event: Optional[str] = None,
    *,
    distinct_id: Any = None,
    properties: Optional[Mapping[str, Any]] = None,
) -> None:
    """Assert no recorded event matches the filters; the failure lists the ones that do."""
    __tracebackhide__ = True  # pytest: show the caller's line, not this helper's
    query = _Query(event, distinct_id, properties)
    events = _events_of(source)
    matching = [i for i, msg in enumerate(events) if query.matches(msg)]
    if matching:
        lines = [f"expected no captured event matching {query.describe()}, found {len(matching)}:"]
        for index in matching:
            props = events[index].get("properties")
            shown = {k: props.get(k) for k in query.properties} if isinstance(props, Mapping) else {}
            lines.append(f"  - {_label(index, events[index])}" + (f" with {_short(shown)}" if shown else ""))
        raise AssertionError("\n".join(lines))

"""Pure builders of wire messages: ids, timestamps, uuid, ``$lib``, ``$geoip_disable``, super properties."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any, Final, Optional

from .exceptions import InvalidTypeError, InvalidValueError
from .version import VERSION

__all__ = ["LIB", "finish_message", "format_timestamp", "new_uuid7", "now_iso"]

LIB: Final = "posthog-python"
_UTC: Final = timezone.utc

# [second, formatted prefix] of the last "now", and [millisecond, uuid prefix] of the last uuid.
# Both are rewritten whole by whichever thread sees a new second/millisecond; a reader that
# races a writer at worst recomputes, never mixes values (each list is replaced, not edited).
_now_cache: list[Any] = [-1, ""]
_uuid_cache: list[Any] = [-1, ""]


def now_iso(now: Optional[float] = None) -> str:
    """The current UTC time as ``datetime.isoformat()`` writes it (``...+00:00``), cheaply."""
    global _now_cache
    t = time.time() if now is None else now
    sec = int(t)
    cache = _now_cache
    if cache[0] != sec:
        cache = _now_cache = [sec, datetime.fromtimestamp(sec, _UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    micros = int((t - sec) * 1_000_000)
    if micros:
        return "%s.%06d+00:00" % (cache[1], micros)  # noqa: UP031 - measurably faster here
    return cache[1] + "+00:00"  # type: ignore[no-any-return]


def new_uuid7(now: Optional[float] = None) -> str:
    """A time-ordered UUIDv7 string (RFC 9562) for the given Unix time."""
    global _uuid_cache
    millis = int((time.time() if now is None else now) * 1000)
    cache = _uuid_cache
    if cache[0] != millis:
        h = "%012x" % millis  # noqa: UP031
        cache = _uuid_cache = [millis, f"{h[:8]}-{h[8:]}-7"]
    rand = random.getrandbits(74)  # `random` is reseeded in forked children by CPython
    return "%s%03x-%04x-%012x" % (  # noqa: UP031
        cache[1],
        rand >> 62,
        0x8000 | ((rand >> 48) & 0x3FFF),
        rand & 0xFFFFFFFFFFFF,
    )


def _parse_timestamp_string(value: str) -> datetime:
    text = value.strip()
    try:
        # fromisoformat does not take "Z" before Python 3.11.
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        pass
    try:
        from dateutil.parser import isoparse

        return isoparse(text)
    except (ValueError, OverflowError):
        raise InvalidValueError(f"timestamp must be an ISO-8601 string, got {value!r:.60}") from None


def format_timestamp(timestamp: object) -> str:
    """Normalise a caller's timestamp to an ISO-8601 UTC string.

    A naive ``datetime`` is taken as UTC (never guessed); a ``date`` is midnight UTC;
    a string must be ISO-8601.
    """
    if isinstance(timestamp, datetime):
        dt = timestamp
    elif isinstance(timestamp, date):
        dt = datetime(timestamp.year, timestamp.month, timestamp.day)
    elif isinstance(timestamp, str):
        dt = _parse_timestamp_string(timestamp)
    else:
        raise InvalidTypeError(
            f"timestamp must be a datetime, date or ISO-8601 str, got {type(timestamp).__name__}"
        )
    dt = dt.replace(tzinfo=_UTC) if dt.tzinfo is None else dt.astimezone(_UTC)
    return dt.isoformat()


def finish_message(
    event: str,
    distinct_id: object,
    properties: dict[str, Any],
    timestamp: object,
    uuid: object,
    disable_geoip: bool,
    super_properties: Optional[Mapping[str, Any]],
) -> dict[str, Any]:
    """Add what every message carries and return the wire dict (``properties`` is updated in place)."""
    properties["$lib"] = LIB
    properties["$lib_version"] = VERSION
    if disable_geoip:
        properties["$geoip_disable"] = True
    if super_properties:
        properties.update(super_properties)
    if timestamp is None:
        now = time.time()
        ts = now_iso(now)
    else:
        ts = format_timestamp(timestamp)
        now = None
    uid = (uuid if type(uuid) is str else str(uuid)) if uuid else new_uuid7(now)
    return {
        "event": event,
        "distinct_id": distinct_id if type(distinct_id) is str else str(distinct_id),
        "properties": properties,
        "timestamp": ts,
        "uuid": uid,
    }

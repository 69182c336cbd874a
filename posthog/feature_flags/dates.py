"""Dates in flag filters (flags.md §4): relative forms, and absolute ones parsed once when possible."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone
from enum import IntEnum
from functools import lru_cache
from typing import Final, Optional

__all__ = ["DateForm", "classify_date_text", "parse_date_text", "parse_relative_date"]


class DateForm(IntEnum):
    """How the operand of a date filter is obtained at evaluation time."""

    ABSOLUTE = 0  # parsed once: ``PropertyFilter.date_value``
    RELATIVE = 1  # "7d": ``PropertyFilter.relative`` subtracted from now
    DYNAMIC = 2  # a partial date ("June", "10:00") whose missing fields default to today
    INVALID = 3  # not a date: the filter is inconclusive


_RELATIVE_DATE: Final = re.compile(r"^-?([0-9]+)([a-z])$")
_RELATIVE_UNITS: Final = frozenset("hdwmy")


def parse_relative_date(text: str) -> Optional[tuple[int, str]]:
    """``"7d"``/``"-7d"`` → ``(7, "d")``; None when ``text`` is not a relative date (flags.md §4)."""
    match = _RELATIVE_DATE.match(text)
    if match is None:
        return None
    number = int(match.group(1))
    unit = match.group(2)
    if number >= 10_000 or unit not in _RELATIVE_UNITS:
        return None
    return number, unit


# Two defaults that differ in year, month and day: a text whose parse is the same under both does
# not depend on "today". Leap years and 31-day months, so that no explicit day fails under them
# that could succeed under the real default; days below 29, so that dateutil never clamps them
# ("Feb 2024" takes today's day of the month); two weeks apart, so that a weekday
# ("Feb 2024 monday") cannot map both to one date.
_PROBE_DEFAULTS: Final = (datetime(2004, 1, 1), datetime(2008, 3, 15))


#: dateutil's messages for a text it finds no date in, before it reads the default date: such a
#: text is no date whatever the default (older dateutil words them otherwise: both probes run)
_NO_DATE_ANY_DAY: Final = ("Unknown string format: %s", "String does not contain a date: %s")


class _NoDateAnyDay(Exception):
    """The text is no date, whatever the default date."""


def _parse_with_default(text: str, default: Optional[datetime], strict: bool = False) -> Optional[datetime]:
    """dateutil's parse (naive → UTC), None when it fails; with ``strict``, :class:`_NoDateAnyDay`
    when it fails before reading ``default``."""
    try:
        from dateutil import parser as date_parser  # imported on first use: it is slow to import

        parsed = date_parser.parse(text, default=default)
    except Exception as exc:  # ParserError, OverflowError, ...: 3.x treats all as "not a valid format"
        if strict and isinstance(exc, ValueError) and exc.args[:1] and exc.args[0] in _NO_DATE_ANY_DAY:
            raise _NoDateAnyDay from None
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


@lru_cache(maxsize=4096)
def classify_date_text(text: str) -> tuple[DateForm, Optional[datetime]]:
    """Whether ``text`` is an absolute date (parsed once), depends on today, or is no date."""
    try:
        first = _parse_with_default(text, _PROBE_DEFAULTS[0], strict=True)
    except _NoDateAnyDay:
        return DateForm.INVALID, None  # one parse tells: the second default cannot help
    second = _parse_with_default(text, _PROBE_DEFAULTS[1])
    if first is None and second is None:
        return DateForm.INVALID, None
    if first is None or second is None:
        return DateForm.DYNAMIC, None
    try:
        same = first == second and first.utcoffset() == second.utcoffset()
    except ValueError:  # an offset of 24 h or more: 3.x fails when it compares; so will we
        same = False
    return (DateForm.ABSOLUTE, first) if same else (DateForm.DYNAMIC, None)


@lru_cache(maxsize=1024)
def _parse_on_day(text: str, today: date) -> Optional[datetime]:
    # dateutil's own default is "now, local time, at midnight".
    return _parse_with_default(text, datetime(today.year, today.month, today.day))


# Full ISO dates and date-times (what most property values are): their parse does not depend on
# today, and reading them directly gives exactly what dateutil gives, without its parser.
_ISO: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


def _iso(text: str) -> Optional[datetime]:
    """``text`` as an ISO date-time (naive → UTC), or None if it is not in that exact shape."""
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = timezone.utc
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(sign * offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:  # e.g. month 13: dateutil decides
        return None


_MISS: Final = object()
#: Texts whose parse does not depend on today (a property's dates repeat from call to call).
_FIXED: dict[str, Optional[datetime]] = {}
_FIXED_LIMIT: Final = 8192
#: Texts whose parse depends on today ("June 5", "2019"): parsed once per day (``_parse_on_day``).
_DYNAMIC: set[str] = set()
#: ``(int(time.time()), date.today())``: a local day starts on a whole second, so the day read
#: within one second is the day for all of it.
_TODAY: tuple[int, date] = (-1, date(1970, 1, 1))


def _today() -> date:
    global _TODAY
    second = int(time.time())
    if _TODAY[0] != second:
        _TODAY = (second, date.today())
    return _TODAY[1]


def parse_date_text(text: str) -> Optional[datetime]:
    """Parse like ``dateutil.parser.parse`` (naive → UTC); None when not a date.

    Results are cached; those that depend on today's date ("June 5") per day.
    """
    fixed = _FIXED.get(text, _MISS)
    if fixed is not _MISS:
        return fixed  # type: ignore[return-value]
    if text in _DYNAMIC:
        return _parse_on_day(text, _today())
    parsed = _iso(text)
    if parsed is not None:
        form = DateForm.ABSOLUTE
    else:
        form, parsed = classify_date_text(text)
    if form is DateForm.DYNAMIC:
        if len(_DYNAMIC) >= _FIXED_LIMIT:
            _DYNAMIC.clear()
        _DYNAMIC.add(text)
        return _parse_on_day(text, _today())
    if len(_FIXED) >= _FIXED_LIMIT:
        _FIXED.clear()
    _FIXED[text] = parsed
    return parsed

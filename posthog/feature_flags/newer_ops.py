"""How upstream 7.x matches one property filter (``match_property``), for the 7.x pass.

Used only by the 7.x pass (:mod:`.newer`), for flags 3.25.0 cannot decide locally. Where 7.x
reads 3.25.0's own operators differently (learnt from its answers, black box,
``benchmarks/compare_flags_v7.py``):

- a property value is compared as text in its JSON spelling (``true``, ``null``, ``["a"]``),
  lower-cased (3.25.0 case-folds: ``straße`` equals ``STRASSE`` there, not in 7.x);
- ``exact`` / ``is_not`` with a boolean operand (``true``, ``"False"``, a one-element list of
  one) compare truth: only ``true`` is true;
- ``gt`` / ``gte`` / ``lt`` / ``lte`` compare numbers only: an operand that is not a plain finite
  number leaves the filter undecided, a property value that is not one does not match.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any, Final, Optional

from .dates import parse_date_text, parse_relative_date
from .filters import Operator, PropertyFilter
from .properties import MATCHERS, relative_operand
from .semver import json_text, match_affix, match_semver

__all__ = ["compile_date", "match_date", "match_old_operator", "match_property"]

_NUMBER: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUTH: Final = frozenset({"true", "false"})


class _NoText(Exception):
    """A value JSON cannot spell (a datetime, a set): 7.x leaves the filter undecided."""


def _text(value: Any) -> str:
    """The JSON spelling of a non-string value (``True`` → ``true``, ``None`` → ``null``)."""
    if isinstance(value, str):
        return value
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)  # what json.dumps writes
    if kind is float:
        if math.isfinite(value):
            return float.__repr__(value)  # what json.dumps writes
        raise _NoText
    try:
        return json_text(value)
    except (TypeError, ValueError) as exc:
        raise _NoText from exc


_UNSUPPORTED_GROUP: Final = re.compile(r"\(\?[^:]")  # inline flags, lookarounds, named groups


@lru_cache(maxsize=1024)
def _pattern(text: str) -> tuple[bool, Optional[re.Pattern[str]]]:
    """``(usable, compiled)``: 7.x refuses (undecided) inline flags, lookarounds, named groups
    and what Python warns about; an invalid pattern matches nothing."""
    if _UNSUPPORTED_GROUP.search(text):
        return False, None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return True, re.compile(text)
        except re.error:
            return True, None
        except Warning:
            return False, None


def _number(value: Any) -> Optional[float]:
    """A plain finite number, or None (booleans, ``inf``, ``1_0``, `` 10 `` are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _truth(value: Any) -> bool:
    """How 7.x reads a value as a boolean: ``true`` (any case) is true, a list is true when all
    its items are (an empty one too), anything else is false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    if isinstance(value, list):
        return all(_truth(item) for item in value)
    return False


def _exact(operand: Any, value: Any) -> bool:
    text = _text(value).lower()  # a value JSON cannot spell (inf, nan) is undecided, even for truth
    if isinstance(operand, list) and len(operand) == 1:
        operand = operand[0]
    if operand == [] or isinstance(operand, bool) or (isinstance(operand, str) and operand.lower() in _TRUTH):
        return _truth(value) is _truth(operand)
    if isinstance(operand, list):
        return any(text == _text(choice).lower() for choice in operand)
    return text == _text(operand).lower()


def _compare(operator: Operator, operand: Any, value: Any) -> Optional[bool]:
    wanted = _number(operand)
    if wanted is None:
        return None
    number = _number(value)
    if number is None:
        return False
    if operator is Operator.GT:
        return number > wanted
    if operator is Operator.GTE:
        return number >= wanted
    if operator is Operator.LT:
        return number < wanted
    return number <= wanted


def match_old_operator(leaf: PropertyFilter, value: Any) -> Optional[bool]:
    """7.x's answer for one of 3.25.0's text and number operators (``value`` is given, maybe
    None), or None when 7.x leaves the filter undecided."""
    try:
        return _match(leaf, value)
    except _NoText:
        return None


def _match(leaf: PropertyFilter, value: Any) -> Optional[bool]:
    operator = leaf.operator
    if operator is Operator.EXACT:
        return _exact(leaf.value, value)
    if operator is Operator.IS_NOT:
        return not _exact(leaf.value, value)
    if operator is Operator.ICONTAINS:
        return _text(leaf.value).lower() in _text(value).lower()
    if operator is Operator.NOT_ICONTAINS:
        return _text(leaf.value).lower() not in _text(value).lower()
    if operator in (Operator.REGEX, Operator.NOT_REGEX):
        text = _text(value)  # a value JSON cannot spell is undecided, even for a broken pattern
        usable, pattern = _pattern(str(leaf.value))
        if not usable:
            return None
        if pattern is None:
            return False
        found = pattern.search(text) is not None
        return found if operator is Operator.REGEX else not found
    return _compare(operator, leaf.value, value)


@lru_cache(maxsize=4096)
def _date_text(text: str) -> Optional[datetime]:
    """A date as 7.x reads it: ISO 8601 as Python 3.11's ``fromisoformat`` takes it (a bare year,
    as dateutil reads it); naive means UTC. None when it is not one."""
    text = text.strip()
    if len(text) == 4 and text.isdigit() and text.isascii():
        return parse_date_text(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        if sys.version_info >= (3, 11) or not text.endswith("Z"):
            return None
        try:  # before 3.11, fromisoformat does not take "Z" for UTC
            moment = datetime.fromisoformat(text[:-1] + "+00:00")
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _no_date(value: Any) -> Optional[bool]:
    return None


def match_date(leaf: PropertyFilter, value: Any) -> Optional[bool]:
    """``is_date_before`` / ``is_date_after`` as 7.x decides them (None: undecided)."""
    return compile_date(leaf)(value)


def compile_date(leaf: PropertyFilter) -> Callable[[Any], Optional[bool]]:
    """:func:`match_date` for ``leaf`` with its operand read once (a relative one is computed
    from the time of the call, shared for a millisecond as in 3.25.0's pass)."""
    text = str(leaf.value)
    relative = parse_relative_date(text)
    fixed = _date_text(text) if relative is None else None
    if relative is None and fixed is None:
        return _no_date  # not a date: undecided whatever the value
    before = leaf.operator is Operator.IS_DATE_BEFORE

    def test(value: Any) -> Optional[bool]:
        moment: Optional[datetime]
        if isinstance(value, datetime):
            moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        elif isinstance(value, date):
            moment = None
        elif isinstance(value, str):
            moment = _date_text(value)
            if moment is None:
                return None
        else:
            return None
        operand = fixed if relative is None else relative_operand(relative)
        if operand is None:
            return None
        if moment is None:  # a date: compared with the operand's day
            day = operand.date()
            return bool(value < day if before else value > day)
        try:
            return moment < operand if before else moment > operand
        except (TypeError, ValueError):
            return None

    return test


# How match_property treats each operator, indexed by Operator value (a tuple lookup: Enum hashing is
# Python code, and this runs for every filter of every flag 3.25.0 cannot decide).
_AS_3X, _AS_7X_TEXT, _AS_AFFIX, _AS_SEMVER, _AS_DATE, _AS_UNKNOWN = range(6)
_SEMVER_OPERATORS: Final = (
    Operator.SEMVER_EQ,
    Operator.SEMVER_NEQ,
    Operator.SEMVER_GT,
    Operator.SEMVER_GTE,
    Operator.SEMVER_LT,
    Operator.SEMVER_LTE,
    Operator.SEMVER_TILDE,
    Operator.SEMVER_CARET,
    Operator.SEMVER_WILDCARD,
)
#: 3.25.0's operators that 7.x matches differently (``match_old_operator``)
_7X_TEXT_OPERATORS: Final = (
    Operator.EXACT,
    Operator.IS_NOT,
    Operator.ICONTAINS,
    Operator.NOT_ICONTAINS,
    Operator.REGEX,
    Operator.NOT_REGEX,
    Operator.GT,
    Operator.GTE,
    Operator.LT,
    Operator.LTE,
)
_AFFIX_OPERATORS: Final = (
    Operator.STARTS_WITH,
    Operator.ENDS_WITH,
    Operator.NOT_STARTS_WITH,
    Operator.NOT_ENDS_WITH,
)


def _kind(operator: Operator) -> int:
    if operator in _7X_TEXT_OPERATORS:
        return _AS_7X_TEXT
    if operator in _AFFIX_OPERATORS:
        return _AS_AFFIX
    if operator in _SEMVER_OPERATORS:
        return _AS_SEMVER
    if operator in (Operator.IS_DATE_BEFORE, Operator.IS_DATE_AFTER):
        return _AS_DATE
    if operator in (Operator.UNKNOWN, Operator.FLAG_EVALUATES_TO):
        return _AS_UNKNOWN
    return _AS_3X


_KINDS: Final = tuple(_kind(operator) for operator in Operator)


def match_property(leaf: PropertyFilter, properties: Mapping[str, Any]) -> Optional[bool]:
    """A property filter as 7.x matches it; None when 7.x leaves it undecided."""
    key = leaf.key
    if key not in properties:
        return None
    operator = leaf.operator
    if operator is Operator.IS_NOT_SET:
        return False  # the property is given: it is set
    if operator is Operator.IS_SET:
        return True  # even when it is null
    value = properties[key]
    kind = _KINDS[operator]
    if kind == _AS_7X_TEXT:  # a null value is the text "null" (numbers: no match)
        return match_old_operator(leaf, value)
    if kind == _AS_AFFIX:
        return match_affix(operator, leaf.value, value)
    if kind == _AS_UNKNOWN:
        return None
    if value is None:
        return False
    if kind == _AS_DATE:
        return match_date(leaf, value)
    if kind == _AS_SEMVER:
        return match_semver(operator, leaf.value, value)
    result = MATCHERS[operator](leaf, value)
    return result if type(result) is bool else None

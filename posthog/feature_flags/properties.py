"""Pure matching of pre-parsed property filters and cohort groups against a properties dict.

Results are tri-state: ``True``, ``False`` or an ``Undecided`` member (inconclusive, with the
reason). Undecided is a value, not an exception, because it is common on the hot path.
Exceptions abort the whole flag evaluation, exactly where 3.25.0 raises one that its
callers do not catch: ``TypeError`` from comparing incomparable values,
``MalformedDefinitionError`` on a malformed definition, ``CohortCycleError`` on a cohort
that contains itself (3.x recurses until ``RecursionError``).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Any, Final, Optional, Union

from .definitions import (
    CohortFilter,
    DateForm,
    Leaf,
    MalformedDefinitionError,
    Operator,
    PropertyFilter,
    PropertyGroup,
    parse_date_text,
)

__all__ = [
    "MATCHERS",
    "CohortCycleError",
    "Match",
    "Undecided",
    "match_cohort",
    "match_filter",
    "match_leaves",
    "match_property_group",
    "relative_date",
    "relative_operand",
]


class Undecided(Enum):
    """Why a filter could not be decided locally (each member is an inconclusive result)."""

    MISSING_PROPERTY = "a property the filter needs was not given"
    IS_NOT_SET = "the is_not_set operator is never evaluated locally"
    UNKNOWN_OPERATOR = "unknown operator"
    INVALID_DATE = "the date set on the flag is not a valid format"
    INVALID_DATE_PROPERTY = "the date property value is not a valid format"
    UNSUPPORTED_DATE_PROPERTY = "the date property value is neither a date nor a string"
    UNKNOWN_COHORT = "the cohort is not in the definitions (static or not sent)"
    COHORT_ON_GROUP_FLAG = "cohort filters cannot be evaluated on group flags"


Match = Union[bool, Undecided]


class CohortCycleError(MalformedDefinitionError):
    """A cohort refers to itself, directly or through other cohorts."""


_MISSING_PROPERTY: Final = Undecided.MISSING_PROPERTY
_IS_NOT_SET_RESULT: Final = Undecided.IS_NOT_SET
_IS_NOT_SET: Final = Operator.IS_NOT_SET
_IS_NOT: Final = Operator.IS_NOT
_UTC: Final = timezone.utc


def _text(value: object) -> str:
    return value if type(value) is str else str(value)


def _exact(f: PropertyFilter, override: Any) -> Match:
    text = (override if type(override) is str else str(override)).casefold()
    choices = f.folded_choices
    if choices is not None:
        return text in choices
    return text == f.folded


def _is_not(f: PropertyFilter, override: Any) -> Match:
    return not _exact(f, override)


def _is_set(f: PropertyFilter, override: Any) -> Match:
    return True


def _is_not_set(f: PropertyFilter, override: Any) -> Match:
    return Undecided.IS_NOT_SET  # unreachable: handled before the operator dispatch


def _icontains(f: PropertyFilter, override: Any) -> Match:
    return f.folded in (override if type(override) is str else str(override)).casefold()


def _not_icontains(f: PropertyFilter, override: Any) -> Match:
    return f.folded not in (override if type(override) is str else str(override)).casefold()


def _regex(f: PropertyFilter, override: Any) -> Match:
    if f.error is not None:
        raise MalformedDefinitionError(f.error)
    pattern = f.pattern
    return pattern is not None and pattern.search(_text(override)) is not None


def _not_regex(f: PropertyFilter, override: Any) -> Match:
    if f.error is not None:
        raise MalformedDefinitionError(f.error)
    pattern = f.pattern
    # flags.md §4: an invalid pattern matches neither regex nor not_regex.
    return pattern is not None and pattern.search(_text(override)) is None


def _compare(f: PropertyFilter, override: Any) -> Match:
    compare = f.compare
    assert compare is not None
    if f.number is None:
        return compare(_text(override), f.value_text)
    if isinstance(override, str):
        # flags.md §4: a string property is compared as text even against a numeric filter.
        return compare(override, f.value_text)
    return compare(override, f.number)  # TypeError for incomparable types aborts the flag


def _months_before(moment: datetime, months: int) -> datetime:
    """``moment`` minus whole months, the day clipped to the target month (relativedelta's rule)."""
    year, month0 = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    if not 1 <= year <= 9999:
        raise ValueError("year out of range")
    day = moment.day
    if day > 28:
        day = min(day, calendar.monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def relative_date(number: int, unit: str, now: Optional[datetime] = None) -> Optional[datetime]:
    """``now`` (default: current UTC time) minus ``number`` ``unit``s; None if out of range."""
    if now is None:
        now = datetime.now(_UTC)
    try:
        if unit == "h":
            return now - timedelta(hours=number)
        if unit == "d":
            return now - timedelta(days=number)
        if unit == "w":
            return now - timedelta(weeks=number)
        return _months_before(now, number if unit == "m" else number * 12)
    except (ValueError, OverflowError):  # e.g. "9999y" reaches before year 1
        return None


_RELATIVE_REUSE: Final = 0.001
_RELATIVE_OPERANDS: dict[tuple[int, str], tuple[float, Optional[datetime]]] = {}

_ABSOLUTE: Final = DateForm.ABSOLUTE
_RELATIVE: Final = DateForm.RELATIVE
_DYNAMIC: Final = DateForm.DYNAMIC


def relative_operand(relative: tuple[int, str]) -> Optional[datetime]:
    """:func:`relative_date` of ``(number, unit)`` now, shared for a millisecond: one flag call
    needs "now - 30d" once, not per filter."""
    moment = time.monotonic()
    cached = _RELATIVE_OPERANDS.get(relative)
    if cached is not None and moment - cached[0] < _RELATIVE_REUSE:
        return cached[1]
    operand = relative_date(*relative)
    _RELATIVE_OPERANDS[relative] = (moment, operand)
    return operand


def _date_operand(f: PropertyFilter) -> Optional[datetime]:
    form = f.date_form
    if form is _ABSOLUTE:
        return f.date_value
    if form is _RELATIVE:
        relative = f.relative
        assert relative is not None
        return relative_operand(relative)
    if form is _DYNAMIC:
        return parse_date_text(f.value_text)
    return None


def _date_compare(f: PropertyFilter, override: Any, before: bool) -> Match:
    operand = _date_operand(f)
    if operand is None:
        return Undecided.INVALID_DATE
    if isinstance(override, datetime):
        moment: datetime = override if override.tzinfo is not None else override.replace(tzinfo=_UTC)
        return moment < operand if before else moment > operand
    if isinstance(override, date):
        day = operand.date()
        return override < day if before else override > day
    if isinstance(override, str):
        parsed = parse_date_text(override)
        if parsed is None:
            return Undecided.INVALID_DATE_PROPERTY
        try:
            return parsed < operand if before else parsed > operand
        except ValueError:  # an offset of 24 h or more; 3.x compares strings inside its try
            return Undecided.INVALID_DATE_PROPERTY
    return Undecided.UNSUPPORTED_DATE_PROPERTY


def _date_before(f: PropertyFilter, override: Any) -> Match:
    return _date_compare(f, override, True)


def _date_after(f: PropertyFilter, override: Any) -> Match:
    return _date_compare(f, override, False)


def _unknown(f: PropertyFilter, override: Any) -> Match:
    return Undecided.UNKNOWN_OPERATOR


# Indexed by Operator value.
_MATCHERS: Final[tuple[Callable[[PropertyFilter, Any], Match], ...]] = (
    _exact,
    _is_not,
    _is_set,
    _is_not_set,
    _icontains,
    _not_icontains,
    _regex,
    _not_regex,
    _compare,
    _compare,
    _compare,
    _compare,
    _date_before,
    _date_after,
    _unknown,
    *(_unknown for op in Operator if op > Operator.UNKNOWN),  # 7.x's: unknown to 3.25.0
)
assert len(_MATCHERS) == len(Operator)
#: The operator functions, indexed by Operator value (for evaluation's inlined single filter).
MATCHERS: Final = _MATCHERS


def match_filter(f: PropertyFilter, properties: Mapping[str, Any]) -> Match:
    """Match one property filter (flags.md §4, checks in the order 3.25.0 makes them)."""
    key = f.key
    if key not in properties:
        return _MISSING_PROPERTY
    operator = f.operator
    if operator is _IS_NOT_SET:
        return _IS_NOT_SET_RESULT
    override = properties[key]
    if override is None and operator is not _IS_NOT:
        return False
    return _MATCHERS[operator](f, override)


def match_cohort(
    f: CohortFilter,
    properties: Mapping[str, Any],
    cohorts: Optional[Mapping[str, PropertyGroup]],
    path: tuple[str, ...] = (),
) -> Match:
    """Match a cohort filter (flags.md §5); ``cohorts`` is None for group flags."""
    if cohorts is None:
        return Undecided.COHORT_ON_GROUP_FLAG
    cohort_id = f.cohort_id
    group = cohorts.get(cohort_id)
    if group is None:
        return Undecided.UNKNOWN_COHORT
    if path and cohort_id in path:
        raise CohortCycleError(f"cohort {cohort_id} refers to itself via {' -> '.join(path)}")
    return match_property_group(group, properties, cohorts, (*path, cohort_id) if path else (cohort_id,))


def _match_leaf(
    leaf: Leaf,
    properties: Mapping[str, Any],
    cohorts: Optional[Mapping[str, PropertyGroup]],
    path: tuple[str, ...],
) -> Match:
    kind = type(leaf)
    if kind is PropertyFilter:
        return match_filter(leaf, properties)  # type: ignore[arg-type]
    if kind is CohortFilter:
        return match_cohort(leaf, properties, cohorts, path)  # type: ignore[arg-type]
    raise MalformedDefinitionError(leaf.reason)  # type: ignore[union-attr]


def match_leaves(
    leaves: tuple[Leaf, ...],
    properties: Mapping[str, Any],
    cohorts: Optional[Mapping[str, PropertyGroup]],
) -> Match:
    """Match a condition's properties in order (flags.md §3).

    The first non-match decides ``False`` and the first inconclusive filter decides
    inconclusive, whichever comes first: 3.25.0's order semantics, kept on purpose.
    """
    for leaf in leaves:
        if type(leaf) is PropertyFilter:
            # match_filter, inlined: this loop is the hottest code of flag evaluation.
            key = leaf.key
            if key not in properties:
                return _MISSING_PROPERTY
            operator = leaf.operator
            if operator is _IS_NOT_SET:
                return _IS_NOT_SET_RESULT
            override = properties[key]
            if override is None and operator is not _IS_NOT:
                return False
            result = _MATCHERS[operator](leaf, override)
        elif type(leaf) is CohortFilter:
            result = match_cohort(leaf, properties, cohorts, ())
        else:
            result = _match_leaf(leaf, properties, cohorts, ())
        if result is not True:
            return result
    return True


def match_property_group(
    group: PropertyGroup,
    properties: Mapping[str, Any],
    cohorts: Optional[Mapping[str, PropertyGroup]],
    path: tuple[str, ...] = (),
) -> Match:
    """Match a cohort property group (flags.md §5)."""
    if group.error is not None:
        raise MalformedDefinitionError(group.error)
    if not group.groups and not group.leaves:
        return True  # an empty or null group matches everyone
    is_and = group.is_and
    undecided: Optional[Undecided] = None
    if group.nested:
        for child in group.groups:
            result = match_property_group(child, properties, cohorts, path)
            if result is True:
                if not is_and:
                    return True
            elif result is False:
                if is_and:
                    return False
            elif undecided is None:
                undecided = result
    else:
        for leaf in group.leaves:
            if type(leaf) is PropertyFilter:
                # match_filter, inlined (cohort definitions are mostly property filters)
                key = leaf.key
                if key not in properties:
                    result = _MISSING_PROPERTY
                elif leaf.operator is _IS_NOT_SET:
                    result = _IS_NOT_SET_RESULT
                else:
                    override = properties[key]
                    if override is None and leaf.operator is not _IS_NOT:
                        result = False
                    else:
                        result = _MATCHERS[leaf.operator](leaf, override)
            elif type(leaf) is CohortFilter:
                result = match_cohort(leaf, properties, cohorts, path)
            else:
                result = _match_leaf(leaf, properties, cohorts, path)
            if result is True or result is False:
                # AND fails when the (possibly negated) leaf fails; OR succeeds when it holds.
                holds = result is not leaf.negation
                if is_and and not holds:
                    return False
                if not is_and and holds:
                    return True
            elif undecided is None:
                undecided = result  # a negated leaf is never rescued from inconclusive
    if undecided is not None:
        return undecided
    return is_and

"""Property filters and property groups parsed once, their operands ready for evaluation.

The leaves of flag conditions and cohort definitions (flags.md §4, §5): operators resolved,
comparison text case-folded, regexes compiled, numbers and dates parsed. Parsing never raises;
what 3.x could not evaluate is kept as an error string, raised when evaluation reaches it.
"""

from __future__ import annotations

import logging
import operator as _op
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Final, Optional, Union

from .dates import DateForm, parse_relative_date
from .dates import classify_date_text as _classify_date_text

log = logging.getLogger("posthog")

__all__ = [
    "CohortFilter",
    "Leaf",
    "MalformedDefinitionError",
    "MalformedFilter",
    "Operator",
    "PropertyFilter",
    "PropertyGroup",
    "cohorts_in_cycles",
    "parse_cohort",
    "parse_leaf",
    "parse_property_filter",
    "parse_property_group",
    "warn_once",
]


class MalformedDefinitionError(ValueError):
    """Evaluation reached a part of a flag definition that cannot be evaluated."""


class Operator(IntEnum):
    """Property filter operators; ``UNKNOWN`` covers every name 3.25.0 does not implement."""

    EXACT = 0
    IS_NOT = 1
    IS_SET = 2
    IS_NOT_SET = 3
    ICONTAINS = 4
    NOT_ICONTAINS = 5
    REGEX = 6
    NOT_REGEX = 7
    GT = 8
    GTE = 9
    LT = 10
    LTE = 11
    IS_DATE_BEFORE = 12
    IS_DATE_AFTER = 13
    UNKNOWN = 14
    # Added by later releases: 3.25.0 does not know them (inconclusive, as UNKNOWN); they are
    # decided by the 7.x pass (:mod:`.newer`) when 3.25.0's evaluation is inconclusive.
    SEMVER_EQ = 15
    SEMVER_NEQ = 16
    SEMVER_GT = 17
    SEMVER_GTE = 18
    SEMVER_LT = 19
    SEMVER_LTE = 20
    SEMVER_TILDE = 21
    SEMVER_CARET = 22
    SEMVER_WILDCARD = 23
    STARTS_WITH = 24
    ENDS_WITH = 25
    NOT_STARTS_WITH = 26
    NOT_ENDS_WITH = 27
    FLAG_EVALUATES_TO = 28


_OPERATORS: Final[Mapping[str, Operator]] = MappingProxyType(
    {op.name.lower(): op for op in Operator if op is not Operator.UNKNOWN}
)
_COMPARATORS: Final[Mapping[Operator, Callable[[Any, Any], bool]]] = MappingProxyType(
    {Operator.GT: _op.gt, Operator.GTE: _op.ge, Operator.LT: _op.lt, Operator.LTE: _op.le}
)


@dataclass(frozen=True)
class PropertyFilter:
    """One person/group property filter with its operand pre-parsed for ``operator``."""

    key: Any  # hashable: an unhashable key gives a MalformedFilter
    operator: Operator
    operator_name: object  # as received, for messages
    value: object
    value_text: str = ""  # str(value)
    folded: str = ""  # str(value).casefold() (exact, is_not, icontains, not_icontains)
    folded_choices: Optional[frozenset[str]] = None  # exact/is_not with a list value
    pattern: Optional[re.Pattern[str]] = None  # regex/not_regex; None means an invalid pattern
    number: Optional[float] = None  # gt/gte/lt/lte: float(value), None when unparsable
    compare: Optional[Callable[[Any, Any], bool]] = None
    date_form: DateForm = DateForm.INVALID
    date_value: Optional[datetime] = None
    relative: Optional[tuple[int, str]] = None
    negation: bool = False  # only meaningful inside cohort definitions (flags.md §5)
    error: Optional[str] = None  # raised once the key is present and the value not None
    is_flag: bool = False  # a flag dependency ("type": "flag"), for the 7.x pass
    chain: Optional[tuple[Any, ...]] = None  # its dependency_chain (None: no such field)


@dataclass(frozen=True)
class CohortFilter:
    """A ``{"type": "cohort", "value": id}`` filter."""

    cohort_id: str
    negation: bool = False


@dataclass(frozen=True)
class MalformedFilter:
    """A filter 3.x would crash on (not an object, unhashable key); raises when reached."""

    reason: str
    negation: bool = False
    #: an operator 7.x does not know: it leaves the filter undecided before it reads the key
    unknown_operator: bool = False


Leaf = Union[PropertyFilter, CohortFilter, MalformedFilter]


@dataclass(frozen=True)
class PropertyGroup:
    """A cohort's ``{"type": "AND"|"OR", "values": [...]}``; no groups and no leaves means match."""

    is_and: bool = False
    nested: bool = False
    groups: tuple[PropertyGroup, ...] = ()
    leaves: tuple[Leaf, ...] = ()
    error: Optional[str] = None
    #: its "type" is neither "AND" nor "OR" (3.25.0 reads it as OR; 7.x leaves it undecided)
    kind_error: bool = False


_ALWAYS_TRUE: Final = PropertyGroup()
#: ``null`` or ``{}``: 3.25.0 matches everyone, 7.x cannot tell (no "type")
_EMPTY: Final = PropertyGroup(kind_error=True)


def parse_property_group(raw: object) -> PropertyGroup:
    """Parse a cohort property group (flags.md §5)."""
    if not raw:
        return _ALWAYS_TRUE if raw == {} else _EMPTY  # 7.x reads {} as an empty group, not None
    if not isinstance(raw, dict):
        return PropertyGroup(error=f"property group is a {type(raw).__name__}, not an object")
    is_and = raw.get("type") == "AND"
    # 7.x reads only "AND" and "OR", with a "values" list (even an empty one)
    kind_error = raw.get("type") not in ("AND", "OR") or "values" not in raw
    values = raw.get("values")
    if not values:
        return _EMPTY if kind_error else _ALWAYS_TRUE
    if not isinstance(values, list):
        return PropertyGroup(error=f"property group values is a {type(values).__name__}, not a list")
    try:
        # 3.x decides "nested or leaves" with `"values" in values[0]`, whatever its type.
        nested = "values" in values[0]
    except TypeError:
        return PropertyGroup(error=f"property group entry is a {type(values[0]).__name__}")
    if nested:
        if len(values) == 1:
            # AND or OR of one group is that group, whatever it gives (true, false, undecided,
            # or an error): one level less to walk on every evaluation.
            only = parse_property_group(values[0])
            return replace(only, kind_error=True) if kind_error and not only.kind_error else only
        groups = tuple(parse_property_group(v) for v in values)
        return PropertyGroup(is_and=is_and, nested=True, groups=groups, kind_error=kind_error)
    leaves = tuple(parse_leaf(v, in_cohort=True) for v in values)
    return PropertyGroup(is_and=is_and, leaves=leaves, kind_error=kind_error)


def parse_leaf(raw: object, *, in_cohort: bool) -> Leaf:
    """Parse one filter of a condition or of a cohort group."""
    if not isinstance(raw, dict):
        return MalformedFilter(f"property filter is a {type(raw).__name__}, not an object")
    negation = bool(raw.get("negation", False)) if in_cohort else False
    if raw.get("type") == "cohort":
        return CohortFilter(str(raw.get("value")), negation)
    parsed = parse_property_filter(raw, negation=negation)
    if raw.get("type") == "flag" and isinstance(parsed, PropertyFilter):
        chain = raw.get("dependency_chain")
        return replace(parsed, is_flag=True, chain=tuple(chain) if isinstance(chain, list) else None)
    return parsed


def parse_property_filter(
    raw: Mapping[str, Any], *, negation: bool = False
) -> Union[PropertyFilter, MalformedFilter]:
    """Parse a person/group property filter, pre-computing its operand (flags.md §4)."""
    key = raw.get("key")
    operator_name = raw.get("operator") or "exact"
    operator = (
        _OPERATORS.get(operator_name, Operator.UNKNOWN)
        if isinstance(operator_name, str)
        else Operator.UNKNOWN
    )
    try:
        hash(key)
    except TypeError:
        reason = f"property key {key!r} is not hashable"
        return MalformedFilter(reason, negation, unknown_operator=operator is Operator.UNKNOWN)
    value = raw.get("value")
    fields: dict[str, Any] = {}
    if operator in (Operator.EXACT, Operator.IS_NOT):
        if isinstance(value, list):
            fields["folded_choices"] = frozenset(str(v).casefold() for v in value)
        else:
            fields["folded"] = str(value).casefold()
    elif operator in (Operator.ICONTAINS, Operator.NOT_ICONTAINS):
        fields["folded"] = str(value).casefold()
    elif operator in (Operator.REGEX, Operator.NOT_REGEX):
        try:
            fields["pattern"] = re.compile(str(value))
        except re.error:
            pass  # invalid pattern: neither regex nor not_regex matches
        except Exception as exc:  # e.g. OverflowError, which 3.x does not catch
            fields["error"] = f"regex {str(value)!r} cannot be compiled ({type(exc).__name__})"
    elif operator in _COMPARATORS:
        fields["value_text"] = str(value)
        fields["compare"] = _COMPARATORS[operator]
        try:
            fields["number"] = float(value)  # type: ignore[arg-type]
        except Exception:
            pass  # unparsable: compared as text
    elif operator in (Operator.IS_DATE_BEFORE, Operator.IS_DATE_AFTER):
        text = str(value)
        fields["value_text"] = text
        relative = parse_relative_date(text)
        if relative is not None:
            fields["date_form"] = DateForm.RELATIVE
            fields["relative"] = relative
        else:
            form, parsed = _classify_date_text(text)
            fields["date_form"] = form
            fields["date_value"] = parsed
    return PropertyFilter(key, operator, operator_name, value, negation=negation, **fields)


# Reasons already logged, so that a poll every 30 s does not repeat the same warning.
_LOGGED: set[tuple[str, str]] = set()
_LOGGED_LIMIT: Final = 1024


def warn_once(subject: str, reason: str) -> None:
    """Log that ``subject`` cannot be evaluated locally, once per reason."""
    entry = (subject, reason)
    if entry in _LOGGED:
        return
    if len(_LOGGED) >= _LOGGED_LIMIT:
        _LOGGED.clear()
    _LOGGED.add(entry)
    log.warning("[FEATURE FLAGS] %s cannot be evaluated locally: %s", subject, reason)


# --- cohorts ---------------------------------------------------------------------------


def parse_cohort(cohort_id: str, raw: object) -> PropertyGroup:
    group = _guarded_group(raw)
    if group.error is not None:
        warn_once(f"cohort {cohort_id}", group.error)
    return group


def _referenced_cohorts(group: PropertyGroup) -> set[str]:
    found: set[str] = set()
    pending = [group]
    while pending:
        current = pending.pop()
        pending.extend(current.groups)
        found.update(leaf.cohort_id for leaf in current.leaves if isinstance(leaf, CohortFilter))
    return found


def cohorts_in_cycles(cohorts: Mapping[str, PropertyGroup]) -> set[str]:
    edges = {cohort_id: _referenced_cohorts(group) & cohorts.keys() for cohort_id, group in cohorts.items()}
    in_cycle: set[str] = set()
    for start in edges:
        # Is `start` reachable from its own references?
        seen: set[str] = set()
        pending = list(edges[start])
        while pending:
            current = pending.pop()
            if current == start:
                in_cycle.add(start)
                break
            if current not in seen:
                seen.add(current)
                pending.extend(edges[current])
    return in_cycle


def _guarded_group(raw: object) -> PropertyGroup:
    try:
        return parse_property_group(raw)
    except Exception as exc:  # parsing must never fail (e.g. absurdly deep nesting)
        return PropertyGroup(error=f"unparsable property group ({type(exc).__name__})")

"""Evaluate one flag locally: conditions, rollout hashing, variants and overrides, payload lookup.

Everything here is pure and never raises: a flag that cannot be decided locally returns an
``Inconclusive`` value (the caller may then ask the server), as in flags.md §3 and §7.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Optional, Union

from .definitions import (
    CohortFilter,
    FlagDefinition,
    FlagDefinitions,
    MalformedDefinitionError,
    Operator,
    PropertyFilter,
    PropertyGroup,
)
from .hashing import hash_bucket
from .newer import evaluate_newer
from .properties import MATCHERS, Undecided, match_cohort, match_leaves
from .variants import select_variant

if TYPE_CHECKING:
    from typing_extensions import TypeGuard

__all__ = [
    "CONTINUITY",
    "FlagValue",
    "Inconclusive",
    "augment_properties",
    "evaluate_flag",
    "is_inconclusive",
    "lookup_payload",
    "match_conditions",
    "select_variant",
]

log = logging.getLogger("posthog")

FlagValue = Union[bool, str]


@dataclass(frozen=True)
class Inconclusive:
    """Local evaluation could not decide this flag; ``reason`` says why."""

    reason: str


def is_inconclusive(value: object) -> TypeGuard[Inconclusive]:
    """Whether ``value`` (a result of ``evaluate_flag``) is inconclusive."""
    return type(value) is Inconclusive


#: why a flag that ensures experience continuity is not decided locally
CONTINUITY: Final = Inconclusive("the flag ensures experience continuity, which needs the server")
# Keyed by member name: Enum.__hash__ is Python code, a str key hashes in C.
_FROM_UNDECIDED: Final[Mapping[str, Inconclusive]] = MappingProxyType(
    {reason.name: Inconclusive(reason.value) for reason in Undecided}
)
_NO_PROPERTIES: Final[Mapping[str, Any]] = MappingProxyType({})
_ABSENT: Final = object()
_MISSING: Final = Undecided.MISSING_PROPERTY
_NOT_SET: Final = Undecided.IS_NOT_SET
_IS_NOT_SET: Final = Operator.IS_NOT_SET
_IS_NOT: Final = Operator.IS_NOT


def augment_properties(
    distinct_id: object,
    groups: Mapping[str, object],
    person_properties: Optional[Mapping[str, Any]],
    group_properties: Optional[Mapping[str, Mapping[str, Any]]],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Add the automatic ``distinct_id`` and ``$group_key`` properties (flags.md §3 step 0).

    The caller's own values win; groups not listed in ``groups`` are dropped.
    """
    person = {"distinct_id": distinct_id}
    if person_properties:
        person.update(person_properties)
    by_group: dict[str, dict[str, Any]] = {}
    for group_type, group_key in groups.items():
        own = group_properties.get(group_type) if group_properties else None
        augmented = {"$group_key": group_key}
        if own:
            augmented.update(own)
        by_group[group_type] = augmented
    return person, by_group


def evaluate_flag(
    flag: FlagDefinition,
    definitions: FlagDefinitions,
    distinct_id: object,
    groups: Mapping[str, object],
    person_properties: Mapping[str, Any],
    group_properties: Mapping[str, Mapping[str, Any]],
) -> Union[FlagValue, Inconclusive]:
    """Evaluate ``flag`` locally (flags.md §3); never raises.

    The properties must already be augmented (``augment_properties``).
    """
    error: Optional[Exception] = None
    if flag.ensure_experience_continuity:
        # 3.25.0 asks the server; 7.x first checks "active", so an inactive one is off.
        return CONTINUITY if flag.active else False
    if not flag.active:
        return False
    try:
        if flag.error is not None:
            raise MalformedDefinitionError(flag.error)
        group_type_key = flag.group_type_key
        if group_type_key is None:
            result = match_conditions(flag, distinct_id, person_properties, definitions.cohort_table)
        else:
            group_name = definitions.group_type_mapping.get(group_type_key)
            if group_name is None:
                _log_once(logging.WARNING, flag.key, "unknown group type index %s", group_type_key)
                return Inconclusive(f"unknown group type index {group_type_key}")
            if group_name not in groups:
                # Decided locally: the server would answer the same without the group.
                log.debug(
                    "[FEATURE FLAGS] group flag %s needs group %r, which was not passed", flag.key, group_name
                )
                return False
            properties = group_properties.get(group_name)
            # Group flags never evaluate cohorts (flags.md §3): cohorts=None.
            result = match_conditions(
                flag, groups[group_name], _NO_PROPERTIES if properties is None else properties, None
            )
    except MalformedDefinitionError as exc:
        inconclusive = Inconclusive(f"malformed definition: {exc}")
    except Exception as exc:  # boundary: evaluation must never raise into the caller
        error = exc
        inconclusive = Inconclusive(f"{type(exc).__name__}: {exc}")
    else:
        if type(result) is not Undecided:
            return result  # type: ignore[return-value]
        inconclusive = _FROM_UNDECIDED[result._name_]
    # 3.25.0 cannot decide: 7.x may (the server would give that answer, a round trip later).
    newer = evaluate_newer(flag, definitions, distinct_id, groups, person_properties, group_properties)
    if newer is not None:
        return newer
    if error is not None:
        log_local_error(flag.key, error)
    return inconclusive


def log_local_error(flag_key: str, error: BaseException) -> None:
    """Log (once per flag and error text) that computing the flag locally raised ``error``, which
    neither 3.25.0's rules nor 7.x's could get past; None, for generated code's return."""
    _log_once(logging.ERROR, flag_key, "error while computing the flag locally: %r", error)


def match_conditions(
    flag: FlagDefinition,
    bucketing_id: object,
    properties: Mapping[str, Any],
    cohorts: Optional[Mapping[str, PropertyGroup]],
) -> Union[FlagValue, Undecided]:
    """Run the flag's conditions (flags.md §3 "Conditions"); may raise on malformed definitions."""
    if flag.conditions_error is not None:
        raise MalformedDefinitionError(flag.conditions_error)
    undecided: Optional[Undecided] = None
    bucket = -1.0  # the rollout hash, computed at most once
    for condition in flag.conditions:
        if condition.error is not None:
            raise MalformedDefinitionError(condition.error)
        leaves = condition.properties
        if leaves:
            # match_leaves, inlined for the usual one-filter condition
            leaf = leaves[0]
            if len(leaves) != 1:
                matched = match_leaves(leaves, properties, cohorts)
            elif type(leaf) is PropertyFilter:
                # match_filter, inlined: the usual condition is one property filter
                value = properties.get(leaf.key, _ABSENT)
                if value is _ABSENT:
                    matched = _MISSING
                elif leaf.operator is _IS_NOT_SET:
                    matched = _NOT_SET
                elif value is None and leaf.operator is not _IS_NOT:
                    matched = False
                else:
                    matched = MATCHERS[leaf.operator](leaf, value)
            elif type(leaf) is CohortFilter:
                matched = match_cohort(leaf, properties, cohorts)
            else:
                matched = match_leaves(leaves, properties, cohorts)
            if matched is not True:
                if matched is not False and undecided is None:
                    undecided = matched  # remembered; a later condition may still match
                continue
        threshold = condition.threshold
        if threshold is not None:
            # A hash is at most 1.0, so a 100% rollout needs none.
            if threshold < 1.0:
                if bucket < 0.0:
                    bucket = hash_bucket(flag.key, bucketing_id)
                if bucket > threshold:
                    continue
        elif condition.rollout_error is not None:
            raise MalformedDefinitionError(condition.rollout_error)
        override = condition.variant_override
        if override is not None:
            return override  # type: ignore[return-value]
        if not flag.variants and flag.variants_error is None:
            return True
        return select_variant(flag, bucketing_id) or True
    if undecided is not None:
        return undecided
    return False


def lookup_payload(flag: FlagDefinition, value: FlagValue) -> Optional[Any]:
    """The payload stored for ``value`` (flags.md §6): ``True`` → ``"true"``, else ``str(value)``."""
    return flag.payloads.get("true" if value is True else str(value))


# (flag key, message) pairs already logged: one broken flag must not flood the log.
_LOGGED: set[tuple[str, str]] = set()
_LOGGED_LIMIT: Final = 1024


def _log_once(level: int, flag_key: str, message: str, *args: object) -> None:
    entry = (flag_key, message % args)
    if entry in _LOGGED:
        return
    if len(_LOGGED) >= _LOGGED_LIMIT:
        _LOGGED.clear()
    _LOGGED.add(entry)
    log.log(level, "[FEATURE FLAGS] flag %s: %s", flag_key, entry[1])

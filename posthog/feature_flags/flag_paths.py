"""The paths one flag takes through local evaluation, shared by :mod:`.local` (one flag, the
loop over all) and :mod:`.snapshot_code` (all flags written out as one function).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Optional

from .compiled import conditions_of
from .definitions import FlagDefinition, FlagDefinitions
from .evaluation import FlagValue, Inconclusive, evaluate_flag, lookup_payload
from .newer import evaluate_newer
from .newer_plan import plan_for
from .properties import Undecided

__all__ = [
    "KNOWN_UNDECIDED",
    "NO_GROUPS",
    "NO_PERSON",
    "UNDECIDED",
    "decided",
    "evaluated",
    "group_flag",
    "newer_person",
    "walk_flag",
    "walk_flags",
]

log = logging.getLogger("posthog")

NO_PERSON: Final[Mapping[str, Any]] = MappingProxyType({})
NO_GROUPS: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType({})
UNDECIDED: Final = object()  # neither pass decides
KNOWN_UNDECIDED: Final = Inconclusive("neither 3.25.0's rules nor 7.x's can decide this flag locally")


def newer_person(
    flag: FlagDefinition,
    snapshot: FlagDefinitions,
    distinct_id: Any,
    groups: Mapping[str, Any],
    person: Mapping[str, Any],
    group: Mapping[str, Mapping[str, Any]],
) -> Optional[FlagValue]:
    """7.x's answer for a plain person flag 3.25.0 left undecided: its compiled plan when it has
    one (what ``evaluate_newer`` would run), else the general pass."""
    plan: Any = flag.newer_plan or plan_for(flag, snapshot.cohort_table)
    run = plan.run
    if run is None:
        return evaluate_newer(flag, snapshot, distinct_id, groups, person, group)
    try:
        value: Optional[FlagValue] = run(distinct_id, person)
    except Exception:  # e.g. comparing incomparable values: undecided, as 7.x
        return None
    return value


def group_flag(
    flag: FlagDefinition,
    snapshot: FlagDefinitions,
    group_key: Any,
    own: Optional[Mapping[str, Any]],
    distinct_id: Any,
    groups: Mapping[str, Any],
    person: Mapping[str, Any],
    group: Mapping[str, Mapping[str, Any]],
) -> Any:
    """A plain group flag whose group was given: its value, ``UNDECIDED``, or None when only
    the full path can tell (``evaluate_flag``'s group path, one call shorter)."""
    properties = NO_PERSON if own is None else own
    try:  # group flags never read cohorts (flags.md §3)
        result = (flag.compiled or conditions_of(flag))(group_key, properties, None)
    except Exception:
        return None
    if result is True or result is False or type(result) is str:
        return result
    if type(result) is not Undecided:
        return None
    newer = evaluate_newer(flag, snapshot, distinct_id, groups, person, group)
    return UNDECIDED if newer is None else newer


def evaluated(
    flag: FlagDefinition,
    snapshot: FlagDefinitions,
    distinct_id: Any,
    groups: Mapping[str, Any],
    person: Mapping[str, Any],
    group: Mapping[str, Mapping[str, Any]],
) -> Any:
    """``evaluate_flag``, except for a flag no context can decide once it has said why."""
    if flag.known_undecided:
        return KNOWN_UNDECIDED
    result = evaluate_flag(flag, snapshot, distinct_id, groups, person, group)
    if flag.undecidable and type(result) is Inconclusive:
        flag.settle()
    return result


def walk_flags(
    snapshot: FlagDefinitions,
    distinct_id: Any,
    groups: Mapping[str, Any],
    person: Mapping[str, Any],
    group: Mapping[str, Mapping[str, Any]],
    values: dict[str, Any],
    payloads: dict[str, Any],
    undecided: list[str],
) -> None:
    """Every flag of ``snapshot`` evaluated in turn: each decided value (and payload) filed in
    ``values`` (``payloads``), each undecided key in ``undecided``. What the code of
    :mod:`.snapshot_code` does, as a loop (its fallback, and its tests' reference)."""
    cohorts = snapshot.cohort_table
    mapping = snapshot.group_type_mapping
    for flag in snapshot.flags:
        result: Any = None
        if flag.plain_person:
            try:  # as in local_flag: the person-flag path, one call shorter
                result = (flag.compiled or conditions_of(flag))(distinct_id, person, cohorts)
            except Exception:
                result = None
            if type(result) is Undecided:
                # 3.25.0 gives up: 7.x's pass, without evaluating the flag the 3.x way again
                result = newer_person(flag, snapshot, distinct_id, groups, person, group)
                if result is None:
                    undecided.append(flag.key)
                    continue
            elif result is not True and result is not False and type(result) is not str:
                result = None
        elif flag.plain:
            name = mapping.get(flag.group_type_key)  # type: ignore[arg-type]
            if name is not None and name in groups:
                result = group_flag(
                    flag, snapshot, groups[name], group.get(name), distinct_id, groups, person, group
                )
                if result is UNDECIDED:
                    undecided.append(flag.key)
                    continue
        if result is None:
            result = evaluated(flag, snapshot, distinct_id, groups, person, group)
            if isinstance(result, Inconclusive):
                undecided.append(flag.key)
                continue
        values[flag.key] = result
        if flag.payloads:
            payload = lookup_payload(flag, result)
            if payload:
                payloads[flag.key] = payload


def decided(key: str, result: Any) -> Optional[FlagValue]:
    """``result`` as a flag call answers it: None (logged at debug) when inconclusive."""
    if isinstance(result, Inconclusive):
        log.debug("flag %s could not be decided locally: %s", key, result.reason)
        return None
    value: FlagValue = result
    return value


def walk_flag(
    snapshot: FlagDefinitions,
    flag: FlagDefinition,
    distinct_id: Any,
    groups: Mapping[str, Any],
    person_properties: Optional[Mapping[str, Any]],
    group_properties: Optional[Mapping[str, Mapping[str, Any]]],
) -> Optional[FlagValue]:
    """One flag decided from ``snapshot``, or None: what the code of :mod:`.single_code` does,
    with each pass a call of its own (its fallback, and its tests' reference)."""
    key = flag.key
    if flag.group_type_key is None:
        # A person flag reads only the person's properties; the automatic distinct_id only when
        # one of its filters asks for it (the caller's own value wins anyway).
        person: Mapping[str, Any]
        if person_properties is not None and key not in snapshot.reads_distinct_id:
            person = person_properties
        else:
            person = {"distinct_id": distinct_id}
            if person_properties:
                person.update(person_properties)
        if flag.plain_person:
            # evaluate_flag's person-flag path, one call shorter; anything unusual takes the
            # full path (evaluation is pure, so running it again is safe).
            try:
                matched = (flag.compiled or conditions_of(flag))(distinct_id, person, snapshot.cohort_table)
            except Exception:
                matched = None
            if matched is True or matched is False or type(matched) is str:
                return matched
            if type(matched) is Undecided:
                # 3.25.0 gives up: 7.x's pass, without evaluating the flag the 3.x way again
                newer = newer_person(flag, snapshot, distinct_id, groups, person, NO_GROUPS)
                if newer is None and log.isEnabledFor(logging.DEBUG):  # (.value is dear)
                    log.debug("flag %s could not be decided locally: %s", key, matched.value)
                return newer
        return decided(key, evaluated(flag, snapshot, distinct_id, groups, person, NO_GROUPS))
    # A group flag reads only its own group's properties: build just those.
    group: dict[str, dict[str, Any]] = {}
    group_name = snapshot.group_type_mapping.get(flag.group_type_key)
    if group_name is not None and group_name in groups:
        own = group_properties.get(group_name) if group_properties else None
        augmented = {"$group_key": groups[group_name]}
        if own:
            augmented.update(own)
        group[group_name] = augmented
        if flag.plain:
            matched = group_flag(
                flag, snapshot, groups[group_name], augmented, distinct_id, groups, NO_PERSON, group
            )
            if matched is UNDECIDED:
                log.debug("flag %s could not be decided locally", key)
                return None
            if matched is not None:
                return matched  # type: ignore[no-any-return]
    return decided(key, evaluated(flag, snapshot, distinct_id, groups, NO_PERSON, group))

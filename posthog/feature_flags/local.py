"""Local answers from a definitions snapshot: one flag, one flag's payload, or every flag.

The resolution layer between evaluation (:mod:`.evaluation`) and the resolvers: each function
takes a snapshot (or None) and a context and says what it can decide without the server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Optional

from .definitions import FlagDefinitions
from .evaluation import FlagValue, Inconclusive, lookup_payload
from .flag_paths import NO_PERSON, UNDECIDED, evaluated, group_flag, newer_person
from .properties import Undecided
from .snapshot_code import all_flags_of
from .whole_code import whole_of

__all__ = ["local_flag", "local_flags", "local_payload"]

log = logging.getLogger("posthog")

_NO_GROUPS: Final[Mapping[str, dict[str, Any]]] = MappingProxyType({})
_RAISED: Final = object()  # 3.25.0's rules raised: the full path decides


def _decided(key: str, result: Any) -> Optional[FlagValue]:
    if isinstance(result, Inconclusive):
        log.debug("flag %s could not be decided locally: %s", key, result.reason)
        return None
    value: FlagValue = result
    return value


def local_flag(
    snapshot: Optional[FlagDefinitions],
    key: str,
    distinct_id: Any,
    groups: Mapping[str, Any],
    person_properties: Optional[Mapping[str, Any]],
    group_properties: Optional[Mapping[str, Mapping[str, Any]]],
) -> Optional[FlagValue]:
    """One flag decided from ``snapshot``, or None when it cannot be decided locally."""
    if snapshot is None:
        return None
    flag = snapshot.flag_table.get(key)
    if flag is None:
        return None
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
            cohorts = snapshot.cohort_table
            try:
                matched = (flag.whole or whole_of(flag, cohorts))(distinct_id, person, cohorts)
            except Exception:
                matched = _RAISED
            if matched is True or matched is False or type(matched) is str:
                return matched
            if matched is None:  # neither pass decides
                log.debug("flag %s could not be decided locally", key)
                return None
            if type(matched) is Undecided:
                # 3.25.0 gives up: 7.x's pass, without evaluating the flag the 3.x way again
                newer = newer_person(flag, snapshot, distinct_id, groups, person, _NO_GROUPS)
                if newer is None and log.isEnabledFor(logging.DEBUG):  # (.value is dear)
                    log.debug("flag %s could not be decided locally: %s", key, matched.value)
                return newer
        return _decided(key, evaluated(flag, snapshot, distinct_id, groups, person, _NO_GROUPS))
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
    return _decided(key, evaluated(flag, snapshot, distinct_id, groups, NO_PERSON, group))


def local_payload(
    snapshot: Optional[FlagDefinitions],
    key: str,
    distinct_id: Any,
    match_value: Optional[FlagValue],
    groups: Mapping[str, Any],
    person: dict[str, Any],
    group: dict[str, dict[str, Any]],
) -> tuple[Optional[FlagValue], Any, bool]:
    """``(value, payload, decided locally)`` from ``snapshot`` (value None: undecided).

    ``person`` and ``group`` are augmented properties (:func:`augment_properties`).
    """
    flag = snapshot.by_key.get(key) if snapshot is not None else None
    value = match_value
    if value is None and flag is not None:
        assert snapshot is not None
        value = _decided(key, evaluated(flag, snapshot, distinct_id, groups, person, group))
    if value is not None and flag is not None:
        # Decided locally: the payload (possibly none) is known without asking the server.
        return value, lookup_payload(flag, value), True
    return value, None, False


def local_flags(
    snapshot: Optional[FlagDefinitions],
    distinct_id: Any,
    groups: Mapping[str, Any],
    person: dict[str, Any],
    group: dict[str, dict[str, Any]],
) -> tuple[dict[str, FlagValue], dict[str, Any], Optional[list[str]]]:
    """``(values, payloads, keys to ask the server for)`` from ``snapshot``.

    The keys are None when the server must be asked for everything (no definitions).
    """
    values: dict[str, FlagValue] = {}
    payloads: dict[str, Any] = {}
    if snapshot is None or not snapshot.flags:
        return values, payloads, None
    undecided: list[str] = []
    evaluate_all = snapshot.all_flags or all_flags_of(snapshot)
    evaluate_all(distinct_id, groups, person, group, values, payloads, undecided)
    return values, payloads, undecided

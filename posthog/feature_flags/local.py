"""Local answers from a definitions snapshot: one flag, one flag's payload, or every flag.

The resolution layer between evaluation (:mod:`.evaluation`) and the resolvers: each function
takes a snapshot (or None) and a context and says what it can decide without the server.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Optional

from .definitions import FlagDefinitions
from .evaluation import FlagValue, lookup_payload
from .flag_paths import decided, evaluated, walk_flags
from .single_code import single_of
from .snapshot_code import all_flags_of

__all__ = ["local_flag", "local_flags", "local_payload"]


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
    single = flag.single or single_of(flag, snapshot)
    return single(distinct_id, groups, person_properties, group_properties)  # type: ignore[no-any-return]


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
        value = decided(key, evaluated(flag, snapshot, distinct_id, groups, person, group))
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
    evaluate_all = snapshot.all_flags
    if evaluate_all is None:
        if _on_event_loop():
            # Writing every flag out at once would be one long step on the loop (tens of ms for
            # 50 flags, the first time in a process): the loop compiles each flag as it meets it.
            walk_flags(snapshot, distinct_id, groups, person, group, values, payloads, undecided)
            return values, payloads, undecided
        evaluate_all = all_flags_of(snapshot)
    evaluate_all(distinct_id, groups, person, group, values, payloads, undecided)
    return values, payloads, undecided


def _on_event_loop() -> bool:
    """Whether this thread is running an asyncio event loop (asyncio is not imported for it)."""
    aio = sys.modules.get("asyncio")
    return aio is not None and aio._get_running_loop() is not None

"""Capture enrichment: the ``$feature/<key>`` properties of locally decided flags, cheaply.

3.x evaluates every flag on every capture (api.md §5 step 4). Here each snapshot remembers which
flags can be decided with only the automatic ``distinct_id``, and each distinct id's result is
kept for the life of the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Optional

from ..types import FlagValue
from .definitions import CohortFilter, Condition, FlagDefinition, FlagDefinitions, PropertyFilter
from .evaluation import Inconclusive, augment_properties, evaluate_flag
from .properties import Undecided, match_leaves

__all__ = ["EnrichmentCache", "enrichable_flags", "flag_properties"]

_CACHE_SIZE: Final = 10_000


class EnrichmentCache:
    """Flag properties per (distinct id, groups) for the current snapshot; bounded."""

    def __init__(self) -> None:
        self._state: tuple[Optional[FlagDefinitions], dict[Any, dict[str, Any]]] = (None, {})

    def properties(
        self, snapshot: FlagDefinitions, distinct_id: Any, groups: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The enrichment properties for this caller (a new dict each time)."""
        cached_snapshot, cache = self._state
        if cached_snapshot is not snapshot:
            cache = {}
            self._state = (snapshot, cache)  # one assignment: readers see a whole pair
        key = (distinct_id, tuple(sorted(groups.items())) if groups else None)
        hashable = True
        try:
            found = cache.get(key)
        except TypeError:  # unhashable group keys: no caching
            found = None
            hashable = False
        if found is None:
            found = local_flag_properties(snapshot, distinct_id, groups)
            if hashable:
                if len(cache) >= _CACHE_SIZE:
                    try:
                        del cache[next(iter(cache))]
                    except (KeyError, StopIteration, RuntimeError):  # raced another thread
                        pass
                cache[key] = found
        return dict(found)


def local_flag_properties(
    snapshot: FlagDefinitions, distinct_id: Any, groups: Mapping[str, Any]
) -> dict[str, Any]:
    """Evaluate the enrichable flags with only the automatic properties."""
    person, group = augment_properties(distinct_id, groups, None, None)
    values: dict[str, FlagValue] = {}
    for flag in enrichable_flags(snapshot):
        result = evaluate_flag(flag, snapshot, distinct_id, groups, person, group)
        if not isinstance(result, Inconclusive):
            values[flag.key] = result
    return flag_properties(values)


_enrichable: tuple[Optional[FlagDefinitions], tuple[FlagDefinition, ...]] = (None, ())


def enrichable_flags(snapshot: FlagDefinitions) -> tuple[FlagDefinition, ...]:
    """The flags a capture can possibly decide with only ``distinct_id`` known (once per snapshot).

    A person flag each of whose conditions starts with a filter on another property is always
    inconclusive without the caller's properties (flags.md §4: a missing key is inconclusive), so
    evaluating it on every capture would only cost time: 3.x drops it from the event the same way.
    """
    global _enrichable
    cached_snapshot, flags = _enrichable
    if cached_snapshot is snapshot:
        return flags
    flags = tuple(flag for flag in snapshot.flags if not _needs_caller_properties(flag, snapshot))
    _enrichable = (snapshot, flags)
    return flags


def _needs_caller_properties(flag: FlagDefinition, snapshot: FlagDefinitions) -> bool:
    if flag.group_type_key is not None or not flag.active or flag.is_malformed:
        return False  # group flags, inactive and malformed flags are cheap or must be evaluated
    if flag.ensure_experience_continuity:
        return True
    if not flag.conditions:
        return False
    return all(_undecidable_first_filter(condition, snapshot) for condition in flag.conditions)


_PROBE: Final = {"distinct_id": object()}


def _undecidable_first_filter(condition: Condition, snapshot: FlagDefinitions) -> bool:
    """Whether the condition's first filter is inconclusive whenever only ``distinct_id`` is known."""
    first = condition.properties[0] if condition.properties else None
    if isinstance(first, PropertyFilter):
        return bool(first.key != "distinct_id")  # any other key is missing: inconclusive (flags.md §4)
    if isinstance(first, CohortFilter) and not _cohort_mentions_distinct_id(first.cohort_id, snapshot, set()):
        # Then its answer is the same for every distinct id: ask once.
        try:
            return isinstance(match_leaves((first,), _PROBE, snapshot.cohorts), Undecided)
        except Exception:  # malformed cohort: let the real evaluation report it
            return False
    return False


def _cohort_mentions_distinct_id(cohort_id: str, snapshot: FlagDefinitions, seen: set[str]) -> bool:
    if cohort_id in seen:
        return False
    seen.add(cohort_id)
    stack = [snapshot.cohorts.get(cohort_id)]
    while stack:
        group = stack.pop()
        if group is None:
            continue
        stack.extend(group.groups)
        for leaf in group.leaves:
            if isinstance(leaf, PropertyFilter) and leaf.key == "distinct_id":
                return True
            if isinstance(leaf, CohortFilter) and _cohort_mentions_distinct_id(
                leaf.cohort_id, snapshot, seen
            ):
                return True
    return False


def flag_properties(values: Mapping[str, FlagValue]) -> dict[str, Any]:
    props: dict[str, Any] = {f"$feature/{key}": value for key, value in values.items()}
    active = [key for key, value in values.items() if value is not False]
    if active:
        props["$active_feature_flags"] = active
    return props

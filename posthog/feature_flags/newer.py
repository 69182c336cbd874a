"""The 7.x pass: decide a flag that 3.25.0's local evaluation leaves inconclusive, as upstream 7.x does.

Run only when :func:`.evaluation.evaluate_flag` is inconclusive (the drop-in contract: where
3.25.0 decides, its answer stands). What 7.x decides locally and 3.25.0 does not:

- the semver operators, ``starts_with`` / ``ends_with`` and their negations (:mod:`.semver`);
- ``is_not_set`` on a property that is given (it is set: no match);
- flag dependencies (``"type": "flag"``, ``flag_evaluates_to``, with the server's
  ``dependency_chain``), each flag of the chain evaluated once per evaluation;
- conditions whose filters include an undecided one: 7.x checks every filter, so a later filter
  that fails makes the condition fail; only when none fails is the condition undecided;
- conditions in the order received (3.25.0 moves variant overrides first).

Whatever 7.x cannot decide stays undecided (``None``): the server is asked, or the flag is left
out. Unlike 7.91.1, a chain flag that is missing or undecided makes every filter that needs it
undecided, whatever the order of the filters (7.91.1 remembers it as "no value" and a later
filter skips it: spec flags.md, "Quirk, not to copy").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Optional, Union

from .definitions import FlagDefinition, FlagDefinitions
from .filters import (
    CohortFilter,
    MalformedDefinitionError,
    Operator,
    PropertyFilter,
    PropertyGroup,
)
from .hashing import hash_bucket
from .newer_cohorts import unusable
from .newer_ops import match_property
from .newer_plan import nothing_given, plan_for
from .properties import CohortCycleError
from .variants import select_variant

__all__ = ["evaluate_newer"]

FlagValue = Union[bool, str]


class _GiveUp(Exception):
    """7.x leaves the whole flag undecided: a dependency chain leads back to a flag being
    evaluated, or a cohort is unknown (static, or not sent)."""


class _Undecided:
    """7.x cannot decide this locally."""

    __slots__ = ()


UNDECIDED: Final = _Undecided()
#: undecided because a cohort is unknown: 7.x then gives up on the whole flag, unless another
#: filter of the condition fails
_UNKNOWN_COHORT: Final = _Undecided()
_IN_PROGRESS: Final = object()  # a flag being evaluated (a dependency cycle the chain missed)
_NO_PROPERTIES: Final[Mapping[str, Any]] = {}
Match = Union[bool, _Undecided]


def _as_match(answer: Optional[bool]) -> Match:
    return UNDECIDED if answer is None else answer


class _Evaluation:
    """One evaluation: the person, the groups, and the chain flags' values met so far."""

    __slots__ = ("bucketing", "definitions", "group_properties", "groups", "memo", "properties")

    def __init__(
        self,
        definitions: FlagDefinitions,
        distinct_id: object,
        groups: Mapping[str, object],
        person: Mapping[str, Any],
        group_properties: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.definitions = definitions
        self.groups = groups
        self.group_properties = group_properties
        self.memo: dict[Any, object] = {}
        #: what person flags are evaluated for: the person, or, for the dependencies of a group
        #: flag, that group (its key and its properties), as 7.x does
        self.bucketing: object = distinct_id
        self.properties: Mapping[str, Any] = person

    def flag_value(self, key: Any) -> object:
        """A chain flag's value (``UNDECIDED`` when it cannot be told), once per evaluation; a
        flag whose chain leads back to a flag being evaluated leaves the whole flag undecided."""
        known = self.memo.get(key, None)
        if known is _IN_PROGRESS:
            raise _GiveUp(key)
        if known is not None:
            return known
        flag = self.definitions.flag_table.get(key) if isinstance(key, str) else None
        if flag is None:
            value: object = UNDECIDED  # deleted, or never sent
        else:
            self.memo[key] = _IN_PROGRESS
            value = self.evaluate(flag)
        self.memo[key] = value
        return value

    def evaluate(self, flag: FlagDefinition) -> object:
        """``flag``'s value by 7.x's rules, or ``UNDECIDED``."""
        if not flag.active:
            return False  # 7.x checks this before experience continuity (3.25.0 after)
        if flag.ensure_experience_continuity:
            return UNDECIDED
        try:
            if flag.error is not None:
                raise MalformedDefinitionError(flag.error)
            cohorts = self.definitions.cohort_table
            if flag.group_type_key is None:
                return self.conditions(flag, self.bucketing, self.properties, cohorts)
            name = self.definitions.group_type_mapping.get(flag.group_type_key)
            if name is None:
                return UNDECIDED
            if name not in self.groups:
                return False
            found = self.group_properties.get(name)
            properties = _NO_PROPERTIES if found is None else found
            outer = self.bucketing, self.properties
            self.bucketing, self.properties = self.groups[name], properties
            try:
                return self.conditions(flag, self.groups[name], properties, cohorts)
            finally:
                self.bucketing, self.properties = outer
        except _GiveUp:
            raise
        except (MalformedDefinitionError, CohortCycleError, RecursionError):
            return UNDECIDED
        except Exception:  # e.g. comparing incomparable values: undecided, as 3.25.0's pass
            return UNDECIDED

    def conditions(
        self,
        flag: FlagDefinition,
        bucketing_id: object,
        properties: Mapping[str, Any],
        cohorts: Optional[Mapping[str, PropertyGroup]],
    ) -> object:
        if flag.conditions_error is not None and not flag.newer_only_conditions:
            raise MalformedDefinitionError(flag.conditions_error)
        undecided = False
        for condition in flag.conditions_received or flag.conditions:
            if condition.error is not None:
                raise MalformedDefinitionError(condition.error)
            matched = self.leaves(condition.properties, properties, cohorts)
            if matched is not True:
                undecided = undecided or matched is UNDECIDED
                continue
            threshold = condition.threshold
            if threshold is not None:
                if threshold < 1.0 and hash_bucket(flag.key, bucketing_id) > threshold:
                    continue
            elif condition.rollout_error is not None:
                raise MalformedDefinitionError(condition.rollout_error)
            if condition.variant_override is not None:
                return condition.variant_override
            if not flag.variants and flag.variants_error is None:
                return True
            return select_variant(flag, bucketing_id) or True
        return UNDECIDED if undecided else False

    def leaves(
        self,
        leaves: tuple[Any, ...],
        properties: Mapping[str, Any],
        cohorts: Optional[Mapping[str, PropertyGroup]],
    ) -> Match:
        """Every filter is checked: one that fails fails the condition, else one undecided leaves it
        undecided."""
        undecided: object = None
        for leaf in leaves:
            if type(leaf) is PropertyFilter and not leaf.is_flag:
                # _property inlined for its commonest answer: a property that is not given
                result = _as_match(match_property(leaf, properties)) if leaf.key in properties else UNDECIDED
            else:
                result = self.leaf(leaf, properties, cohorts, ())
            if result is False:
                return False
            if result is not True and undecided is None:
                # an unknown cohort gives up on the flag, unless a filter before it was undecided
                undecided = result
        if undecided is _UNKNOWN_COHORT:
            raise _GiveUp("a condition needs a cohort that is not in the definitions")
        return UNDECIDED if undecided is not None else True

    def leaf(
        self,
        leaf: Any,
        properties: Mapping[str, Any],
        cohorts: Optional[Mapping[str, PropertyGroup]],
        path: tuple[str, ...],
    ) -> Match:
        if type(leaf) is PropertyFilter:
            if leaf.is_flag:
                return self.dependency(leaf)
            return _as_match(match_property(leaf, properties))
        if type(leaf) is CohortFilter:
            if cohorts is None:
                return UNDECIDED
            group = cohorts.get(leaf.cohort_id)
            if group is None or unusable(group, cohorts):
                return _UNKNOWN_COHORT  # 7.x gives up: a cohort it does not have, or cannot read
            if leaf.cohort_id in path:
                raise CohortCycleError(f"cohort {leaf.cohort_id} refers to itself")
            return self.group(group, properties, cohorts, (*path, leaf.cohort_id))
        if getattr(leaf, "unknown_operator", False):
            return UNDECIDED  # 7.x gives up on the filter before it reads its (unusable) key
        raise MalformedDefinitionError(getattr(leaf, "reason", "malformed filter"))

    def group(
        self,
        group: PropertyGroup,
        properties: Mapping[str, Any],
        cohorts: Optional[Mapping[str, PropertyGroup]],
        path: tuple[str, ...],
    ) -> Match:
        """A cohort's property group (flags.md §5), with 7.x's operators and dependencies."""
        if group.error is not None:
            raise MalformedDefinitionError(group.error)
        if group.kind_error:
            return UNDECIDED  # 7.x reads only "AND" and "OR"
        if not group.groups and not group.leaves:
            return True
        is_and = group.is_and
        undecided = False
        if group.nested:
            for child in group.groups:
                result = self.group(child, properties, cohorts, path)
                if result is _UNKNOWN_COHORT:
                    return result
                if result is not True and result is not False:
                    undecided = True
                elif result is True and not is_and:
                    return True
                elif result is False and is_and:
                    return False
        else:
            for leaf in group.leaves:
                result = self.leaf(leaf, properties, cohorts, path)
                if result is _UNKNOWN_COHORT:
                    return result  # up to the condition, as 7.x's error would go
                if result is not True and result is not False:
                    undecided = True
                    continue
                holds = result is not leaf.negation
                if is_and and not holds:
                    return False
                if not is_and and holds:
                    return True
        return UNDECIDED if undecided else is_and

    def dependency(self, leaf: PropertyFilter) -> Match:
        """A ``flag_evaluates_to`` filter: every flag of its chain first, then the match."""
        wanted = leaf.value
        if leaf.operator is not Operator.FLAG_EVALUATES_TO or not leaf.key or wanted is None:
            return False  # malformed: does not match
        chain = leaf.chain
        if not chain:
            return UNDECIDED  # no chain, or an empty one (a cycle)
        for key in chain:
            if self.flag_value(key) is UNDECIDED:
                return UNDECIDED
        value = self.flag_value(leaf.key)
        if value is UNDECIDED:
            return UNDECIDED
        return _dependency_matches(wanted, value)


def _dependency_matches(wanted: object, value: object) -> bool:
    if wanted is True:
        return value is not False and value is not None
    if wanted is False:
        return value is False
    if isinstance(wanted, str):
        return isinstance(value, str) and value == wanted
    return False


def evaluate_newer(
    flag: FlagDefinition,
    definitions: FlagDefinitions,
    distinct_id: object,
    groups: Mapping[str, object],
    person: Mapping[str, Any],
    group_properties: Mapping[str, Mapping[str, Any]],
) -> Optional[FlagValue]:
    """``flag``'s value as 7.x decides it locally, or None; the properties are augmented."""
    if flag.active:
        if flag.error is not None or (flag.conditions_error is not None and not flag.newer_only_conditions):
            return None  # malformed: 7.x cannot evaluate it either
        plan = plan_for(flag, definitions.cohort_table)
        bucketing: object = distinct_id
        if flag.group_type_key is None:
            own: Optional[Mapping[str, Any]] = person
        else:
            name = definitions.group_type_mapping.get(flag.group_type_key)
            if name is None:
                return None  # an unknown group type
            own = None
            if name in groups:
                found = group_properties.get(name)
                own, bucketing = (_NO_PROPERTIES if found is None else found), groups[name]
        if own is not None:
            run = plan.run
            if run is not None and not flag.ensure_experience_continuity:
                try:  # nothing_given, then the plan
                    return run(bucketing, own)  # type: ignore[no-any-return]
                except Exception:  # e.g. comparing incomparable values: undecided, as below
                    return None
            if nothing_given(plan, own):
                return None  # no filter can be decided: 7.x cannot tell either
    evaluation = _Evaluation(definitions, distinct_id, groups, person, group_properties)
    evaluation.memo[flag.key] = _IN_PROGRESS
    try:
        value = evaluation.evaluate(flag)
    except _GiveUp:
        return None
    return None if value is UNDECIDED else value  # type: ignore[return-value]

"""The 7.x pass for the common flag, compiled once per definitions snapshot.

A flag whose filters are all person or group property filters (no flag dependency, no cohort,
nothing malformed) is decided by a plan: per condition, in the order received, the filters'
keys with their compiled tests (:func:`compile_leaf`, on :mod:`.newer_ops`' readings), the
rollout and the variant override. Running a plan is what :class:`.newer._Evaluation` does for
such a flag, without its general machinery. Every flag also gets :func:`nothing_given`'s
per-condition summary: whether 7.x surely leaves it undecided, by the keys given alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Optional, Union

from .definitions import FlagDefinition
from .filters import CohortFilter, MalformedFilter, Operator, PropertyFilter, PropertyGroup
from .hashing import hash_bucket
from .newer_cohorts import NotBuilt, cohort_test, unusable
from .newer_leaf import LeafTest, compile_leaf, undecided_test
from .plan_code import GIVE_UP, WHOLE, PlanRun, compile_run, give_up
from .variants import select_variant

if TYPE_CHECKING:
    from typing_extensions import TypeGuard

__all__ = ["LeafTest", "Plan", "compile_leaf", "nothing_given", "plan_for", "run_plan"]

_Leaves = tuple[tuple[Any, LeafTest], ...]
#: per condition: (tests by key, threshold, variant override)
_Conditions = tuple[tuple[_Leaves, Optional[float], object], ...]
#: per condition: (keys of plain filters with a known operator, some operator unknown, every
#: filter a plain property filter); None when some condition can match without properties
_Summary = Optional[tuple[tuple[tuple[Any, ...], bool, bool], ...]]


class Plan:
    """A flag prepared for the 7.x pass; ``conditions`` is None when it needs the general pass."""

    __slots__ = ("conditions", "run", "summary")

    def __init__(self, conditions: Optional[_Conditions], summary: _Summary, run: Optional[PlanRun]) -> None:
        self.conditions = conditions
        self.summary = summary
        #: ``nothing_given`` then ``run_plan``, compiled (:func:`.plan_code.compile_run`), when
        #: ``conditions`` are given
        self.run = run


def _plain(leaf: object) -> TypeGuard[PropertyFilter]:
    return type(leaf) is PropertyFilter and not leaf.is_flag


def _summary(flag: FlagDefinition) -> _Summary:
    conditions = flag.conditions_received
    if not conditions:
        return None
    out = []
    for condition in conditions:
        if not condition.properties or condition.error is not None:
            return None
        plain = [leaf for leaf in condition.properties if _plain(leaf)]
        keys = tuple(leaf.key for leaf in plain if leaf.operator is not Operator.UNKNOWN)
        unknown = any(leaf.operator is Operator.UNKNOWN for leaf in plain)
        out.append((keys, unknown, len(plain) == len(condition.properties)))
    return tuple(out)


def _conditions(
    flag: FlagDefinition, cohorts: Optional[Mapping[str, PropertyGroup]]
) -> Optional[_Conditions]:
    if flag.error is not None or flag.conditions_error is not None:
        return None  # (a condition that is not an object included: the general pass)
    out = []
    for condition in flag.conditions_received or flag.conditions:
        if condition.error is not None or condition.rollout_error is not None:
            return None
        try:
            leaves = tuple(_leaf(leaf, cohorts) for leaf in condition.properties)
        except NotBuilt:
            return None  # a dependency, an unusable cohort, a malformed filter: the general pass
        out.append((leaves, condition.threshold, condition.variant_override))
    return tuple(out)


def _leaf(leaf: object, cohorts: Optional[Mapping[str, PropertyGroup]]) -> tuple[Any, LeafTest]:
    """A condition's filter as ``(key, test of its value)``, or ``(WHOLE, test of the properties)``."""
    if _plain(leaf):
        return leaf.key, compile_leaf(leaf)
    if type(leaf) is CohortFilter and cohorts is not None:
        group = cohorts.get(leaf.cohort_id)
        if group is None or unusable(group, cohorts):
            return WHOLE, give_up
        return WHOLE, cohort_test(leaf.cohort_id, cohorts)
    if type(leaf) is MalformedFilter and leaf.unknown_operator:
        return WHOLE, undecided_test  # 7.x gives up on the filter before it reads its (unusable) key
    raise NotBuilt("a flag dependency or a malformed filter")


def plan_for(flag: FlagDefinition, cohorts: Optional[Mapping[str, PropertyGroup]] = None) -> Plan:
    """``flag``'s plan, made on first use and kept on the (immutable) definition; ``cohorts``
    are its snapshot's (without them, a flag with a cohort filter gets no plan)."""
    plan: Optional[Plan] = flag.newer_plan  # type: ignore[assignment]
    if plan is None:
        run: Optional[PlanRun] = None
        summary = _summary(flag)
        try:
            conditions = _conditions(flag, cohorts)
            if conditions is not None:
                run = compile_run(conditions, flag, summary)
        except Exception:  # whatever cannot be prepared is left to the general pass
            conditions = None
        if conditions is not None and run is None:
            run = partial(_run_plan_of, conditions, flag, summary)
        plan = Plan(conditions, summary, run)
        object.__setattr__(flag, "newer_plan", plan)  # a race makes the same plan twice
    return plan


def nothing_given(plan: Plan, properties: Mapping[str, Any]) -> bool:
    """Whether 7.x surely leaves the flag undecided, by its filters' keys alone: a filter on a
    property that is not given, or with an operator nobody knows, is undecided whatever the
    values. When every condition holds one, no condition can match; when one condition holds
    nothing else, it cannot fail either (the common case of a flag 3.25.0 cannot decide)."""
    summary = plan.summary
    return summary is not None and _surely_undecided(summary, properties)


def _surely_undecided(summary: Any, properties: Mapping[str, Any]) -> bool:
    stays_undecided = False
    for keys, unknown, every_plain in summary:
        missing = 0
        for key in keys:
            if key not in properties:
                missing += 1
        if not (unknown or missing):
            return False  # this condition might match
        stays_undecided = stays_undecided or (every_plain and missing == len(keys))
    return stays_undecided


UNDECIDED: Final = None
Outcome = Union[bool, str, object, None]


def _run_plan_of(
    conditions: _Conditions,
    flag: FlagDefinition,
    summary: _Summary,
    bucketing_id: object,
    properties: Mapping[str, Any],
) -> Outcome:
    """What a compiled plan answers (for a plan too large to compile)."""
    if summary is not None and _surely_undecided(summary, properties):
        return UNDECIDED
    return run_plan(conditions, flag, bucketing_id, properties)


def run_plan(
    conditions: _Conditions, flag: FlagDefinition, bucketing_id: object, properties: Mapping[str, Any]
) -> Outcome:
    """The flag's value by 7.x's rules, or None when 7.x cannot tell; may raise (the caller
    leaves the flag undecided then, as 7.x does)."""
    undecided = False
    for leaves, threshold, override in conditions:
        state: object = True
        for key, test in leaves:
            if key is WHOLE:
                result = test(properties)
            else:
                result = test(properties[key]) if key in properties else None
            if result is False:
                state = False
                break
            if result is not True and state is True:
                state = result  # undecided (the first reason counts), unless a later filter fails
        if state is GIVE_UP:
            return UNDECIDED  # 7.x gives up on the whole flag
        if state is not True:
            undecided = undecided or state is None
            continue
        if threshold is not None and threshold < 1.0 and hash_bucket(flag.key, bucketing_id) > threshold:
            continue
        if override is not None:
            return override
        if not flag.variants and flag.variants_error is None:
            return True
        return select_variant(flag, bucketing_id) or True  # raises on a malformed variant table
    return UNDECIDED if undecided else False

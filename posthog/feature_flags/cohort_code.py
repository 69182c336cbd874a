"""3.25.0's cohort matching written out per cohort: :func:`.properties.match_cohort` without the walk.

:func:`.properties.match_property_group` walks a cohort's groups and filters as data, reading
each filter's key, operator and negation on every call. :func:`cohort_test` writes one function
per property group instead (of the properties: True, False or why it is undecided), with the
same checks in the same order, the same operator functions, the same negation and AND/OR
rules; a cohort filter inside a cohort calls that cohort's function.

A cohort that refers to itself (at any depth) is not written out: the walk raises
``CohortCycleError`` where 3.25.0 recurses. Neither is one nested deeper than ``_MAX_DEPTH``.
The functions are kept per cohort table (one snapshot's), bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Optional

from ._codegen import fails_when, make_function
from .definitions import CohortFilter, MalformedDefinitionError, Operator, PropertyFilter, PropertyGroup
from .properties import MATCHERS, Undecided

__all__ = ["CohortTest", "cohort_test"]

#: the properties → what :func:`.properties.match_cohort` answers for the cohort
CohortTest = Callable[[Mapping[str, Any]], Any]

_MAX_DEPTH: Final = 16
_BASE: Final[dict[str, Any]] = {
    "A": object(),
    "MISSING": Undecided.MISSING_PROPERTY,
    "NOT_SET": Undecided.IS_NOT_SET,
    "UNKNOWN": Undecided.UNKNOWN_COHORT,
    "ME": MalformedDefinitionError,
}
# (id(table), cohort id) → (table, its test or None); cleared when full
_MADE: dict[tuple[int, str], tuple[Mapping[str, PropertyGroup], Optional[CohortTest]]] = {}
_MADE_LIMIT: Final = 4096


class _NotWritten(Exception):
    """The cohort reaches a cycle, or nests too deep: the walk decides it."""


def cohort_test(cohort_id: str, cohorts: Mapping[str, PropertyGroup]) -> Optional[CohortTest]:
    """The cohort's test for the properties, written once per cohort table; None when it is not
    written out (see the module's docstring)."""
    made = _MADE.get((id(cohorts), cohort_id))
    if made is not None and made[0] is cohorts:
        return made[1]
    try:
        test: Optional[CohortTest] = _cohort(cohort_id, cohorts, ())
    except _NotWritten:
        test = None
    if len(_MADE) >= _MADE_LIMIT:
        _MADE.clear()
    _MADE[(id(cohorts), cohort_id)] = (cohorts, test)
    return test


def _cohort(cohort_id: str, cohorts: Mapping[str, PropertyGroup], path: tuple[str, ...]) -> CohortTest:
    if cohort_id in path or len(path) >= _MAX_DEPTH:
        raise _NotWritten(cohort_id)
    group = cohorts.get(cohort_id)
    if group is None:
        return _unknown
    return _group(group, cohorts, (*path, cohort_id))


def _unknown(properties: Mapping[str, Any]) -> Any:
    return Undecided.UNKNOWN_COHORT


def _group(group: PropertyGroup, cohorts: Mapping[str, PropertyGroup], path: tuple[str, ...]) -> CohortTest:
    """One property group (``match_property_group``) as a function of the properties."""
    names: dict[str, Any] = dict(_BASE)
    lines = ["def group(p):"]
    if group.error is not None:
        names["ERROR"] = group.error
        lines.append("    raise ME(ERROR)")
    elif not group.groups and not group.leaves:
        lines.append("    return True")  # an empty or null group matches everyone
    else:
        lines.append("    und = None")
        if group.nested:
            for k, child in enumerate(group.groups):
                names[f"G{k}"] = _group(child, cohorts, path)
                lines += [f"    r = G{k}(p)", *_combined(group.is_and, False)]
        else:
            for k, leaf in enumerate(group.leaves):
                lines += _leaf(str(k), leaf, cohorts, path, names)
                lines += _combined(group.is_and, bool(leaf.negation))
        names["ALL"] = group.is_and
        lines.append("    return ALL if und is None else und")
    made: CohortTest = make_function(lines, names, "cohort group")
    return made


def _leaf(
    k: str, leaf: object, cohorts: Mapping[str, PropertyGroup], path: tuple[str, ...], names: dict[str, Any]
) -> list[str]:
    """The lines that set ``r`` to the leaf's answer (as ``match_property_group`` reads it)."""
    if type(leaf) is PropertyFilter:
        names[f"K{k}"], names[f"L{k}"], names[f"M{k}"] = leaf.key, leaf, MATCHERS[leaf.operator]
        lines = [f"    v = p.get(K{k}, A)", "    if v is A:", "        r = MISSING"]
        if leaf.operator is Operator.IS_NOT_SET:
            return [*lines, "    else:", "        r = NOT_SET"]
        if leaf.operator is not Operator.IS_NOT:
            lines += ["    elif v is None:", "        r = False"]
        fails = fails_when(f"x{k}", leaf, names)  # written out when it is one of the commonest
        return [*lines, "    else:", f"        r = not ({fails})" if fails else f"        r = M{k}(L{k}, v)"]
    if type(leaf) is CohortFilter:
        names[f"C{k}"] = _cohort(leaf.cohort_id, cohorts, path)
        return [f"    r = C{k}(p)"]
    names[f"E{k}"] = getattr(leaf, "reason", "malformed filter")
    return [f"    raise ME(E{k})"]


def _combined(is_and: bool, negated: bool) -> list[str]:
    """``r`` into the group's answer: AND fails when a leaf does not hold, OR succeeds when one
    holds (a negated leaf holds when it does not match); the first undecided answer is kept."""
    fails, succeeds = ("True", "False") if negated else ("False", "True")
    decide = [f"        if r is {fails}:", "            return False"] if is_and else []
    if not is_and:
        decide = [f"        if r is {succeeds}:", "            return True"]
    return ["    if r is True or r is False:", *decide, "    elif und is None:", "        und = r"]

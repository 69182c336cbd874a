"""A cohort's 7.x answer as a function of the properties, built once (the 7.x pass's cohorts).

:func:`cohort_test` turns a cohort reference into a function of the properties that answers as
:meth:`.newer._Evaluation.leaf` does for it (True, False, or None when undecided): nested AND /
OR groups, negated filters, cohorts inside cohorts, 7.x's readings of each filter
(:func:`.newer_leaf.compile_leaf`). What 7.x answers with more than a value is not built, and
the flag keeps the general pass: a cohort that is unknown or unusable (:func:`unusable`: 7.x
gives up on the whole flag), a cycle, a flag dependency, a malformed group or filter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional

from .filters import CohortFilter, MalformedFilter, PropertyFilter, PropertyGroup
from .newer_leaf import compile_leaf

__all__ = ["NotBuilt", "PropertiesTest", "cohort_test", "unusable"]

#: the properties → True, False, or None (undecided)
PropertiesTest = Callable[[Mapping[str, Any]], Optional[bool]]


class NotBuilt(Exception):
    """The cohort needs the general pass (7.x answers it with more than a value)."""


def unusable(group: PropertyGroup, cohorts: Mapping[str, PropertyGroup]) -> bool:
    """Whether 7.x gives up on a cohort before it looks at any property: the cohort, or one it
    refers to at any depth, has a group that is neither AND nor OR, or refers to a cohort that
    is not in the definitions (7.x resolves every reference first)."""
    pending = [group]
    seen: set[str] = set()
    while pending:
        current = pending.pop()
        if current.kind_error:
            return True
        pending.extend(current.groups)
        for leaf in current.leaves:
            if type(leaf) is CohortFilter and leaf.cohort_id not in seen:
                seen.add(leaf.cohort_id)
                referred = cohorts.get(leaf.cohort_id)
                if referred is None:
                    return True
                pending.append(referred)
    return False


def cohort_test(
    cohort_id: str, cohorts: Mapping[str, PropertyGroup], path: tuple[str, ...] = ()
) -> PropertiesTest:
    """The cohort's answer for given properties; raises :class:`NotBuilt`."""
    group = cohorts.get(cohort_id)
    if group is None or cohort_id in path or unusable(group, cohorts):
        raise NotBuilt(cohort_id)
    return _group_test(group, cohorts, (*path, cohort_id))


def _always(value: Optional[bool]) -> PropertiesTest:
    return lambda properties: value


def _group_test(
    group: PropertyGroup, cohorts: Mapping[str, PropertyGroup], path: tuple[str, ...]
) -> PropertiesTest:
    if group.error is not None or group.kind_error:
        raise NotBuilt("a malformed group")
    if not group.groups and not group.leaves:
        return _always(True)  # an empty group matches everyone
    is_and = group.is_and
    if group.nested:
        children = tuple(_group_test(child, cohorts, path) for child in group.groups)

        def nested(properties: Mapping[str, Any]) -> Optional[bool]:
            undecided = False
            for child in children:
                result = child(properties)
                if result is None:
                    undecided = True
                elif result is not is_and:  # True in an OR, False in an AND: decides
                    return result
            return None if undecided else is_and

        return nested
    tests = tuple((_leaf_test(leaf, cohorts, path), leaf.negation) for leaf in group.leaves)

    def leaves(properties: Mapping[str, Any]) -> Optional[bool]:
        undecided = False
        for test, negation in tests:
            result = test(properties)
            if result is not True and result is not False:
                undecided = True
                continue
            if (result is not negation) is not is_and:  # holds in an OR, fails in an AND
                return not is_and
        return None if undecided else is_and

    return leaves


def _leaf_test(leaf: Any, cohorts: Mapping[str, PropertyGroup], path: tuple[str, ...]) -> PropertiesTest:
    if type(leaf) is PropertyFilter and not leaf.is_flag:
        return property_test(leaf)
    if type(leaf) is CohortFilter:
        return cohort_test(leaf.cohort_id, cohorts, path)
    if type(leaf) is MalformedFilter and leaf.unknown_operator:
        return _always(None)  # 7.x gives up on the filter before it reads its (unusable) key
    raise NotBuilt("a flag dependency or a malformed filter")


def property_test(leaf: PropertyFilter) -> PropertiesTest:
    """A property filter's answer for given properties: undecided when its key is not given."""
    key, test = leaf.key, compile_leaf(leaf)
    return lambda properties: test(properties[key]) if key in properties else None

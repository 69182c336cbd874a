"""A flag's conditions as straight-line Python: 3.25.0's rules without the interpreter's layers.

:func:`.evaluation.match_conditions` walks a flag's conditions and filters as data: for each
filter it reads the condition, the filter, its key and operator, and dispatches. Written out
once per flag as code, the same walk runs about twice as fast. :func:`conditions_of` writes and
compiles that code the first time a flag is evaluated and keeps it on the (immutable) definition.

The answers are :func:`~.evaluation.match_conditions`'s, by construction: the code makes the
same checks in the same order and calls the same operator functions. A flag with anything
unusual (a malformed condition, filter or rollout, more
filters than fit in one function) is not compiled: it keeps :func:`match_conditions`.

The generated source holds structure only. Every key, operand, threshold and value it uses is a
constant of the function's namespace, referred to by position (``K0_1``): no text of a
definition ever becomes code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import partial
from typing import Any, Final, Optional

from ._codegen import bucket, fails_when, make_function, return_value
from .cohort_code import cohort_test
from .definitions import (
    CohortFilter,
    DateForm,
    FlagDefinition,
    Operator,
    PropertyFilter,
    PropertyGroup,
    parse_date_text,
)
from .evaluation import match_conditions
from .properties import MATCHERS, Undecided, match_cohort, relative_operand
from .variants import select_variant

__all__ = ["ConditionsFn", "condition_lines", "conditions_of"]

#: ``(bucketing_id, properties, cohorts)`` → what :func:`match_conditions` answers
ConditionsFn = Callable[[object, Mapping[str, Any], Optional[Mapping[str, PropertyGroup]]], Any]

_MAX_FILTERS: Final = 200  # a larger flag is rare; its code would take long to compile
_BASE: Final[dict[str, Any]] = {
    "A": object(),  # "absent"
    "MISSING": Undecided.MISSING_PROPERTY,
    "NOT_SET": Undecided.IS_NOT_SET,
    "SV": select_variant,
    "MC": match_cohort,
    "RO": relative_operand,
    "PD": parse_date_text,
    "BAD_DATE": Undecided.INVALID_DATE,
    "BAD_VALUE": Undecided.INVALID_DATE_PROPERTY,
    "NOT_DATED": Undecided.UNSUPPORTED_DATE_PROPERTY,
    "DATE": date,
}


def conditions_of(flag: FlagDefinition) -> ConditionsFn:
    """``flag``'s conditions as one function, made on first use and kept on the definition."""
    made: Optional[ConditionsFn] = flag.compiled
    if made is None:
        try:
            made = _compile(flag)
        except Exception:  # whatever cannot be compiled keeps the interpreted walk
            made = None
        if made is None:
            made = partial(match_conditions, flag)
        object.__setattr__(flag, "compiled", made)  # a race compiles the same code twice
    return made


def _compile(flag: FlagDefinition) -> Optional[ConditionsFn]:
    names: dict[str, Any] = {"KEY": flag.key, "FLAG": flag}
    body = condition_lines(flag, names)
    if body is None:
        return None
    lines = ["def conditions(bid, p, cohorts):", *body, "    return False if und is None else und"]
    made: ConditionsFn = make_function(lines, names, f"conditions of flag {flag.key!r:.80}")
    return made


def condition_lines(
    flag: FlagDefinition, names: dict[str, Any], cohorts: Optional[Mapping[str, PropertyGroup]] = None
) -> Optional[list[str]]:
    """The body of the function :func:`conditions_of` makes (of ``bid``, ``p`` and ``cohorts``),
    up to its last line: a matched condition returns its value; after the last condition, ``und``
    is None (no condition matched: False) or why the flag is undecided. None when the flag has
    anything unusual (see the module's docstring). With the snapshot's ``cohorts``, its cohort
    filters run their written-out tests (:mod:`.cohort_code`) when called with that table."""
    if flag.conditions_error is not None:
        return None
    if sum(len(condition.properties) for condition in flag.conditions) > _MAX_FILTERS:
        return None
    names.update(_BASE)
    rolled = [c.threshold is not None and c.threshold < 1.0 for c in flag.conditions]  # a hash is at most 1.0
    lines = ["    und = None"]
    if sum(rolled) > 1:
        lines.append("    b = -1.0")  # the hash, worked out by the first condition that reaches its rollout
    for i, condition in enumerate(flag.conditions):
        if condition.error is not None or condition.rollout_error is not None:
            return None
        lines.append("    while True:")
        for j, leaf in enumerate(condition.properties):
            name = f"{i}_{j}"
            if type(leaf) is PropertyFilter:
                names[f"K{name}"], names[f"L{name}"] = leaf.key, leaf
                names[f"M{name}"] = MATCHERS[leaf.operator]
                lines += _property_filter(name, leaf, names)
            elif type(leaf) is CohortFilter:
                names[f"L{name}"] = leaf
                test = None if cohorts is None else cohort_test(leaf.cohort_id, cohorts)
                if test is None:
                    lines.append(f"        r = MC(L{name}, p, cohorts)")
                else:
                    names[f"CT{name}"], names["CTAB"] = test, cohorts
                    lines.append(f"        r = CT{name}(p) if cohorts is CTAB else MC(L{name}, p, cohorts)")
                lines += _decided_unless_true()
            else:
                return None  # a malformed filter: the interpreted walk raises as 3.25.0 does
        if rolled[i]:
            names[f"T{i}"] = condition.threshold
            hashed = bucket("b", flag, names)
            if any(rolled[:i]):  # an earlier condition may have worked it out
                lines += ["        if b < 0.0:", *(f"            {line}" for line in hashed)]
            else:
                lines += [f"        {line}" for line in hashed]
            lines += [f"        if b > T{i}:", "            break"]
        lines += return_value(i, condition.variant_override, flag, names)
    return lines


def _property_filter(name: str, leaf: PropertyFilter, names: dict[str, Any]) -> list[str]:
    """One property filter, checked as :func:`~.properties.match_leaves` checks it."""
    operator = leaf.operator
    lines = [
        f"        v = p.get(K{name}, A)",
        "        if v is A:",
        "            if und is None:",
        "                und = MISSING",
        "            break",
    ]
    if operator is Operator.IS_NOT_SET:
        return [*lines, "        if und is None:", "            und = NOT_SET", "        break"]
    if operator is not Operator.IS_NOT:
        lines += ["        if v is None:", "            break"]
    return lines + _operator(name, leaf, names)


_SEARCH: Final = frozenset({Operator.REGEX, Operator.NOT_REGEX})
_COMPARISONS: Final = frozenset({Operator.GT, Operator.GTE, Operator.LT, Operator.LTE})
_DATES: Final = frozenset({Operator.IS_DATE_BEFORE, Operator.IS_DATE_AFTER})
_ABSOLUTE_DATE: Final = DateForm.ABSOLUTE
_RELATIVE_DATE: Final = DateForm.RELATIVE


def _operator(name: str, leaf: PropertyFilter, names: dict[str, Any]) -> list[str]:
    """The operator's test: the commonest written out (each as its function in
    :mod:`.properties` decides it, always a bool), the others called."""
    operator = leaf.operator
    fails = fails_when(name, leaf, names)  # the test that fails the condition
    if fails is not None:
        return [f"        if {fails}:", "            break"]
    if operator in _SEARCH and leaf.error is None and leaf.pattern is None:
        return ["        break"]  # an invalid pattern matches neither regex nor not_regex
    if operator is Operator.IS_SET:
        return []  # set and not None: holds
    if leaf.compare is not None and operator in _COMPARISONS:
        # _compare, for a text value: compared as text (the number is for other values)
        names[f"CMP{name}"], names[f"VT{name}"] = leaf.compare, leaf.value_text
        return [
            "        if type(v) is str:",
            f"            if not CMP{name}(v, VT{name}):",
            "                break",
            "        else:",
            f"            r = M{name}(L{name}, v)",
            *(f"    {line}" for line in _decided_unless_true()),
        ]
    if operator in _DATES and (leaf.date_form is _ABSOLUTE_DATE or leaf.date_form is _RELATIVE_DATE):
        return _date_filter(name, leaf, names)
    return [f"        r = M{name}(L{name}, v)", *_decided_unless_true()]


def _date_filter(name: str, leaf: PropertyFilter, names: dict[str, Any]) -> list[str]:
    """``_date_compare`` for a text value, written out: the filter's date (fixed, or "now minus"
    a relative span, None when out of range), then the value parsed (cached) and compared; for
    a value neither text nor a date, its answer (the filter's date checked first, as there)."""
    compare = "<" if leaf.operator is Operator.IS_DATE_BEFORE else ">"
    if leaf.date_form is _ABSOLUTE_DATE:
        if leaf.date_value is None:
            return [f"        r = M{name}(L{name}, v)", *_decided_unless_true()]
        names[f"D{name}"] = leaf.date_value
        operand = [f"            o = D{name}"]
        not_dated = "NOT_DATED"
    else:
        names[f"R{name}"] = leaf.relative
        operand = [f"            o = RO(R{name})"]
        not_dated = f"BAD_DATE if RO(R{name}) is None else NOT_DATED"
    return [
        "        if type(v) is str:",
        *operand,
        "            if o is None:",
        "                r = BAD_DATE",
        "            else:",
        "                d = PD(v)",
        "                if d is None:",
        "                    r = BAD_VALUE",
        "                else:",
        "                    try:",
        f"                        r = d {compare} o",
        "                    except ValueError:",  # an offset of 24 h or more (as _date_compare)
        "                        r = BAD_VALUE",
        "        elif isinstance(v, DATE):",  # a date or a datetime (a subclass of date)
        f"            r = M{name}(L{name}, v)",
        "        else:",
        f"            r = {not_dated}",
        *_decided_unless_true(),
    ]


def _decided_unless_true() -> list[str]:
    """A filter that does not hold ends the condition: false, or undecided (the first reason kept)."""
    return [
        "        if r is not True:",
        "            if r is not False and und is None:",
        "                und = r",
        "            break",
    ]

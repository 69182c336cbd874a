"""A 7.x plan (:mod:`.newer_plan`) as straight-line Python: ``run_plan`` for one flag, compiled once.

The generated function answers exactly as :func:`.newer_plan.run_plan` does for the same plan:
the same filters in the same order, the same tests (the compiled ``LeafTest`` functions, passed
as names), the same rollout and variant rules. Every key, test, threshold and value is a name
bound in the function's namespace (:mod:`._codegen`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Optional

from ._codegen import bucket, make_function, return_value
from .definitions import FlagDefinition
from .newer_leaf import CONSTANT_TESTS
from .variants import select_variant

__all__ = ["GIVE_UP", "WHOLE", "PlanRun", "compile_run", "give_up", "plan_lines"]

#: ``(bucketing_id, properties)`` → the flag's 7.x value, or None (undecided); may raise
PlanRun = Callable[[object, Mapping[str, Any]], Any]

#: the "key" of a filter whose test reads all the properties (a cohort), not one value
WHOLE: Final = object()
_MAX_FILTERS: Final = 200
#: a cohort test's answer when 7.x gives up on the whole flag (a cohort it does not have or cannot
#: read), unless a filter of the condition fails or one before it is undecided
GIVE_UP: Final = object()
_BASE: Final[dict[str, Any]] = {"A": object(), "SV": select_variant, "GIVE_UP": GIVE_UP}


def give_up(properties: Any) -> Any:
    """The test of a cohort 7.x does not have or cannot read: it gives up on the flag."""
    return GIVE_UP


#: what a test answers whatever it reads (a constant test's value is not even read)
_CONSTANT: Final[dict[Any, Any]] = {**CONSTANT_TESTS, give_up: GIVE_UP}


def compile_run(conditions: Any, flag: FlagDefinition, summary: Any = None) -> Optional[PlanRun]:
    """``conditions`` (a plan's: per condition, ``(key, test)`` pairs, threshold and variant
    override) as one function; None when there are too many filters to compile.

    With the plan's ``summary``, the function first makes :func:`.newer_plan.nothing_given`'s
    check, by keys alone, and answers None at once when it holds."""
    names: dict[str, Any] = {"KEY": flag.key, "FLAG": flag}
    body = plan_lines(conditions, flag, summary, names)
    if body is None:
        return None
    run: PlanRun = make_function(["def run(bid, p):", *body], names, f"7.x plan of flag {flag.key!r:.80}")
    return run


def plan_lines(
    conditions: Any,
    flag: FlagDefinition,
    summary: Any,
    names: dict[str, Any],
    x: str = "",
    undecided: str = "None",
) -> Optional[list[str]]:
    """The body of :func:`compile_run`'s function (of ``bid`` and ``p``, returning its answer,
    the expression ``undecided`` when 7.x cannot decide), its names bound in ``names`` with the
    prefix ``x``; None when there are too many filters."""
    if sum(len(leaves) for leaves, _, _ in conditions) > _MAX_FILTERS:
        return None
    names.update(_BASE)
    lines = _nothing_given(summary, names, x, undecided) if summary is not None else []
    lines.append("    und = False")
    for i, (leaves, threshold, override) in enumerate(conditions):
        lines += ["    while True:", "        s = True"]
        never = False  # a filter that is never true: the condition cannot match
        known = True  # s is surely still True here (no filter has been undecided yet)
        for j, (key, test) in enumerate(leaves):
            constant = _CONSTANT.get(test, test)
            if constant is not test:
                lines += _constant_filter(f"{x}K{i}_{j}", key, constant, names)
                never = never or constant is not True
                known = known and constant is True and key is WHOLE
                continue
            k, t = f"{x}K{i}_{j}", f"{x}T{i}_{j}"
            names[k], names[t] = key, test
            still = " and s is True" if not known else ""  # the first undecided filter counts
            if key is WHOLE:  # a cohort: its test reads the properties
                lines += [
                    f"        r = {t}(p)",
                    "        if r is False:",
                    "            break",
                    f"        if r is not True{still}:",
                    "            s = r",  # None, or GIVE_UP
                ]
            else:
                absent = (
                    ["            s = None"]
                    if known
                    else ["            if s is True:", "                s = None"]
                )
                lines += [
                    f"        v = p.get({k}, A)",
                    "        if v is A:",
                    *absent,
                    "        else:",
                    f"            r = {t}(v)",
                    "            if r is False:",
                    "                break",  # a filter that fails fails the condition
                    f"            if r is not True{still}:",
                    "                s = None",
                ]
            known = False
        if not known:  # (known: every filter surely held, s is True)
            lines += ["        if s is GIVE_UP:", f"            return {undecided}"]  # 7.x gives up
        if never:  # s is None here: undecided
            lines += ["        und = True", "        break"]
            continue
        if not known:
            lines += ["        if s is None:", "            und = True", "            break"]
        if threshold is not None and threshold < 1.0:
            names[f"{x}R{i}"] = threshold
            lines += [f"        {line}" for line in bucket("h", flag, names)]
            lines += [f"        if h > {x}R{i}:", "            break"]
        lines += return_value(i, override, flag, names, x)
    lines.append(f"    return {undecided} if und else False")
    return lines


def _constant_filter(name: str, key: Any, answer: Any, names: dict[str, Any]) -> list[str]:
    """A filter whose test answers ``answer`` whatever the value: only whether its key (bound
    as ``name``) is given matters (a key not given is undecided; a cohort needs no key)."""
    names[name] = key
    if key is WHOLE:
        if answer is True:
            return []
        if answer is False:
            return ["        break"]
    elif answer is True:
        return [f"        if s is True and {name} not in p:", "            s = None"]
    elif answer is False:
        return [f"        if {name} in p:", "            break", *_undecided_now("None")]
    return _undecided_now("GIVE_UP" if answer is GIVE_UP else "None")


def _undecided_now(reason: str) -> list[str]:
    """The condition is undecided from here, unless a filter before decided it or one after fails."""
    return ["        if s is True:", f"            s = {reason}"]


def _nothing_given(summary: Any, names: dict[str, Any], x: str, undecided: str) -> list[str]:
    """``nothing_given(plan, p)`` written out: no condition has every key given and a known
    operator, and one condition of plain filters has none of its keys given."""
    may_match: list[str] = []
    stays: list[str] = []
    for i, (keys, unknown, every_plain) in enumerate(summary):
        for j, key in enumerate(keys):
            names[f"{x}G{i}_{j}"] = key
        if not unknown:
            may_match.append(" and ".join(f"{x}G{i}_{j} in p" for j in range(len(keys))) or "True")
        if every_plain:
            stays.append(" and ".join(f"{x}G{i}_{j} not in p" for j in range(len(keys))) or "True")
    if not stays or "True" in may_match:
        return []  # never "surely undecided" by keys alone (or some condition may always match)
    may = " or ".join(f"({term})" for term in may_match) or "False"
    none_decided = " or ".join(f"({term})" for term in stays)
    return [f"    if not ({may}):", f"        if {none_decided}:", f"            return {undecided}"]

"""A flag's two passes as one function: 3.25.0's rules, then 7.x's plan.

A flag that 3.25.0's rules leave undecided gets 7.x's answer (flags.md, last section). Run as
two compiled functions (:mod:`.compiled`, :mod:`.plan_code`), that is a call from one to the
other through the caller; written as one function, the second pass starts where the first ends.

The function :func:`whole_of` writes files its answer where ``get_all_flags`` collects them
(:mod:`.snapshot_code`): each of its ``return`` sites knows what it answers, so the value, and the
payload of a value known when the function is written, are filed there, with no test of what came
back. What it files:

- ``True``, ``False`` or a variant, and its payload: decided, by 3.25.0's rules or else by 7.x's;
- the flag's key among the undecided: neither decides (7.x's pass raising included, as 7.x's
  own callers treat it);
- where 3.25.0's rules raise, 7.x's pass answers; when it does not decide either, the error is
  logged (once) as :func:`.evaluation.evaluate_flag` logs it, and the flag is undecided.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Optional

from ._codegen import make_function
from .compiled import condition_lines
from .definitions import FlagDefinition, PropertyGroup
from .evaluation import log_local_error, lookup_payload
from .newer_plan import plan_for
from .plan_code import plan_lines

__all__ = ["WholeFn", "two_passes", "whole_of"]

_Values = dict[str, Any]
_Cohorts = Optional[Mapping[str, PropertyGroup]]
#: ``(bucketing_id, properties, cohorts, values, payloads, undecided)``: files the flag's answer
#: in the three (see the module's docstring)
WholeFn = Callable[[object, Mapping[str, Any], _Cohorts, _Values, _Values, list[str]], None]

_NOT_WRITTEN: Final = 0  # whole_of's mark, kept on the definition, of a flag not written as one
_UNDECIDED: Final = "(None if err is None else LE(KEY, err))"  # two_passes' answer when neither decides
_RETURN: Final = re.compile(r"( *)return(?: (.*))?")
_NAME: Final = re.compile(r"[A-Za-z_]\w*")
#: the names a line of the passes binds (an assignment, ``except ... as``, a ``for`` target)
_LOCAL: Final = re.compile(r"^\s*([A-Za-z_]\w*)\s*=(?!=)|\bas ([A-Za-z_]\w*)|\bfor ([A-Za-z_]\w*) in\b")


def whole_of(flag: FlagDefinition, cohorts: Optional[Mapping[str, PropertyGroup]]) -> Optional[WholeFn]:
    """``flag``'s two passes as one function, made on first use and kept on the definition;
    ``cohorts`` are its snapshot's. None when they cannot be written as one: the caller runs
    :func:`.compiled.conditions_of`'s function, then 7.x's pass."""
    made: Any = flag.whole
    if made is None:
        try:
            made = _compile(flag, cohorts)
        except Exception:  # whatever cannot be written out keeps the two functions
            made = None
        if made is None:
            made = _NOT_WRITTEN
        object.__setattr__(flag, "whole", made)  # a race writes the same code twice
    return None if made is _NOT_WRITTEN else made


def _compile(flag: FlagDefinition, cohorts: Optional[Mapping[str, PropertyGroup]]) -> Optional[WholeFn]:
    names: dict[str, Any] = {"KEY": flag.key, "FLAG": flag, "LE": log_local_error, "FP": flag.payloads}
    body = two_passes(flag, cohorts, names, _UNDECIDED)
    if body is None:
        return None
    lines = ["def whole(bid, p, cohorts, out_v, out_p, out_u):"]
    local = {"bid", "p", "cohorts"}
    local.update(name for line in body for found in _LOCAL.findall(line) for name in found if name)
    constants = {name: value for name, value in names.items() if name not in local}
    for line in body:
        found = _RETURN.fullmatch(line)
        if found is None:
            if re.search(r"\breturn\b", line):
                return None  # a return this cannot rewrite (none is written so)
            lines.append(line)
        else:
            filing = _filing(found.group(2) or "None", flag, constants)
            lines += [found.group(1) + filed for filed in filing]
    names.update(constants)  # with the payloads the filing bound
    made: WholeFn = make_function(lines, names, f"flag {flag.key!r:.80}")
    return made


def _filing(answer: str, flag: FlagDefinition, names: dict[str, Any]) -> list[str]:
    """The lines that file ``answer`` (an expression of the function) instead of returning it."""
    if answer == _UNDECIDED:
        return ["out_u.append(KEY)", "if err is not None:", "    LE(KEY, err)", "return"]
    if answer == f"{_UNDECIDED} if und else False":
        return ["if und:", *_indent(_filing(_UNDECIDED, flag, names)), *_filing("False", flag, names)]
    value = {"True": True, "False": False}.get(answer, names.get(answer) if _NAME.fullmatch(answer) else None)
    if value is not None:  # known when written: True, False, a variant or an override
        lines = [f"out_v[KEY] = {answer}"]
        payload = lookup_payload(flag, value)
        if payload:
            names[f"FQ{answer}"] = payload
            lines.append(f"out_p[KEY] = FQ{answer}")
        return [*lines, "return"]
    return [  # worked out when the function runs
        f"rv = {answer}",
        "if rv is None:",
        "    out_u.append(KEY)",
        "    return",
        "pl = FP.get('true' if rv is True else str(rv))",  # before anything is filed
        "out_v[KEY] = rv",
        "if pl:",
        "    out_p[KEY] = pl",
        "return",
    ]


def _indent(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]


def two_passes(
    flag: FlagDefinition,
    cohorts: Optional[Mapping[str, PropertyGroup]],
    names: dict[str, Any],
    undecided: str = "None",
) -> Optional[list[str]]:
    """The lines (of ``bid``, ``p`` and ``cohorts``) that answer the flag: 3.25.0's rules, then,
    when they leave it undecided or raise, 7.x's plan, where an error means undecided. An error
    of 3.25.0's rules is bound as ``err`` (else None), which ``undecided``, the expression
    returned when neither decides, may read. None when either pass cannot be written out."""
    plan = plan_for(flag, cohorts)
    if plan.conditions is None:
        return None
    first = condition_lines(flag, names, cohorts)
    if first is None:
        return None
    second = plan_lines(plan.conditions, flag, plan.summary, names, "x", undecided)  # 7.x's: x...
    if second is None:
        return None
    first = [
        "    err = None",
        "    try:",
        *(f"    {line}" for line in first),
        "    except Exception as exc:",  # 3.25.0's rules raising: 7.x's pass, as evaluate_flag
        "        err = und = exc",
    ]
    return [
        *first,
        "    if und is None:",
        "        return False",
        "    try:",  # 3.25.0 cannot decide: 7.x's pass, where an error means undecided
        *(f"    {line}" for line in second),
        "    except Exception:",
        f"        return {undecided}",
    ]

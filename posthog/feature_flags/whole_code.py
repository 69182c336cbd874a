"""A person flag's two passes as one function: 3.25.0's rules, then 7.x's plan.

A person flag that 3.25.0's rules leave undecided gets 7.x's answer (flags.md, last section).
Run as two compiled functions (:mod:`.compiled`, :mod:`.plan_code`), that is a call from one
to the other through the caller; written as one function, the second pass starts where the
first ends. What the function returns:

- ``True``, ``False`` or a variant: decided, by 3.25.0's rules or else by 7.x's;
- ``None``: neither decides (7.x's pass raising included, as 7.x's own callers treat it);
- an :class:`~.properties.Undecided` member: only when the flag's plan cannot be written out
  (the function is then :func:`.compiled.conditions_of`'s): the caller runs 7.x's pass;
- where 3.25.0's rules raise, 7.x's pass answers; when it does not decide either, the error is
  logged (once) as :func:`.evaluation.evaluate_flag` logs it, and the answer is None. Only
  :func:`.compiled.conditions_of`'s function raises: the caller takes the full path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional

from ._codegen import make_function
from .compiled import condition_lines, conditions_of
from .definitions import FlagDefinition, PropertyGroup
from .evaluation import log_local_error
from .newer_plan import plan_for
from .plan_code import plan_lines

__all__ = ["WholeFn", "two_passes", "whole_of"]

#: ``(bucketing_id, properties, cohorts)`` → the flag's answer (see the module's docstring)
WholeFn = Callable[[object, Mapping[str, Any], Optional[Mapping[str, PropertyGroup]]], Any]


def whole_of(flag: FlagDefinition, cohorts: Optional[Mapping[str, PropertyGroup]]) -> WholeFn:
    """``flag``'s two passes as one function, made on first use and kept on the definition;
    ``cohorts`` are its snapshot's."""
    made: Optional[WholeFn] = flag.whole
    if made is None:
        try:
            made = _compile(flag, cohorts)
        except Exception:  # whatever cannot be written out keeps the two functions
            made = None
        if made is None:
            made = conditions_of(flag)
        object.__setattr__(flag, "whole", made)  # a race writes the same code twice
    return made


def _compile(flag: FlagDefinition, cohorts: Optional[Mapping[str, PropertyGroup]]) -> Optional[WholeFn]:
    names: dict[str, Any] = {"KEY": flag.key, "FLAG": flag, "LE": log_local_error}
    body = two_passes(flag, cohorts, names, "(None if err is None else LE(KEY, err))")
    if body is None:
        return None
    made: WholeFn = make_function(["def whole(bid, p, cohorts):", *body], names, f"flag {flag.key!r:.80}")
    return made


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

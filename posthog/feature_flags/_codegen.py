"""Python functions written as source and compiled once (flag conditions, 7.x plans).

The source holds structure only: every value it uses is a name bound in ``names``, so no text of
a flag definition ever becomes code. Many flags share a structure (one condition of one filter
and a rollout, say), and a new definitions snapshot brings the same flags again: the compiled
code is kept by source, so only a structure never seen before is compiled.
"""

from __future__ import annotations

import builtins
from types import CodeType, FunctionType
from typing import Any, Final, Optional

from .definitions import FlagDefinition, Operator, PropertyFilter
from .hashing import bucket_memo, memo_bucket

__all__ = ["bucket", "fails_when", "make_function", "return_value"]

_MAX_VARIANTS: Final = 32  # more are picked by select_variant (``SV``)

_CODE: dict[str, CodeType] = {}  # source -> the function's code; cleared when full
_CODE_LIMIT: Final = 2048


def make_function(lines: list[str], names: dict[str, Any], label: str) -> Any:
    """The function ``lines`` define (one ``def``), with ``names`` as its globals; ``label`` is
    the file name tracebacks and profiles show."""
    source = "\n".join(lines)
    code = _CODE.get(source)
    if code is None:
        module = compile(source, "<posthog generated>", "exec")
        code = next(const for const in module.co_consts if isinstance(const, CodeType))
        if len(_CODE) >= _CODE_LIMIT:
            _CODE.clear()
        _CODE[source] = code
    names["__builtins__"] = builtins
    return FunctionType(code.replace(co_filename=f"<{label}>"), names, code.co_name)


_TEXT: Final = "(v if type(v) is str else str(v))"
_CHOICES: Final = {Operator.EXACT: "not in", Operator.IS_NOT: "in"}
_EQUAL: Final = {Operator.EXACT: "!=", Operator.IS_NOT: "=="}
_CONTAINS: Final = {Operator.ICONTAINS: "not in", Operator.NOT_ICONTAINS: "in"}
_SEARCH: Final = {Operator.REGEX: "is None", Operator.NOT_REGEX: "is not None"}


def fails_when(name: str, leaf: PropertyFilter, names: dict[str, Any]) -> Optional[str]:
    """For the commonest text operators (exact and is_not, icontains and not_icontains, regex
    and not_regex with a valid pattern), the expression of a value ``v`` (given, not None) that
    holds when the filter does not, as its function in :mod:`.properties` decides it (always a
    bool); its operand bound as ``C<name>``, ``F<name>`` or ``P<name>``. None for the others."""
    operator = leaf.operator
    if operator in _CHOICES:
        if leaf.folded_choices is not None:
            names[f"C{name}"] = leaf.folded_choices
            return f"{_TEXT}.casefold() {_CHOICES[operator]} C{name}"
        names[f"F{name}"] = leaf.folded
        return f"{_TEXT}.casefold() {_EQUAL[operator]} F{name}"
    if operator in _CONTAINS:
        names[f"F{name}"] = leaf.folded
        return f"F{name} {_CONTAINS[operator]} {_TEXT}.casefold()"
    if operator in _SEARCH and leaf.error is None and leaf.pattern is not None:
        names[f"P{name}"] = leaf.pattern.search
        return f"P{name}({_TEXT}) {_SEARCH[operator]}"
    return None


def bucket(target: str, flag: FlagDefinition, names: dict[str, Any], salt: str = "") -> list[str]:
    """The lines that set ``target`` to ``hash_bucket(flag.key, bid, salt)``: from the flag's
    memo when the id was met before (:func:`.hashing.bucket_memo`), else hashed and kept."""
    memo = "HM" if not salt else "VM"
    names[memo], names["MB"] = bucket_memo(flag.key, salt), memo_bucket
    hashed = f"MB({memo}, KEY, bid, {salt!r})" if salt else f"MB({memo}, KEY, bid)"
    return [
        f"{target} = {memo}.get(bid, -1.0) if type(bid) is str or type(bid) is int else -1.0",
        f"if {target} < 0.0:",
        f"    {target} = {hashed}",
    ]


def return_value(
    index: int, override: object, flag: FlagDefinition, names: dict[str, Any], x: str = ""
) -> list[str]:
    """The lines that return what a matched condition gives: its variant override (bound as
    ``<x>O<index>``), True, or the variant picked by hash (as ``select_variant(FLAG, bid) or
    True``, as 3.25.0 and 7.x do)."""
    if override is not None:
        names[f"{x}O{index}"] = override
        return [f"        return {x}O{index}"]
    variants = flag.variants
    if flag.variants_error is not None or len(variants) > _MAX_VARIANTS:
        return ["        return SV(FLAG, bid) or True"]  # (raises on a malformed variant table)
    if not variants:
        return ["        return True"]
    lines = [f"        {line}" for line in bucket("vb", flag, names, "variant")]
    for k, variant in enumerate(variants):  # the first range that holds the bucket
        names[f"VA{k}"], names[f"VZ{k}"], names[f"VR{k}"] = (
            variant.value_min,
            variant.value_max,
            variant.key or True,
        )
        lines += [f"        if VA{k} <= vb < VZ{k}:", f"            return VR{k}"]
    return [*lines, "        return True"]

"""Python functions written as source and compiled once (flag conditions, 7.x plans).

The source holds structure only: every value it uses is a name bound in ``names``, so no text of
a flag definition ever becomes code. Many flags share a structure (one condition of one filter
and a rollout, say), and a new definitions snapshot brings the same flags again: the compiled
code is kept by source, so only a structure never seen before is compiled.
"""

from __future__ import annotations

import builtins
from types import CodeType, FunctionType
from typing import Any, Final

__all__ = ["make_function", "return_value"]

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


def return_value(index: int, override: object, variants: bool, names: dict[str, Any]) -> list[str]:
    """The line that returns what a matched condition gives: its variant override (bound as
    ``O<index>``), True, or the variant picked by hash (``SV(FLAG, bid)``, as 3.25.0 and 7.x do)."""
    if override is not None:
        names[f"O{index}"] = override
        return [f"        return O{index}"]
    if not variants:
        return ["        return True"]
    return ["        return SV(FLAG, bid) or True"]

"""One property filter's 7.x answer for a given value, compiled once (the 7.x pass's tests).

:func:`compile_leaf` reads a filter's operand once and returns a function of the property's
value that answers as :func:`.newer_ops.match_property` does for that value (True, False, or
None when 7.x leaves the filter undecided), raising where it raises.
"""

from __future__ import annotations

import operator as _op
from collections.abc import Callable
from typing import Any, Final, Optional

from .filters import Operator, PropertyFilter
from .newer_ops import (
    _AS_7X_TEXT,
    _AS_AFFIX,
    _AS_DATE,
    _AS_SEMVER,
    _AS_UNKNOWN,
    _KINDS,
    _TRUTH,
    _NoText,
    _number,
    _pattern,
    _text,
    _truth,
    compile_date,
)
from .properties import MATCHERS
from .semver import match_affix, match_semver

__all__ = ["CONSTANT_TESTS", "LeafTest", "compile_leaf", "undecided_test"]

# --- compiled: one filter's 7.x answer for a given value, its operand read once ------------------

LeafTest = Callable[[Any], Optional[bool]]
_BAD: Final = object()  # an operand JSON cannot spell: the filter is undecided when it is read


def _spelled(value: Any) -> Any:
    """``_text(value).lower()``, or ``_BAD``."""
    try:
        return _text(value).lower()
    except _NoText:
        return _BAD


def _compile_exact(leaf: PropertyFilter) -> LeafTest:
    negate = leaf.operator is Operator.IS_NOT
    operand = leaf.value
    if isinstance(operand, list) and len(operand) == 1:
        operand = operand[0]
    if operand == [] or isinstance(operand, bool) or (isinstance(operand, str) and operand.lower() in _TRUTH):
        wanted = _truth(operand)

        def truth(value: Any) -> Optional[bool]:
            if _spelled(value) is _BAD:
                return None  # a value JSON cannot spell (inf, nan) is undecided, even for truth
            return (_truth(value) is wanted) is not negate

        return truth
    choices = [_spelled(c) for c in operand] if isinstance(operand, list) else [_spelled(operand)]
    if len(choices) == 1 and choices[0] is not _BAD:
        only = choices[0]

        def one(value: Any) -> Optional[bool]:
            text = value.lower() if type(value) is str else _spelled(value)
            return None if text is _BAD else (text == only) is not negate

        return one

    def test(value: Any) -> Optional[bool]:
        text = value.lower() if type(value) is str else _spelled(value)
        if text is _BAD:
            return None
        for choice in choices:  # in order: an operand 7.x cannot spell fails only when reached
            if choice is _BAD:
                return None
            if text == choice:
                return not negate
        return negate

    return test


def _compile_text(leaf: PropertyFilter) -> LeafTest:
    """``match_old_operator`` for ``leaf``, its operand prepared once."""
    operator = leaf.operator
    if operator is Operator.EXACT or operator is Operator.IS_NOT:
        return _compile_exact(leaf)
    if operator is Operator.ICONTAINS or operator is Operator.NOT_ICONTAINS:
        needle = _spelled(leaf.value)
        if needle is _BAD:
            return _undecided
        inside = operator is Operator.ICONTAINS

        def contains(value: Any) -> Optional[bool]:
            text = value.lower() if type(value) is str else _spelled(value)
            return None if text is _BAD else (needle in text) is inside

        return contains
    if operator is Operator.REGEX or operator is Operator.NOT_REGEX:
        try:
            usable, pattern = _pattern(str(leaf.value))
        except Exception as exc:  # e.g. a repetition too large: raised when the filter is read
            error = exc

            def broken(value: Any) -> Optional[bool]:
                raise error

            return broken
        if not usable:
            return _undecided
        if pattern is None:
            return lambda value: None if _spelled(value) is _BAD else False
        found_means = operator is Operator.REGEX

        def search(value: Any) -> Optional[bool]:
            if type(value) is str:
                return (pattern.search(value) is not None) is found_means
            try:
                text = _text(value)
            except _NoText:
                return None
            return (pattern.search(text) is not None) is found_means

        return search
    wanted = _number(leaf.value)
    if wanted is None:
        return _undecided
    compare = _COMPARE[operator]

    def number(value: Any) -> Optional[bool]:  # _compare, with the operand read once
        found = _number(value)
        return False if found is None else compare(found, wanted)

    return number


_COMPARE: Final = {Operator.GT: _op.gt, Operator.GTE: _op.ge, Operator.LT: _op.lt, Operator.LTE: _op.le}


def _undecided(value: Any) -> Optional[bool]:
    return None


def _no(value: Any) -> Optional[bool]:
    return False


def _yes(value: Any) -> Optional[bool]:
    return True


#: the tests whose answer never depends on the value, with that answer (written out by
#: :mod:`.plan_code` without reading the value)
CONSTANT_TESTS: Final[dict[LeafTest, Optional[bool]]] = {_undecided: None, _no: False, _yes: True}
#: the test of a filter 7.x always leaves undecided
undecided_test: Final = _undecided


def compile_leaf(leaf: PropertyFilter) -> LeafTest:
    """``leaf``'s 7.x answer for a value that is given (maybe None): ``match_property`` with the
    operand prepared once (raising where it raises: the whole flag is then undecided)."""
    operator = leaf.operator
    if operator is Operator.IS_NOT_SET:
        return _no
    if operator is Operator.IS_SET:
        return _yes
    kind = _KINDS[operator]
    if kind == _AS_7X_TEXT:
        return _compile_text(leaf)
    if kind == _AS_AFFIX:
        return lambda value: match_affix(operator, leaf.value, value)
    if kind == _AS_UNKNOWN:
        return _undecided
    if kind == _AS_DATE:
        dated = compile_date(leaf)
        return lambda value: False if value is None else dated(value)
    if kind == _AS_SEMVER:
        return lambda value: False if value is None else match_semver(operator, leaf.value, value)
    matcher = MATCHERS[operator]

    def old(value: Any) -> Optional[bool]:
        if value is None:
            return False
        result = matcher(leaf, value)
        return result if type(result) is bool else None

    return old

"""The operators 3.25.0 does not know and 7.x decides locally: semver comparisons and affixes.

Learnt from upstream 7.x's answers (black box, ``benchmarks/compare_flags_v7.py``). A version is
``major[.minor[.patch]]``, optionally after a ``v`` and before ``-prerelease`` / ``+build`` (both
ignored); missing parts are 0. A side that is not a version leaves the filter undecided (None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final, Optional

from .filters import Operator

__all__ = ["json_text", "match_affix", "match_semver", "parse_version"]

Version = tuple[int, int, int]

_MAX_PARTS: Final = 3


def _part(text: str) -> Optional[int]:
    """One numeric part: ASCII digits without a leading zero; an empty part is 0."""
    if text == "":
        return 0
    if not (text.isdigit() and text.isascii()) or (len(text) > 1 and text[0] == "0"):
        return None
    return int(text)


def _parts(text: str, suffixes: bool = True) -> Optional[list[int]]:
    """The numeric parts of a version (at most three), or None when it is not one;
    ``suffixes``: a ``-prerelease`` / ``+build`` suffix is ignored (not in a wildcard)."""
    text = text.strip()
    if text[:1] in ("v", "V"):
        text = text[1:]
    if suffixes:
        text = re.split(r"[-+]", text, maxsplit=1)[0]
    raw = text.split(".")[:_MAX_PARTS]
    if raw[0] == "":
        return None
    numbers = [_part(part) for part in raw]
    if any(number is None for number in numbers):
        return None
    return numbers  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def _parse(text: str) -> Optional[Version]:
    numbers = _parts(text)
    if numbers is None:
        return None
    numbers = numbers + [0] * (_MAX_PARTS - len(numbers))
    return numbers[0], numbers[1], numbers[2]


def parse_version(value: Any) -> Optional[Version]:
    """``value`` as ``(major, minor, patch)``, or None when it is not a version."""
    if isinstance(value, bool) or value is None:
        return None
    return _parse(value if isinstance(value, str) else str(value))


def _wildcard(text: str) -> Optional[tuple[Version, Version]]:
    """``1.2.*`` (or ``1.2``) → [1.2.0, 1.3.0); ``1.*`` → [1.0.0, 2.0.0); ``1.2.3`` → [1.2.3, 1.2.4).

    Parts that are ``*`` or empty are left out, as 7.x does: ``1..2`` reads as ``1.2``, ``.2.3``
    as ``2.3``."""
    kept = [part for part in text.strip().split(".") if part.strip() not in ("*", "")]
    if not kept:
        return None
    numbers = _parts(".".join(kept), suffixes=False)
    if numbers is None:
        return None
    given = len(numbers)
    lower = numbers + [0] * (_MAX_PARTS - given)
    upper = [*numbers[: given - 1], numbers[given - 1] + 1] + [0] * (_MAX_PARTS - given)
    return (lower[0], lower[1], lower[2]), (upper[0], upper[1], upper[2])


def _bounds(operator: Operator, wanted: Version) -> tuple[Version, Version]:
    major, minor, patch = wanted
    if operator is Operator.SEMVER_TILDE:
        return wanted, (major, minor + 1, 0)
    # caret: the left-most non-zero part may not change
    if major > 0:
        return wanted, (major + 1, 0, 0)
    if minor > 0:
        return wanted, (0, minor + 1, 0)
    return wanted, (0, 0, patch + 1)


def match_semver(operator: Operator, filter_value: Any, value: Any) -> Optional[bool]:
    """A semver filter against a property value; None when either is not a version."""
    version = parse_version(value)
    if version is None:
        return None
    if operator is Operator.SEMVER_WILDCARD:
        bounds = _wildcard(str(filter_value)) if not isinstance(filter_value, bool) else None
        if bounds is None:
            return None
        return bounds[0] <= version < bounds[1]
    wanted = parse_version(filter_value)
    if wanted is None:
        return None
    if operator is Operator.SEMVER_EQ:
        return version == wanted
    if operator is Operator.SEMVER_NEQ:
        return version != wanted
    if operator is Operator.SEMVER_GT:
        return version > wanted
    if operator is Operator.SEMVER_GTE:
        return version >= wanted
    if operator is Operator.SEMVER_LT:
        return version < wanted
    if operator is Operator.SEMVER_LTE:
        return version <= wanted
    lower, upper = _bounds(operator, wanted)
    return lower <= version < upper


def match_affix(operator: Operator, filter_value: Any, value: Any) -> Optional[bool]:
    """``starts_with`` / ``ends_with`` and their negations, ignoring case (lower-cased); None
    for a value JSON cannot spell."""
    try:
        text = (value if isinstance(value, str) else json_text(value)).lower()
        affix = (filter_value if isinstance(filter_value, str) else json_text(filter_value)).lower()
    except (TypeError, ValueError):
        return None
    if operator is Operator.STARTS_WITH:
        return text.startswith(affix)
    if operator is Operator.ENDS_WITH:
        return text.endswith(affix)
    if operator is Operator.NOT_STARTS_WITH:
        return not text.startswith(affix)
    return not text.endswith(affix)


#: JSON's spelling of a value, TypeError/ValueError for one it cannot spell (``inf`` too):
#: ``json.dumps(value, ensure_ascii=False, allow_nan=False)``, without making an encoder per call
json_text: Final[Callable[[Any], str]] = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode

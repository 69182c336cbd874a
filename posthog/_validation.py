"""Argument checks at the call site: each failure names the argument and the type it got."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

from .exceptions import InvalidTypeError

__all__ = ["ID_TYPES", "require_id", "require_mapping", "require_optional_id", "require_str"]

# 3.x accepts any number (bool included), str and UUID as an id.
ID_TYPES: Final = (numbers.Number, str, UUID)
_ID_NAMES: Final = "str, int, float or UUID"


def _got(value: object) -> str:
    return f"{type(value).__name__} ({value!r:.60})"


def require_id(name: str, value: object) -> None:
    """Raise unless ``value`` can be used as a distinct id / group key."""
    # Fast path: by far the most common cases (numbers.Number's isinstance is an ABC check).
    if type(value) is str or type(value) is int:
        return
    if not isinstance(value, ID_TYPES):
        raise InvalidTypeError(f"{name} must be {_ID_NAMES}, got {_got(value)}")


def require_optional_id(name: str, value: object) -> None:
    """Like :func:`require_id` but ``None`` is allowed."""
    if value is not None:
        require_id(name, value)


def require_str(name: str, value: object) -> None:
    """Raise unless ``value`` is a ``str``."""
    if type(value) is not str and not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be str, got {_got(value)}")


def require_mapping(name: str, value: object) -> None:
    """Raise unless ``value`` is a mapping (``dict`` or any ``collections.abc.Mapping``)."""
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidTypeError(f"{name} must be a dict, got {_got(value)}")


def optional_mapping(name: str, value: Any) -> Mapping[str, Any]:
    """Validate an optional mapping argument; ``None`` (or a falsy value, as 3.x) becomes ``{}``."""
    if value is None:
        return {}
    require_mapping(name, value)
    return value  # type: ignore[no-any-return]

"""3.x ``posthog.utils`` names, kept for code that imported them (thin re-exports and shims)."""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from ._serialize import clean
from .request import remove_trailing_slash

__all__ = [
    "SizeLimitedDict",
    "clean",
    "convert_to_datetime_aware",
    "guess_timezone",
    "is_naive",
    "is_valid_regex",
    "remove_trailing_slash",
    "str_icontains",
    "str_iequals",
    "total_seconds",
]


def is_naive(dt: datetime) -> bool:
    """Whether ``dt`` has no usable timezone."""
    return dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None


def total_seconds(delta: timedelta) -> float:
    """``delta`` in seconds."""
    return delta.total_seconds()


def guess_timezone(dt: datetime) -> datetime:
    """Give a naive ``dt`` the UTC zone (this library never guesses local time)."""
    return dt.replace(tzinfo=timezone.utc) if is_naive(dt) else dt


def convert_to_datetime_aware(date_obj: datetime) -> datetime:
    """``date_obj`` with UTC attached when it is naive."""
    return guess_timezone(date_obj)


def is_valid_regex(value: str) -> bool:
    """Whether ``value`` compiles as a Python regular expression."""
    try:
        re.compile(value)
    except (re.error, TypeError):
        return False
    return True


def str_icontains(source: Any, search: Any) -> bool:
    """Case-insensitive substring test on the text of both values."""
    return str(search).casefold() in str(source).casefold()


def str_iequals(value: Any, comparand: Any) -> bool:
    """Case-insensitive equality of the text of both values."""
    return str(value).casefold() == str(comparand).casefold()


class SizeLimitedDict(OrderedDict):  # type: ignore[type-arg]
    """A dict of at most ``max_size`` keys; the least recently inserted key goes first."""

    def __init__(self, max_size: int, default_factory: Optional[Callable[[], Any]] = None) -> None:
        super().__init__()
        self.max_size = max_size
        self.default_factory = default_factory

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self and len(self) >= self.max_size:
            self.popitem(last=False)
        super().__setitem__(key, value)

    def __missing__(self, key: Any) -> Any:
        if self.default_factory is None:
            raise KeyError(key)
        value = self.default_factory()
        self[key] = value
        return value

"""Bounded polling helpers for tests, in place of sleep-and-hope."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for_value", "wait_until"]

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 2.0,
    interval: float = 0.005,
    message: str | None = None,
) -> None:
    """Poll ``predicate`` until it is truthy; raise AssertionError after ``timeout`` seconds."""
    wait_for_value(predicate, timeout, interval, message)


def wait_for_value(
    fn: Callable[[], T],
    timeout: float = 2.0,
    interval: float = 0.005,
    message: str | None = None,
) -> T:
    """Poll ``fn`` until it returns a truthy value and return that value; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = message or f"{getattr(fn, '__qualname__', fn)!s} stayed falsy"
            raise AssertionError(f"timed out after {timeout}s: {detail} (last value: {value!r})")
        time.sleep(min(interval, remaining))

"""Provider streams passed through unchanged, reported once when they end.

The wrapper keeps the provider's contract: iteration, ``with`` / ``async with``, ``close()`` /
``aclose()``, and every other attribute (``response``...) reach the provider's object, and the
wrapper's class is a subclass of the provider's (made once per class), so ``isinstance`` holds
even for SDKs whose stream classes check it in their own way. Each item is shown to ``on_item``
(which must not change it); ``on_end(error)`` runs once: when the stream is exhausted, fails, is
closed, is left through ``with``, or is garbage-collected unfinished.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, Optional

__all__ = ["TrackedAsyncStream", "TrackedStream", "track"]

log = logging.getLogger("posthog")

OnItem = Callable[[Any], None]
OnEnd = Callable[[Optional[BaseException]], None]

_OWN = frozenset({"_inner", "_on_item", "_on_end", "_iterator", "_ended"})
_classes: dict[tuple[type, bool], type] = {}
_classes_lock = threading.Lock()


class _Tracked:
    def __init__(self, inner: Any, on_item: OnItem, on_end: OnEnd) -> None:
        self._inner = inner
        self._on_item = on_item
        self._on_end = on_end
        self._iterator: Any = None
        self._ended = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in _OWN:
            raise AttributeError(name)
        return getattr(self._inner, name)

    def _seen(self, item: Any) -> None:
        try:
            self._on_item(item)
        except Exception:  # our bookkeeping must never break the user's stream
            log.debug("could not record a stream item", exc_info=True)

    def _end(self, error: Optional[BaseException]) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            self._on_end(error)
        except Exception:
            log.warning("could not report a finished stream", exc_info=True)

    def __del__(self) -> None:
        if sys.is_finalizing():  # nothing can be sent any more
            return
        try:
            self._end(None)
        except Exception:  # pragma: no cover - a half-built object
            pass


class TrackedStream(_Tracked):
    """A synchronous provider stream, reported once."""

    def __iter__(self) -> TrackedStream:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._inner)
        try:
            item = next(self._iterator)
        except StopIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._seen(item)
        return item

    def __enter__(self) -> TrackedStream:
        enter = getattr(self._inner, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            exit_ = getattr(self._inner, "__exit__", None)
            return exit_(*exc_info) if exit_ is not None else None
        finally:
            self._end(exc_info[1])

    def close(self) -> None:
        """Close the provider's stream (and report it)."""
        try:
            self._inner.close()
        finally:
            self._end(None)


class TrackedAsyncStream(_Tracked):
    """An asynchronous provider stream, reported once."""

    def __aiter__(self) -> TrackedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._inner.__aiter__()
        try:
            item = await self._iterator.__anext__()
        except StopAsyncIteration:
            self._end(None)
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._seen(item)
        return item

    async def __aenter__(self) -> TrackedAsyncStream:
        enter = getattr(self._inner, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            exit_ = getattr(self._inner, "__aexit__", None)
            return (await exit_(*exc_info)) if exit_ is not None else None
        finally:
            self._end(exc_info[1])

    async def close(self) -> None:
        """Close the provider's stream (and report it)."""
        try:
            await self._inner.close()
        finally:
            self._end(None)

    async def aclose(self) -> None:
        """Close the provider's stream (and report it)."""
        try:
            closer = getattr(self._inner, "aclose", None) or self._inner.close
            await closer()
        finally:
            self._end(None)


def _tracked_class(base: type, asynchronous: bool) -> type:
    """Our stream behaviour over the provider's stream class (a subclass, for ``isinstance``)."""
    key = (base, asynchronous)
    cls = _classes.get(key)
    if cls is None:
        mixin = TrackedAsyncStream if asynchronous else TrackedStream
        try:
            cls = type(mixin.__name__, (mixin, base), {"__module__": mixin.__module__})
        except TypeError:  # a class that cannot be subclassed: the plain wrapper still works
            cls = mixin
        with _classes_lock:
            _classes.setdefault(key, cls)
    return cls


def track(inner: Any, on_item: OnItem, on_end: OnEnd, *, asynchronous: bool = False) -> Any:
    """Wrap the provider's stream ``inner``; the result is an instance of ``inner``'s class."""
    cls = _tracked_class(type(inner), asynchronous)
    wrapped: Any = object.__new__(cls)
    _Tracked.__init__(wrapped, inner, on_item, on_end)
    return wrapped

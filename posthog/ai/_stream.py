"""Provider streams passed through unchanged, reported once when they end.

The wrapper keeps the provider's contract: iteration, ``with`` / ``async with``, ``close()`` /
``aclose()``, and every other attribute (``response``...) reach the provider's object, and
``isinstance`` sees the provider's class. Each item is shown to ``on_item`` (which must not
change it); ``on_end(error)`` runs once: when the stream is exhausted, fails, is closed, is left
through ``with``, or is garbage-collected unfinished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Optional

__all__ = ["TrackedAsyncStream", "TrackedStream"]

log = logging.getLogger("posthog")

OnItem = Callable[[Any], None]
OnEnd = Callable[[Optional[BaseException]], None]


class _Tracked:
    __slots__ = ("_ended", "_inner", "_iterator", "_on_end", "_on_item")

    def __init__(self, inner: Any, on_item: OnItem, on_end: OnEnd) -> None:
        self._inner = inner
        self._on_item = on_item
        self._on_end = on_end
        self._iterator: Any = None
        self._ended = False

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(wrapped, openai.Stream) stays true
        return type(self._inner)

    def __getattr__(self, name: str) -> Any:
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
        try:
            self._end(None)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class TrackedStream(_Tracked):
    """A synchronous provider stream, reported once."""

    __slots__ = ()

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

    __slots__ = ()

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

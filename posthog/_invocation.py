"""Per-invocation delivery: flush a client, within a deadline, when a handler or a task returns.

    @posthog.flush_after(timeout=2)
    def handler(event, context): ...

    with posthog.scope_flush(timeout=2):
        run_task()

Serverless runtimes freeze the process between invocations and Celery-style workers may never
reach interpreter exit, so the background consumer may not get to send what a call captured.
On exit, the scope flushes (never rebuilding the client nor stopping its threads, so warm
invocations reuse them) and logs how many events are still pending if the deadline passed.
Those stay queued for the next flush; events that are finally dropped reach ``on_error``.
"""

from __future__ import annotations

import functools
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Final, Optional, TypeVar, cast

from ._package import facade

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ScopeFlush", "flush_after", "scope_flush"]

log = logging.getLogger("posthog")

DEFAULT_TIMEOUT: Final = 2.0

F = TypeVar("F", bound=Callable[..., Any])


class ScopeFlush:
    """Context manager (sync and async) and decorator that flushes a client on exit.

    After exit, ``pending`` is the number of events still unsent (0: all delivered) and
    ``elapsed`` the seconds the flush took.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, client: Optional[Client] = None) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
        self.timeout = float(timeout)
        self.client = client
        self.pending = 0
        self.elapsed = 0.0

    def _target(self) -> Optional[Client]:
        if self.client is not None:
            return self.client
        # The facade imports this module: look the default client up lazily, and only a client
        # that already exists (flushing must never create one).
        return facade().default_client  # type: ignore[no-any-return]

    def flush(self) -> int:
        """Flush now within the deadline; returns (and stores) the number still pending. Never raises."""
        client = self._target()
        started = time.monotonic()
        pending = 0
        if client is not None:
            try:
                pending = client.flush(self.timeout)
            except Exception:  # runs on the way out of user code: it must not replace its outcome
                log.exception("flush at the end of the scope failed")
                pending = 0
        self.elapsed = time.monotonic() - started
        self.pending = pending
        if pending:
            log.warning(
                "scope_flush: %d event(s) still pending after %.1fs; they stay queued for the next "
                "flush (events finally dropped are reported to on_error)",
                pending,
                self.timeout,
            )
        return pending

    def __enter__(self) -> ScopeFlush:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.flush()

    async def __aenter__(self) -> ScopeFlush:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        # Off the event loop: a slow flush must not stall the loop's other tasks.
        import asyncio  # only async users pay for importing it

        await asyncio.get_running_loop().run_in_executor(None, self.flush)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (sync or async): every call runs in a fresh scope with these settings."""
        timeout, client = self.timeout, self.client
        import inspect  # at decoration time, not at `import posthog`

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with ScopeFlush(timeout, client):
                    return await func(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with ScopeFlush(timeout, client):
                return func(*args, **kwargs)

        return cast(F, wrapper)


def scope_flush(timeout: float = DEFAULT_TIMEOUT, client: Optional[Client] = None) -> ScopeFlush:
    """Flush ``client`` (default: ``posthog.default_client``, if created) when the block exits.

    Usable as ``with``, ``async with`` or a decorator. Waits at most ``timeout`` seconds.
    """
    return ScopeFlush(timeout, client)


def flush_after(timeout: float = DEFAULT_TIMEOUT, client: Optional[Client] = None) -> Callable[[F], F]:
    """Decorator: flush ``client`` (default: ``posthog.default_client``) after each call of the function.

    Works on plain and ``async`` functions; the function's result and exceptions pass through.
    """
    return ScopeFlush(timeout, client)

"""Request contexts: who an event is about, and what to tag it with, without passing ids around.

A context lives in a :mod:`contextvars` variable, so each asyncio task and each thread has its own,
``asyncio.create_task`` and ``asyncio.to_thread`` carry it, and ``loop.run_in_executor`` or a new
``threading.Thread`` do not (Python's rule): wrap such a callable with :func:`carry`.

Inside a context the event calls may leave out the distinct id: the context's is used, or the
event is personless (a random id and ``$process_person_profile: false``) when it has none.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional, Protocol, TypeVar, cast

__all__ = [
    "ClientBase",
    "carry",
    "get_context_distinct_id",
    "get_context_session_id",
    "get_tags",
    "identify_context",
    "new_context",
    "scoped",
    "set_context_device_id",
    "set_context_session",
    "tag",
]

log = logging.getLogger("posthog")

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__posthog_captured__"


class ClientBase(Protocol):
    """What a context needs of a client (``Posthog`` and ``AsyncPosthog`` are ones)."""

    enable_exception_autocapture: bool

    def capture_exception(self, exception: Any = None) -> Any:
        """Capture ``exception`` as ``$exception``."""


#: The facade's default client, if it exists or the module settings can make one; set by
#: :mod:`posthog._default_client` (this module imports nothing of the SDK's).
def _no_default_client() -> Optional[ClientBase]:
    return None


default_client_lookup: Callable[[], Optional[ClientBase]] = _no_default_client


class Context:
    """One context's state (a child copies its parent's when it opens, unless ``fresh``)."""

    __slots__ = ("capture_exceptions", "client", "device_id", "distinct_id", "session_id", "tags")

    def __init__(
        self,
        parent: Optional[Context],
        fresh: bool,
        capture_exceptions: Optional[bool],
        client: Optional[ClientBase],
    ) -> None:
        inherit = parent if parent is not None and not fresh else None
        self.distinct_id: Optional[str] = inherit.distinct_id if inherit else None
        self.session_id: Optional[str] = inherit.session_id if inherit else None
        self.device_id: Optional[str] = inherit.device_id if inherit else None
        self.tags: dict[str, Any] = dict(inherit.tags) if inherit else {}
        self.capture_exceptions = capture_exceptions
        self.client: Optional[ClientBase] = (
            client if client is not None else (parent.client if parent is not None else None)
        )


_current: contextvars.ContextVar[Optional[Context]] = contextvars.ContextVar("posthog_context", default=None)


def current() -> Optional[Context]:
    """The context in force, or None."""
    return _current.get()


@contextmanager
def new_context(
    fresh: bool = False, capture_exceptions: Optional[bool] = None, client: Optional[ClientBase] = None
) -> Iterator[Context]:
    """Open a context for the ``with`` block; ``fresh=True`` does not inherit the enclosing one.

    An exception leaving the block is captured once (with the context's ids and tags) when
    ``capture_exceptions`` is true, or None and the client has ``enable_exception_autocapture``;
    it is re-raised unchanged.
    """
    context = Context(_current.get(), fresh, capture_exceptions, client)
    token = _current.set(context)
    try:
        yield context
    except BaseException as exc:
        if isinstance(exc, Exception):
            _capture_once(context, exc)
        raise
    finally:
        _current.reset(token)


def scoped(
    fresh: bool = False, capture_exceptions: Optional[bool] = None, client: Optional[ClientBase] = None
) -> Callable[[F], F]:
    """Decorator (called with parentheses): run the function, sync or async, in a new context."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with new_context(fresh=fresh, capture_exceptions=capture_exceptions, client=client):
                    return await fn(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with new_context(fresh=fresh, capture_exceptions=capture_exceptions, client=client):
                return fn(*args, **kwargs)

        return cast(F, run)

    return decorate


def identify_context(distinct_id: Any) -> None:
    """Set the context's distinct id (does nothing outside a context)."""
    context = _current.get()
    if context is not None and distinct_id is not None:
        context.distinct_id = str(distinct_id)


def set_context_session(session_id: Any) -> None:
    """Set the context's session id: events inside carry it as ``$session_id``."""
    context = _current.get()
    if context is not None and session_id is not None:
        context.session_id = str(session_id)


def set_context_device_id(device_id: Any) -> None:
    """Set the context's device id (sent with remote flag requests made inside)."""
    context = _current.get()
    if context is not None and device_id is not None:
        context.device_id = str(device_id)


def tag(name: str, value: Any) -> None:
    """Add a property to every event captured inside the context (the call's properties win)."""
    context = _current.get()
    if context is not None:
        context.tags[name] = value


def get_tags() -> dict[str, Any]:
    """The tags in force (inherited ones included); empty outside a context."""
    context = _current.get()
    return dict(context.tags) if context is not None else {}


def get_context_distinct_id() -> Optional[str]:
    """The context's distinct id, if any."""
    context = _current.get()
    return context.distinct_id if context is not None else None


def get_context_session_id() -> Optional[str]:
    """The context's session id, if any."""
    context = _current.get()
    return context.session_id if context is not None else None


def carry(fn: F) -> F:
    """``fn`` bound to the current context, for ``run_in_executor`` or a new ``Thread``:
    ``loop.run_in_executor(None, posthog.contexts.carry(work))``."""
    snapshot = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return snapshot.copy().run(fn, *args, **kwargs)

    return cast(F, run)


def _capture_once(context: Context, exc: Exception) -> None:
    """Capture ``exc`` as ``$exception`` inside ``context`` unless an inner context did."""
    try:
        if getattr(exc, _MARK, False):
            return
        client = context.client if context.client is not None else default_client_lookup()
        wanted = context.capture_exceptions
        if wanted is None:
            wanted = bool(client is not None and client.enable_exception_autocapture)
        if not wanted or client is None:
            return
        client.capture_exception(exc)
        try:
            setattr(exc, _MARK, True)
        except Exception:  # an exception type without a __dict__: may be captured again outside
            pass
    except Exception:  # never replace the user's exception with ours
        log.debug("could not capture an exception leaving a context", exc_info=True)

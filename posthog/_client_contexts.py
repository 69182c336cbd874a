"""Request contexts as client methods (upstream 7.x names); the state lives in :mod:`posthog.contexts`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional, TypeVar, cast

from . import contexts

__all__ = ["ContextMethods"]

F = TypeVar("F", bound=Callable[..., Any])


class ContextMethods:
    """``new_context``, ``scoped``, ``identify_context``, ``set_context_session``,
    ``set_context_device_id``, ``tag`` and ``get_tags``, bound to this client."""

    @contextmanager
    def new_context(
        self, fresh: bool = False, capture_exceptions: Optional[bool] = None
    ) -> Iterator[contexts.Context]:
        """Open a context whose exceptions, if captured, go to this client."""
        with contexts.new_context(fresh, capture_exceptions, client=self._as_client()) as context:
            yield context

    def scoped(self, fresh: bool = False, capture_exceptions: Optional[bool] = None) -> Callable[[F], F]:
        """Decorator: run the function in a new context of this client."""
        return contexts.scoped(fresh, capture_exceptions, client=self._as_client())

    def _as_client(self) -> contexts.ClientBase:
        return cast(contexts.ClientBase, self)  # mixed into the clients, which have what it needs

    @staticmethod
    def identify_context(distinct_id: Any) -> None:
        """Set the context's distinct id."""
        contexts.identify_context(distinct_id)

    @staticmethod
    def set_context_session(session_id: Any) -> None:
        """Set the context's session id."""
        contexts.set_context_session(session_id)

    @staticmethod
    def set_context_device_id(device_id: Any) -> None:
        """Set the context's device id."""
        contexts.set_context_device_id(device_id)

    @staticmethod
    def tag(name: str, value: Any) -> None:
        """Tag every event captured inside the context."""
        contexts.tag(name, value)

    @staticmethod
    def get_tags() -> dict[str, Any]:
        """The tags in force."""
        return contexts.get_tags()

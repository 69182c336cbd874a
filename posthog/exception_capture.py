"""Exception autocapture: excepthooks that report uncaught exceptions, plus framework integrations.

Differences from posthog 3.x (``spec/weaknesses.md`` §B 18): the thread hook
chains to the hook it replaced, so thread tracebacks are still printed; both
hooks are restored by ``close()``; several clients chain instead of
overwriting each other.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, Mapping
from enum import Enum
from types import TracebackType
from typing import Any, Callable, Protocol, Union

from .exception_utils import ExcInfo

__all__ = ["ExceptionCapture", "Integrations"]

log = logging.getLogger("posthog")

_SysHook = Callable[[type[BaseException], BaseException, Union[TracebackType, None]], Any]
_ThreadHook = Callable[[Any], Any]


class Integrations(str, Enum):
    """Framework integrations that exception autocapture can enable."""

    Django = "django"


class _CapturingClient(Protocol):
    def capture_exception(
        self,
        exception: Any = None,
        distinct_id: Any = None,
        properties: dict[str, Any] | None = None,
    ) -> Any: ...


class _Uninstallable(Protocol):
    def uninstall(self) -> None: ...


class _SysExceptHook:
    """``sys.excepthook`` replacement: report, then always run the hook it replaced."""

    def __init__(self, owner: ExceptionCapture, previous: _SysHook) -> None:
        self.owner: ExceptionCapture | None = owner
        self.previous = previous

    def __call__(
        self, exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType | None
    ) -> None:
        owner = self.owner
        try:
            if owner is not None:
                owner.exception_handler(exc_type, exc_value, tb)
        finally:
            self.previous(exc_type, exc_value, tb)


class _ThreadExceptHook:
    """``threading.excepthook`` replacement: report, then always run the hook it replaced."""

    def __init__(self, owner: ExceptionCapture, previous: _ThreadHook) -> None:
        self.owner: ExceptionCapture | None = owner
        self.previous = previous

    def __call__(self, args: Any) -> None:
        owner = self.owner
        try:
            if owner is not None:
                owner.thread_exception_handler(args)
        finally:
            self.previous(args)


def _unwrap(hook: Any) -> Any:
    """Skip hooks left in a chain by captures that were closed while not on top."""
    while isinstance(hook, (_SysExceptHook, _ThreadExceptHook)) and hook.owner is None:
        hook = hook.previous
    return hook


class ExceptionCapture:
    """Report uncaught exceptions of the main thread and of other threads to ``client``.

    Installed by ``Client(enable_exception_autocapture=True)``; ``close()`` is
    called by ``Client.shutdown()``.
    """

    def __init__(
        self,
        client: _CapturingClient,
        integrations: Iterable[Integrations | str] | None = None,
    ) -> None:
        self.client = client
        self._closed = False
        self._sys_hook = _SysExceptHook(self, _unwrap(sys.excepthook))
        self._thread_hook = _ThreadExceptHook(self, _unwrap(threading.excepthook))
        sys.excepthook = self._sys_hook
        threading.excepthook = self._thread_hook
        self.enabled_integrations: list[_Uninstallable] = []
        for integration in integrations or ():
            self._enable(integration)

    def _enable(self, integration: Integrations | str) -> None:
        if integration == Integrations.Django:
            try:
                from .exception_integrations.django import DjangoIntegration

                self.enabled_integrations.append(DjangoIntegration(self.exception_receiver))
            except Exception as e:  # a missing or too old Django must not break the client
                log.error("Failed to enable Django integration: %s", e)
        else:
            log.warning("Unknown exception autocapture integration %r; ignored", integration)

    def exception_handler(
        self, exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType | None
    ) -> None:
        """Report an exception that reached ``sys.excepthook``."""
        if issubclass(exc_type, KeyboardInterrupt):
            return  # Ctrl+C is the user stopping the program, not an error
        self.capture_exception((exc_type, exc_value, tb))

    def thread_exception_handler(self, args: Any) -> None:
        """Report an exception that ended a thread (``threading.excepthook`` arguments)."""
        exc_type = getattr(args, "exc_type", None)
        exc_value = getattr(args, "exc_value", None)
        if exc_value is None or exc_type is None or issubclass(exc_type, SystemExit):
            return  # threading ignores SystemExit too
        self.capture_exception((exc_type, exc_value, getattr(args, "exc_traceback", None)))

    def exception_receiver(
        self,
        exc_info: ExcInfo,
        distinct_id: Any = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Callback for integrations: report ``exc_info`` with what the framework knows."""
        self.capture_exception(exc_info, distinct_id, properties)

    def capture_exception(
        self,
        exc_info: ExcInfo,
        distinct_id: Any = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Send ``exc_info`` through the client; never raises."""
        if self._closed:
            return
        try:
            self.client.capture_exception(
                exc_info, distinct_id=distinct_id, properties=dict(properties) if properties else None
            )
        except Exception:  # boundary: we run inside excepthooks and framework signals
            log.exception("Failed to capture exception")

    def close(self) -> None:
        """Restore the hooks this capture replaced and uninstall integrations. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._sys_hook.owner = None
        self._thread_hook.owner = None
        # Only put the old hook back if ours is still on top; otherwise someone wrapped ours,
        # and the now inert hook simply passes through (and is skipped by later captures).
        if sys.excepthook is self._sys_hook:
            sys.excepthook = _unwrap(self._sys_hook.previous)
        if threading.excepthook is self._thread_hook:
            threading.excepthook = _unwrap(self._thread_hook.previous)
        for integration in self.enabled_integrations:
            try:
                integration.uninstall()
            except Exception:  # an integration failing to uninstall must not stop shutdown
                log.exception("Failed to uninstall exception integration %r", integration)
        self.enabled_integrations = []

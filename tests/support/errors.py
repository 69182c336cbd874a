"""An ``on_error`` callback for tests: keeps every call, in order, from any thread."""

from __future__ import annotations

import threading
from typing import Any

from posthog import DropReason
from tests.support.waiting import wait_until

__all__ = ["ErrorLog"]


class ErrorLog:
    """Records ``(error, messages)`` per ``on_error`` call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Exception, list[Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, error: Exception, batch: Any) -> None:
        with self._lock:
            self.calls.append((error, list(batch)))

    def wait(self, n: int = 1, timeout: float = 5.0) -> list[tuple[Exception, list[Any]]]:
        """Wait for ``n`` calls; return them all."""
        wait_until(lambda: len(self.calls) >= n, timeout=timeout, message=f"{n} on_error call(s)")
        return self.calls

    def events(self, reason: DropReason) -> list[str]:
        """The names of the events reported dropped for ``reason``, in report order."""
        return [
            m["event"]
            for error, batch in self.calls
            if getattr(error, "reason", None) is reason
            for m in batch
        ]

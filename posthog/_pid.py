"""What belongs to this process: its id without a system call (``PID``), and objects made once
per process (:class:`PerProcess`).

``os.getpid()`` is a system call (about 130 ns in a VM): too dear for every flag call. Forked
children get the new id from an ``os.register_at_fork`` hook, the same hook every other
after-fork renewal of the SDK relies on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, Optional, TypeVar

__all__ = ["PID", "PerProcess"]

#: this process's id (read it as ``_pid.PID``: a name imported by value would not see a fork)
PID: int = os.getpid()

T = TypeVar("T")


def _renew() -> None:
    global PID
    PID = os.getpid()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_renew)


class PerProcess(Generic[T]):
    """One ``T`` per process, made by ``make`` on first use. A forked child makes its own: the
    parent's threads do not exist there, and a lock one of them held stays held. ``forget`` is
    called in the child with the parent's object, if there was one."""

    def __init__(self, make: Callable[[], T], forget: Optional[Callable[[T], None]] = None) -> None:
        self._make = make
        self._forget = forget
        self._value: Optional[T] = None
        self._pid = -1
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
            os.register_at_fork(after_in_child=self._after_fork)

    def get(self) -> T:
        """This process's object (made now if it has none)."""
        value, pid = self._value, os.getpid()  # rare calls: checked even if a fork skipped hooks
        if value is not None and self._pid == pid:
            return value
        with self._lock:
            if self._value is None or self._pid != pid:
                self._value, self._pid = self._make(), pid
            return self._value

    def _after_fork(self) -> None:
        parents, self._value = self._value, None
        self._lock = threading.Lock()
        if parents is not None and self._forget is not None:
            self._forget(parents)

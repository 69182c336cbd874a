"""The current process id without a system call per read: ``PID``, renewed in forked children.

``os.getpid()`` is a system call (about 130 ns in a VM): too dear for every flag call. Forked
children get the new id from an ``os.register_at_fork`` hook, the same hook every other
after-fork renewal of the SDK relies on.
"""

from __future__ import annotations

import os

__all__ = ["PID"]

#: this process's id (read it as ``_pid.PID``: a name imported by value would not see a fork)
PID: int = os.getpid()


def _renew() -> None:
    global PID
    PID = os.getpid()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_renew)

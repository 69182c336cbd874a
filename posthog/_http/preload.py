"""Import the HTTP stack in the background when a client is created, not when its first batch is due.

``import posthog`` stays light (``requests`` costs tens of milliseconds); a client that will send
starts this import at once, so the first batch leaves within ``flush_interval`` even when the
application captures in a tight loop from its first line.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["preload_http", "start_preload"]

log = logging.getLogger("posthog")

_lock = threading.Lock()
_requested = False  # preload_http ran in this process
#: every import thread started in this process (imports must not be cut short by exit or fork)
_running: list[threading.Thread] = []
_exit_hook = False
#: how long interpreter exit waits for an import still in progress
_EXIT_WAIT = 5.0


def start_preload(target: Callable[..., None], *args: object) -> threading.Thread:
    """Start ``target(*args)`` on a daemon ``posthog.preload`` thread that interpreter exit lets
    finish (bounded): finalizing while a thread is inside an import of C extensions can crash."""
    global _exit_hook
    thread = threading.Thread(target=target, args=args, name="posthog.preload", daemon=True)
    with _lock:
        _running[:] = [t for t in _running if t.is_alive()]
        _running.append(thread)
        if not _exit_hook:
            _exit_hook = True
            register = getattr(threading, "_register_atexit", None)
            try:
                if register is not None:
                    register(_let_imports_finish)  # runs before the interpreter finalizes
            except RuntimeError:  # the interpreter is already shutting down
                pass
    thread.start()
    return thread


def _let_imports_finish() -> None:
    deadline = time.monotonic() + _EXIT_WAIT
    for thread in list(_running):
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


def _import() -> None:
    try:
        import requests  # noqa: F401
    except Exception:  # the first request reports it
        log.debug("could not import requests", exc_info=True)


def preload_http() -> None:
    """Start importing ``requests`` in a daemon thread (once per process; never blocks)."""
    global _requested
    if "requests" in sys.modules or _requested:
        return
    with _lock:
        if _requested:
            return
        _requested = True
    start_preload(_import)


def _before_fork() -> None:
    # A child forked in the middle of an import inherits the import's locks held by a thread
    # that does not exist there; let the imports finish first (a fraction of a second).
    for thread in list(_running):
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(2.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)

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
from typing import Optional

__all__ = ["preload_http"]

log = logging.getLogger("posthog")

_lock = threading.Lock()
_thread: Optional[threading.Thread] = None


def _import() -> None:
    try:
        import requests  # noqa: F401
    except Exception:  # the first request reports it
        log.debug("could not import requests", exc_info=True)


def preload_http() -> None:
    """Start importing ``requests`` in a daemon thread (once per process; never blocks)."""
    global _thread
    if "requests" in sys.modules or _thread is not None:
        return
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import, name="posthog.preload", daemon=True)
            _thread.start()


def _before_fork() -> None:
    # A child forked in the middle of an import inherits the import's locks held by a thread
    # that does not exist there; let the import finish first (it takes a fraction of a second).
    thread = _thread
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join(2.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)

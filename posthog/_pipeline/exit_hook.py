"""One interpreter-exit hook per process that drains every live dispatcher within its deadline.

Every dispatcher starts draining at once; then each is waited for, within its own deadline.

``threading._register_atexit`` also runs in processes started by ``multiprocessing`` (their
bootstrap calls ``threading._shutdown()`` before ``os._exit()``), so workers drain too.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .interface import Pipeline

__all__ = ["register"]

log = logging.getLogger("posthog")

_lock = threading.Lock()
_dispatchers: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_installed = False


def _drain_all() -> None:
    started = time.monotonic()
    dispatchers = list(_dispatchers)
    # Each client gets its own exit deadline, counted from the start of the exit; all of them
    # start draining at once (the engine works on them together), then each is waited for.
    for dispatcher in dispatchers:
        try:
            dispatcher.begin_exit(started + dispatcher.shutdown_timeout)
        except Exception:  # exit must go on whatever one client does
            log.debug("error while draining at exit", exc_info=True)
    for dispatcher in dispatchers:
        try:
            remaining = dispatcher.shutdown_timeout - (time.monotonic() - started)
            dispatcher.shutdown(max(0.0, remaining), exiting=True)
        except Exception:  # exit must go on whatever one client does
            log.debug("error while draining at exit", exc_info=True)


def _install() -> None:
    global _installed
    # threading._register_atexit runs before non-daemon threads are joined, while the engine's
    # daemon threads still run; plain atexit runs later, when they may already be frozen.
    register_early = getattr(threading, "_register_atexit", None)
    if register_early is not None:
        try:
            register_early(_drain_all)
            _installed = True
            return
        except RuntimeError:  # interpreter already shutting down
            pass
    atexit.register(_drain_all)
    _installed = True


def register(dispatcher: Pipeline) -> None:
    """Drain ``dispatcher`` at interpreter exit (weakly held)."""
    with _lock:
        _dispatchers.add(dispatcher)
        if not _installed:
            _install()

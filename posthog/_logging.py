"""``debug=True`` shows the SDK's logging without touching the root logger or the app's levels."""

from __future__ import annotations

import logging
import threading
from typing import Optional

__all__ = ["LoggingState", "restore", "set_debug", "snapshot"]

log = logging.getLogger("posthog")

_lock = threading.Lock()
_handler: Optional[logging.Handler] = None
_previous_level: Optional[int] = None


def set_debug(enabled: bool) -> None:
    """Turn the ``posthog`` logger's debug output on or off."""
    global _handler, _previous_level
    with _lock:
        if enabled:
            if _previous_level is None:
                _previous_level = log.level
            log.setLevel(logging.DEBUG)
            if not log.handlers and _handler is None:
                # Only when the application gave this logger no handler of its own.
                _handler = logging.StreamHandler()
                _handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
                log.addHandler(_handler)
        else:
            if _previous_level is not None:
                log.setLevel(_previous_level)
                _previous_level = None
            if _handler is not None:
                log.removeHandler(_handler)
                _handler = None


LoggingState = tuple[int, list[logging.Handler], bool, bool, Optional[logging.Handler], Optional[int]]


def snapshot() -> LoggingState:
    """Everything ``set_debug`` (and a test) can change on the ``posthog`` logger."""
    with _lock:
        return (log.level, list(log.handlers), log.propagate, log.disabled, _handler, _previous_level)


def restore(state: LoggingState) -> None:
    """Put the ``posthog`` logger back as :func:`snapshot` saw it."""
    global _handler, _previous_level
    with _lock:
        log.setLevel(state[0])
        log.handlers[:] = state[1]
        log.propagate, log.disabled = state[2], state[3]
        _handler, _previous_level = state[4], state[5]

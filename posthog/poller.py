"""A repeating task on a named daemon thread: runs a callable every N seconds, survives its errors."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

__all__ = ["Poller"]

log = logging.getLogger("posthog")


class Poller:
    """Run ``execute(*args, **kwargs)`` now and then every ``interval`` seconds until stopped.

    ``execute`` may return a number of seconds to wait before the next run instead of the
    interval (used to retry sooner after a failure). The interval is counted from the start of
    each run, with a little jitter so that many processes do not poll in step. Exceptions are
    logged and never end the thread.
    """

    def __init__(self, interval: float, execute: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.interval = interval
        self.execute = execute
        self.args = args
        self.kwargs = kwargs
        self.first_delay: float = kwargs.pop("first_delay", 0.0)
        self.jitter: float = kwargs.pop("jitter", 0.1)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="posthog.poller", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def is_alive(self) -> bool:
        """Whether the thread is running."""
        return self.thread.is_alive()

    def run(self) -> None:
        """The thread's loop."""
        delay = self.first_delay
        while not self.stopped.wait(delay):
            started = time.monotonic()
            next_in: Optional[float] = None
            try:
                result = self.execute(*self.args, **self.kwargs)
                if isinstance(result, (int, float)) and not isinstance(result, bool):
                    next_in = float(result)
            except Exception:  # a poll that fails must not end polling
                log.exception("error in the PostHog poller")
            wait = self.interval if next_in is None else next_in
            wait *= 1 + random.uniform(-self.jitter, self.jitter)
            delay = max(0.0, wait - (time.monotonic() - started))

    def stop(self, timeout: Optional[float] = 1.0) -> None:
        """Stop, and wait at most ``timeout`` seconds for the thread to end."""
        self.stopped.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)

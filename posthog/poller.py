"""Repeating tasks (flag definitions polling) run on threads the process shares.

Every client's :class:`Poller` is a timer on one scheduler per process, served by at most
``MAX_POLL_THREADS`` daemon threads named ``posthog.poller``: a process with many clients that
poll definitions does not run a thread per client, and one poll that hangs on a dead host leaves
the other thread to the rest. A forked child gets a fresh scheduler.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Optional

from ._pid import PerProcess

__all__ = ["MAX_POLL_THREADS", "Poller"]

log = logging.getLogger("posthog")

#: Most threads running polls in a process, however many clients poll.
MAX_POLL_THREADS: Final = 2


class Poller:
    """Run ``execute(*args, **kwargs)`` now and then every ``interval`` seconds until stopped.

    ``execute`` may return a number of seconds to wait before the next run instead of the
    interval (used to retry sooner after a failure). The interval is counted from the start of
    each run, with a little jitter so that many processes do not poll in step. Exceptions are
    logged and never end polling.
    """

    def __init__(self, interval: float, execute: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.interval = interval
        self.execute = execute
        self.args = args
        self.kwargs = kwargs
        self.first_delay: float = kwargs.pop("first_delay", 0.0)
        self.jitter: float = kwargs.pop("jitter", 0.1)
        self.stopped = threading.Event()
        self._idle = threading.Event()  # not running a poll right now
        self._idle.set()
        self._scheduler: Optional[_Scheduler] = None
        #: the shared thread that ran (or runs) the latest poll
        self.thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Schedule the first run (after ``first_delay``)."""
        self._scheduler = _scheduler()
        self._scheduler.add(self, time.monotonic() + self.first_delay)

    def is_alive(self) -> bool:
        """Whether polling goes on (started, not stopped, in this process)."""
        scheduler = self._scheduler
        return scheduler is not None and scheduler.pid == os.getpid() and not self.stopped.is_set()

    def run_once(self) -> float:
        """One run; seconds until the next (from the start of this one)."""
        next_in: Optional[float] = None
        try:
            result = self.execute(*self.args, **self.kwargs)
            if isinstance(result, (int, float)) and not isinstance(result, bool):
                next_in = float(result)
        except Exception:  # a poll that fails must not end polling
            log.exception("error in the PostHog poller")
        wait = self.interval if next_in is None else next_in
        return max(0.0, wait * (1 + random.uniform(-self.jitter, self.jitter)))

    def stop(self, timeout: Optional[float] = 1.0) -> None:
        """Stop, and wait at most ``timeout`` seconds for a poll in progress to end."""
        self.stopped.set()
        scheduler = self._scheduler
        if scheduler is not None:
            scheduler.remove(self)
        if self.thread is not threading.current_thread():
            self._idle.wait(timeout)


class _Scheduler:
    """This process's poll timers and the threads that run them."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._timers: list[tuple[float, int, Poller]] = []
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._idle_threads = 0

    def add(self, poller: Poller, when: float) -> None:
        with self._lock:
            if poller.stopped.is_set():
                return
            heapq.heappush(self._timers, (when, next(self._order), poller))
            if not self._idle_threads and len(self._threads) < MAX_POLL_THREADS:
                thread = threading.Thread(target=self._loop, name="posthog.poller", daemon=True)
                self._threads.append(thread)
                thread.start()
            self._wake.notify()

    def remove(self, poller: Poller) -> None:
        """Forget ``poller``'s timer (a stopped poller must not keep its client alive)."""
        with self._lock:
            kept = [entry for entry in self._timers if entry[2] is not poller]
            if len(kept) != len(self._timers):
                heapq.heapify(kept)
                self._timers = kept
            self._wake.notify_all()

    def _next_due(self) -> Poller:
        with self._lock:
            while True:
                now = time.monotonic()
                if self._timers and self._timers[0][0] <= now:
                    poller = heapq.heappop(self._timers)[2]
                    if poller.stopped.is_set():
                        continue
                    poller._idle.clear()
                    poller.thread = threading.current_thread()
                    return poller
                self._idle_threads += 1
                try:
                    self._wake.wait(self._timers[0][0] - now if self._timers else None)
                finally:
                    self._idle_threads -= 1

    def _loop(self) -> None:
        while True:
            poller = self._next_due()
            started = time.monotonic()
            try:
                wait = poller.run_once()
            finally:
                poller._idle.set()
            if not poller.stopped.is_set():
                self.add(poller, started + wait)
            del poller  # a waiting thread must not keep a client alive


_SCHEDULER: Final[PerProcess[_Scheduler]] = PerProcess(_Scheduler)


def _scheduler() -> _Scheduler:
    return _SCHEDULER.get()

"""The bounded FIFO between callers and consumer threads, with what ``flush`` needs to wait on."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Optional

__all__ = ["EventQueue", "QueuedItem"]

#: (sequence number, message dict)
QueuedItem = tuple[int, dict[str, Any]]


class EventQueue:
    """Bounded FIFO of messages. ``put`` never blocks unless asked to; every item gets a sequence number.

    Consumers report which sequence numbers they hold (in flight) and when they let go of them,
    so :meth:`wait_done` can wait for exactly the items put before a given point.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[QueuedItem] = deque()
        self._mutex = threading.Lock()
        self._changed = threading.Condition(self._mutex)  # items acknowledged or space freed
        self._ready = threading.Event()  # set when consumers may find work
        self._seq = 0
        self._space_waiters = 0
        self._wanted = 1  # how many waiting items make it worth waking a consumer
        self._in_flight: dict[int, int] = {}  # holder id -> lowest sequence number it holds

    # --- 3.x-style inspection -----------------------------------------------------------
    def qsize(self) -> int:
        """Messages waiting (not counting batches being sent)."""
        return len(self._items)

    def empty(self) -> bool:
        """True when no message is waiting."""
        return not self._items

    def full(self) -> bool:
        """True when the next ``put`` would be refused."""
        return len(self._items) >= self.maxsize

    # --- producers ------------------------------------------------------------------------
    def put(self, msg: dict[str, Any], wait: Optional[float] = None) -> bool:
        """Append ``msg``; False if the queue stays full (for up to ``wait`` seconds when given)."""
        with self._mutex:
            if len(self._items) >= self.maxsize and (not wait or not self._wait_for_space(wait)):
                return False
            self._seq += 1
            self._items.append((self._seq, msg))
            # Wake a consumer only when it has a use for it: an idle consumer wants the first
            # message, one that is filling a batch wants enough to complete it.
            wake = len(self._items) >= self._wanted
        if wake and not self._ready.is_set():
            self._ready.set()
        return True

    def _wait_for_space(self, wait: float) -> bool:
        deadline = time.monotonic() + wait
        self._space_waiters += 1
        try:
            while len(self._items) >= self.maxsize:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True
        finally:
            self._space_waiters -= 1

    # --- consumers ------------------------------------------------------------------------
    def pop_into(self, holder: int, out: list[dict[str, Any]], limit: int) -> int:
        """Move up to ``limit`` oldest messages into ``out`` (held in flight by ``holder``)."""
        with self._mutex:
            items = self._items
            count = min(limit, len(items))
            if not count:
                return 0
            if holder not in self._in_flight:
                self._in_flight[holder] = items[0][0]
            popleft = items.popleft
            for _ in range(count):
                out.append(popleft()[1])
            if self._space_waiters:
                self._changed.notify_all()
            return count

    def release(self, holder: int) -> None:
        """``holder`` is done with everything it took."""
        with self._mutex:
            self._in_flight.pop(holder, None)
            self._changed.notify_all()

    def wait_ready(self, timeout: Optional[float], wanted: int = 1) -> None:
        """Block until ``wanted`` items may be available, a wake-up, or ``timeout``."""
        self._wanted = max(1, wanted)
        self._ready.clear()
        if len(self._items) >= self._wanted:
            return
        self._ready.wait(timeout)
        self._wanted = 1

    def wake(self) -> None:
        """Wake every consumer waiting in :meth:`wait_ready`."""
        self._ready.set()

    # --- flush support --------------------------------------------------------------------
    def last_seq(self) -> int:
        """The sequence number of the newest item ever put."""
        with self._mutex:
            return self._seq

    def _pending_upto(self, seq: int) -> bool:
        if self._items and self._items[0][0] <= seq:
            return True
        return any(low <= seq for low in self._in_flight.values())

    def wait_done(self, seq: int, timeout: Optional[float]) -> bool:
        """Wait until every item up to ``seq`` has been let go of; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            while self._pending_upto(seq):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                # Woken by every release; the cap only bounds a wait that misses one.
                self._changed.wait(None if remaining is None else min(remaining, 0.5))
            return True

    def drain(self) -> list[QueuedItem]:
        """Remove and return everything still waiting."""
        with self._mutex:
            items = list(self._items)
            self._items.clear()
            self._changed.notify_all()
            return items

"""The bounded FIFO of events (JSON text) between callers and encoders, and the ledger ``flush`` waits on.

Messages are numbered in the order they were put. Whoever takes messages (an encoder, then the
sender) holds a *token* for the lowest number it still carries, until the messages are delivered
or dropped, so :meth:`EventQueue.wait_done` can wait for exactly the messages put before a point.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Final, Optional

__all__ = ["DEFAULT_MAX_QUEUE_BYTES", "EventQueue"]

#: Default bound on the JSON size of the messages waiting in the queue.
DEFAULT_MAX_QUEUE_BYTES: Final = 64 * 1024 * 1024
# Sizes are kept in 64-byte units: for events under 16 KiB the unit count is one of CPython's
# shared small ints, so the byte bound costs a pointer per event, not an int object.
_UNIT: Final = 64


class EventQueue:
    """Bounded FIFO of messages, by count and by estimated bytes; ``put`` never blocks unless asked to."""

    def __init__(self, maxsize: int, maxbytes: int = DEFAULT_MAX_QUEUE_BYTES) -> None:
        self.maxsize = maxsize
        self.maxbytes = maxbytes
        self._max_units = max(1, maxbytes // _UNIT)
        self._items: deque[str] = deque()
        self._units: deque[int] = deque()
        self._total_units = 0
        self._mutex = threading.Lock()
        self._changed = threading.Condition(self._mutex)  # items released or space freed
        #: called (outside the lock, at most once per ``arm``) when enough messages wait
        self.on_ready: Optional[Callable[[], None]] = None
        self._signalled = True  # nobody is waiting for a signal until the first arm()
        self._put = 0  # number of the newest message ever put
        self._taken = 0  # how many messages have left the queue
        self._space_waiters = 0
        self._wanted = 1  # how many waiting items make it worth waking an encoder
        self._holders: dict[int, int] = {}  # token -> lowest message number it still carries

    # --- 3.x-style inspection -----------------------------------------------------------
    def qsize(self) -> int:
        """Messages waiting (not counting those being encoded or sent)."""
        return len(self._items)

    def empty(self) -> bool:
        """True when no message is waiting."""
        return not self._items

    def full(self) -> bool:
        """True when the next ``put`` would be refused for its count."""
        return len(self._items) >= self.maxsize

    @property
    def puts(self) -> int:
        """How many messages were ever put (read without the lock: a hint)."""
        return self._put

    @property
    def nbytes(self) -> int:
        """JSON size of the waiting messages (rounded up to 64-byte steps)."""
        return self._total_units * _UNIT

    # --- producers ------------------------------------------------------------------------
    def put(self, msg: str, size: int = 0, wait: Optional[float] = None) -> Optional[str]:
        """Append ``msg`` (an event's JSON text; ``size``: its length).

        Returns None when queued, or which bound refused it (``"max_queue_size"`` or
        ``"max_queue_bytes"``), after waiting up to ``wait`` seconds for room when given.
        """
        units = size // _UNIT + 1
        with self._mutex:
            refused = self._refusal(units)
            if refused is not None and (not wait or not self._wait_for_space(wait, units)):
                return refused
            self._put += 1
            self._items.append(msg)
            self._units.append(units)
            self._total_units += units
            # Wake the encoder only when it has a use for it: an idle queue's first message,
            # or enough to complete the batch being filled; once per arm().
            wake = not self._signalled and len(self._items) >= self._wanted
            if wake:
                self._signalled = True
        if wake:
            callback = self.on_ready
            if callback is not None:
                callback()
        return None

    def _refusal(self, units: int) -> Optional[str]:
        if len(self._items) >= self.maxsize:
            return "max_queue_size"
        # One message alone is always let in (it was already checked against MAX_MSG_SIZE).
        if self._items and self._total_units + units > self._max_units:
            return "max_queue_bytes"
        return None

    def _wait_for_space(self, wait: float, units: int) -> bool:
        deadline = time.monotonic() + wait
        self._space_waiters += 1
        try:
            while self._refusal(units) is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True
        finally:
            self._space_waiters -= 1

    # --- encoders -------------------------------------------------------------------------
    def take(self, token: int, limit: int, max_bytes: int) -> tuple[list[str], int]:
        """Remove up to ``limit`` oldest messages (stopping past ``max_bytes``), held by ``token``.

        Returns the messages and their size.
        """
        out: list[str] = []
        budget = max(1, max_bytes // _UNIT)
        with self._mutex:
            items, sizes = self._items, self._units
            count = min(limit, len(items))
            if not count:
                return out, 0
            self._holders.setdefault(token, self._taken + 1)
            popleft, pop_size = items.popleft, sizes.popleft
            taken_units = 0
            for _ in range(count):
                out.append(popleft())
                taken_units += pop_size()
                if taken_units >= budget:
                    break
            self._taken += len(out)
            self._total_units -= taken_units
            if self._space_waiters:
                self._changed.notify_all()
        return out, taken_units * _UNIT

    def arm(self, wanted: int) -> int:
        """Ask for one ``on_ready`` call once ``wanted`` messages wait; return how many wait now."""
        with self._mutex:
            self._wanted = max(1, wanted)
            self._signalled = False
            return len(self._items)

    # --- the ledger -----------------------------------------------------------------------
    def hold_like(self, token: int, model: int) -> None:
        """``token`` carries messages from the same point as ``model`` (a chunk split in two)."""
        with self._mutex:
            lowest = self._holders.get(model)
            if lowest is not None:
                self._holders[token] = lowest

    def release(self, token: int) -> None:
        """``token`` is done with everything it carried (delivered or dropped)."""
        with self._mutex:
            if self._holders.pop(token, None) is not None:
                self._changed.notify_all()

    def last_seq(self) -> int:
        """The number of the newest message ever put."""
        with self._mutex:
            return self._put

    def _pending_upto(self, seq: int) -> bool:
        if self._items and self._taken + 1 <= seq:
            return True
        return any(low <= seq for low in self._holders.values())

    def done_upto(self, seq: int) -> bool:
        """Whether every message up to ``seq`` has been delivered or dropped (never blocks)."""
        with self._mutex:
            return not self._pending_upto(seq)

    def wait_done(self, seq: int, timeout: Optional[float]) -> bool:
        """Wait until every message up to ``seq`` has been delivered or dropped; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._mutex:
            while self._pending_upto(seq):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                # Woken by every release; the cap only bounds a wait that misses one.
                self._changed.wait(None if remaining is None else min(remaining, 0.5))
            return True

    def drain(self) -> list[str]:
        """Remove and return everything still waiting."""
        with self._mutex:
            items = list(self._items)
            self._taken += len(items)
            self._items.clear()
            self._units.clear()
            self._total_units = 0
            self._changed.notify_all()
            return items

    def forget_holders(self) -> None:
        """Release every token (after the rest was reported lost at a deadline)."""
        with self._mutex:
            self._holders.clear()
            self._changed.notify_all()

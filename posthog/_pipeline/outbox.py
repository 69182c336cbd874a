"""Encoded events on their way to PostHog: waiting, being sent, or held through an outage.

Encoders append :class:`Chunk` objects (a JSON array of events, encoded once); the sender takes
chunks from the head, several at a time up to the body limit, and keeps them until the server
accepts them. The outbox is bounded by bytes and by age: past either bound the oldest chunks are
handed back to be reported as dropped, so an outage costs bounded memory and never blocks callers.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Optional

__all__ = [
    "DEFAULT_RETRY_BUFFER_AGE",
    "DEFAULT_RETRY_BUFFER_BYTES",
    "Chunk",
    "Outbox",
    "count_events",
    "decode",
    "join_arrays",
]

#: Default bound on the encoded events waiting to be sent or re-sent.
DEFAULT_RETRY_BUFFER_BYTES: Final = 64 * 1024 * 1024
#: Default age (seconds) past which an event still not delivered is dropped.
DEFAULT_RETRY_BUFFER_AGE: Final = 30 * 60.0


class Chunk:
    """A JSON array of ``count`` encoded events, and the ledger token that tracks them.

    ``size`` is the array's length as JSON; a chunk that waits behind others is compressed
    (``packed``) so a backlog or an outage costs a fraction of its size in memory.
    """

    __slots__ = ("count", "created", "data", "packed", "size", "token")

    def __init__(self, array: bytes, count: int, token: int, created: Optional[float] = None) -> None:
        self.data = array
        self.size = len(array)
        self.packed = False
        self.count = count
        self.token = token
        self.created = time.monotonic() if created is None else created

    def __len__(self) -> int:
        """Bytes held in memory."""
        return len(self.data)

    def pack(self) -> None:
        """Compress the array in memory (zlib works without the GIL)."""
        if not self.packed:
            self.data = zlib.compress(self.data, 1)
            self.packed = True

    def array(self) -> bytes:
        """The JSON array."""
        return zlib.decompress(self.data) if self.packed else self.data

    def messages(self) -> list[dict[str, Any]]:
        """The events as dicts again (only for reports and splits: rare paths)."""
        try:
            decoded = json.loads(self.array())
        except (ValueError, zlib.error):
            return []
        return decoded if isinstance(decoded, list) else []


def decode(texts: Iterable[str]) -> list[dict[str, Any]]:
    """Events' JSON text as dicts again (for reports only)."""
    out: list[dict[str, Any]] = []
    for text in texts:
        try:
            out.append(json.loads(text))
        except ValueError:
            continue
    return out


def join_arrays(chunks: Sequence[Chunk]) -> bytes:
    """One JSON array holding the events of every chunk, in order."""
    arrays = [c.array() for c in chunks if c.count]
    if len(arrays) == 1:
        return arrays[0]
    if not arrays:
        return b"[]"
    # One copy: the first array keeps its "[", the last its "]", the rest lose both.
    views = [memoryview(a)[1:-1] for a in arrays]
    views[0] = memoryview(arrays[0])[:-1]
    views[-1] = memoryview(arrays[-1])[1:]
    return b",".join(views)


def count_events(chunks: Iterable[Chunk]) -> int:
    """How many events ``chunks`` hold."""
    return sum(c.count for c in chunks)


class Outbox:
    """Chunks waiting (FIFO) plus the batch the sender is working on, bounded by bytes and age."""

    def __init__(self, max_bytes: int = DEFAULT_RETRY_BUFFER_BYTES) -> None:
        self.max_bytes = max(1, int(max_bytes))
        self._waiting: deque[Chunk] = deque()
        self._sending: list[Chunk] = []
        self._bytes = 0
        self._waiting_size = 0  # JSON bytes waiting (compressed or not)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)

    # --- encoders -------------------------------------------------------------------------
    def put(self, chunk: Chunk) -> list[Chunk]:
        """Append ``chunk``; return the oldest waiting chunks dropped to stay within ``max_bytes``."""
        dropped: list[Chunk] = []
        with self._lock:
            self._waiting.append(chunk)
            self._bytes += len(chunk)
            self._waiting_size += chunk.size
            while self._bytes > self.max_bytes and len(self._waiting) > 1:
                old = self._waiting.popleft()
                self._bytes -= len(old)
                self._waiting_size -= old.size
                dropped.append(old)
            self._ready.notify_all()
        return dropped

    def pack_waiting(self) -> None:
        """Compress every waiting chunk (an outage began: they will wait a while)."""
        with self._lock:
            for chunk in self._waiting:
                if not chunk.packed:
                    before = len(chunk)
                    chunk.pack()
                    self._bytes += len(chunk) - before

    # --- the sender -----------------------------------------------------------------------
    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a waiting chunk (or a :meth:`wake`); True if one is there."""
        with self._lock:
            if not self._waiting:
                self._ready.wait(timeout)
            return bool(self._waiting)

    def wait_fill(self, size: int, until: float, stop: Callable[[], bool]) -> None:
        """Wait (until the monotonic time ``until``) for ``size`` JSON bytes to be waiting, or ``stop()``."""
        with self._lock:
            while self._waiting_size < size and not stop():
                remaining = until - time.monotonic()
                if remaining <= 0:
                    return
                self._ready.wait(remaining)

    def wake(self) -> None:
        """Wake a sender blocked in :meth:`wait`."""
        with self._lock:
            self._ready.notify_all()

    def take(self, max_bytes: int) -> list[Chunk]:
        """Move head chunks into the batch being sent while it stays within ``max_bytes``; return it."""
        with self._lock:
            size = sum(c.size for c in self._sending)
            while self._waiting:
                head = self._waiting[0]
                if self._sending and size + head.size > max_bytes:
                    break
                self._waiting.popleft()
                self._waiting_size -= head.size
                self._sending.append(head)
                size += head.size
            return list(self._sending)

    def done(self, chunks: Iterable[Chunk]) -> list[Chunk]:
        """``chunks`` left the batch being sent (delivered, dropped or split); returns those that
        were still there (a shutdown deadline may have drained and reported the others)."""
        removed: list[Chunk] = []
        with self._lock:
            for chunk in chunks:
                try:
                    self._sending.remove(chunk)
                except ValueError:
                    continue
                self._bytes -= len(chunk)
                removed.append(chunk)
        return removed

    def requeue_front(self, chunks: Sequence[Chunk]) -> None:
        """Put ``chunks`` (replacing the batch being sent) back at the head, in order."""
        with self._lock:
            for chunk in self._sending:
                self._bytes -= len(chunk)
            self._sending = []
            for chunk in reversed(chunks):
                self._waiting.appendleft(chunk)
                self._bytes += len(chunk)
                self._waiting_size += chunk.size

    def expire(self, max_age: float) -> list[Chunk]:
        """Remove and return every chunk older than ``max_age`` seconds."""
        limit = time.monotonic() - max_age
        with self._lock:
            old = [c for c in self._sending if c.created < limit]
            old.extend(c for c in self._waiting if c.created < limit)
            if not old:
                return []
            gone = set(map(id, old))
            self._sending = [c for c in self._sending if id(c) not in gone]
            self._waiting = deque(c for c in self._waiting if id(c) not in gone)
            self._bytes -= sum(len(c) for c in old)
            self._waiting_size = sum(c.size for c in self._waiting)
            return old

    def drain(self) -> list[Chunk]:
        """Remove and return everything (batch being sent first)."""
        with self._lock:
            chunks = self._sending + list(self._waiting)
            self._sending = []
            self._waiting.clear()
            self._bytes = 0
            self._waiting_size = 0
            return chunks

    # --- inspection -----------------------------------------------------------------------
    def pending(self) -> int:
        """Events waiting or being sent."""
        with self._lock:
            return count_events(self._sending) + count_events(self._waiting)

    @property
    def waiting_size(self) -> int:
        """JSON bytes waiting behind the batch being sent."""
        return self._waiting_size

    @property
    def nbytes(self) -> int:
        """Bytes held (waiting and being sent)."""
        return self._bytes

    def __bool__(self) -> bool:
        return bool(self._waiting) or bool(self._sending)

"""Misbehaving servers for tests: scripted faults by path prefix, and a server that never answers.

A fault is queued with a number of uses (``None`` = until cleared) and optionally a lifetime in
seconds, after which it no longer applies (an outage of fixed length). The request handler asks the plan
for the first queued fault whose prefix matches the request path, before normal routing; faults are
consumed in the order they were added. Persistent delays are kept apart and apply to every match.
``SilentServer`` accepts TCP connections and never answers (timeouts, stuck shutdowns).
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Union

__all__ = ["Fault", "FaultKind", "FaultPlan", "SilentServer", "path_matches"]

HOST: Final = "127.0.0.1"
JOIN_DEADLINE: Final = 0.8  # seconds a close() waits for its threads

RetryAfter = Union[int, float, str]


class FaultKind(str, Enum):
    """What the handler does with a request that matched a fault."""

    FAIL = "fail"  # answer with the given status (and Retry-After)
    DROP = "drop"  # read the request, close the connection without a response
    DELAY = "delay"  # wait, then answer normally
    HANG = "hang"  # read the request, never answer until the server closes


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour for requests under ``path``."""

    kind: FaultKind
    path: str
    status: int = 503
    body: Any = None
    retry_after: RetryAfter | None = None
    seconds: float = 0.0

    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` value as sent: whole numbers without a decimal point."""
        value = self.retry_after
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


def path_matches(prefix: str, path: str) -> bool:
    """True when ``path`` is ``prefix`` or lies under it; trailing slashes and queries are ignored."""
    base = prefix.split("?", 1)[0].rstrip("/")
    return path == base or path.startswith(base + "/")


@dataclass
class _Entry:
    fault: Fault
    remaining: int | None  # None: never used up
    expires: float | None = None  # time.monotonic() after which the entry no longer applies


class FaultPlan:
    """Thread-safe queue of faults plus persistent per-prefix delays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._delays: dict[str, float] = {}

    def add(self, fault: Fault, times: int | None = 1, duration: float | None = None) -> None:
        """Queue ``fault`` for the next ``times`` matching requests (``None``: every one).

        With ``duration`` the fault also ends that many seconds from now, used up or not.
        """
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 or None, got {times}")
        if duration is not None and not duration > 0:
            raise ValueError(f"duration must be > 0 seconds or None, got {duration}")
        expires = None if duration is None else time.monotonic() + duration
        with self._lock:
            self._entries.append(_Entry(fault, times, expires))

    def _drop_expired(self) -> None:
        now = time.monotonic()
        self._entries = [e for e in self._entries if e.expires is None or e.expires > now]

    def take(self, path: str) -> Fault | None:
        """Use up one application of the first queued fault matching ``path``."""
        with self._lock:
            self._drop_expired()
            for index, entry in enumerate(self._entries):
                if not path_matches(entry.fault.path, path):
                    continue
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        del self._entries[index]
                return entry.fault
        return None

    def set_delay(self, path: str, seconds: float) -> None:
        """Delay every request under ``path`` by ``seconds``; 0 removes the delay."""
        with self._lock:
            if seconds > 0:
                self._delays[path] = seconds
            else:
                self._delays.pop(path, None)

    def delay_for(self, path: str) -> float:
        """The persistent delay of the longest matching prefix, or 0."""
        with self._lock:
            matching = [
                (len(prefix), seconds)
                for prefix, seconds in self._delays.items()
                if path_matches(prefix, path)
            ]
        return max(matching)[1] if matching else 0.0

    def pending(self) -> int:
        """Number of queued fault entries still active."""
        with self._lock:
            self._drop_expired()
            return len(self._entries)

    def clear(self) -> None:
        """Forget every queued fault and persistent delay."""
        with self._lock:
            self._entries.clear()
            self._delays.clear()


class SilentServer:
    """TCP listener on 127.0.0.1 that accepts connections, reads and discards, and never answers."""

    def __init__(self, *, port: int = 0, max_lifetime: float | None = 600.0) -> None:
        self._port = port
        self._max_lifetime = max_lifetime
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._accepted = 0
        self._lock = threading.Lock()

    def start(self) -> SilentServer:
        """Bind and start the accept/read loop in a daemon thread; returns self."""
        if self._listener is not None:
            raise RuntimeError("SilentServer already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self._port))
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._bound_port: int = listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._loop, args=(listener,), name="fake-posthog.silent", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop and close every socket; returns within about a second."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_DEADLINE)
        if self._listener is not None:
            self._listener.close()  # idempotent; the loop normally closed it already
        self._closed.set()

    def __enter__(self) -> SilentServer:
        if self._listener is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("SilentServer not started")
        return self._bound_port

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _loop(self, listener: socket.socket) -> None:
        deadline = None if self._max_lifetime is None else time.monotonic() + self._max_lifetime
        conns: set[socket.socket] = set()
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    for key, _ in selector.select(0.05):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        if sock is listener:
                            self._accept(listener, selector, conns)
                        else:
                            self._discard(sock, selector, conns)
            finally:
                for conn in conns:
                    conn.close()
                listener.close()
                self._closed.set()

    def _accept(
        self, listener: socket.socket, selector: selectors.BaseSelector, conns: set[socket.socket]
    ) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        conns.add(conn)
        selector.register(conn, selectors.EVENT_READ)
        with self._lock:
            self._accepted += 1

    @staticmethod
    def _discard(conn: socket.socket, selector: selectors.BaseSelector, conns: set[socket.socket]) -> None:
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away: forget the connection
            selector.unregister(conn)
            conns.discard(conn)
            conn.close()

"""EventDispatcher: owns the queue and the consumer threads; put, flush and shutdown with deadlines.

Fork-safe (a child gets a fresh queue and starts its own threads on first use), drained at
interpreter exit, and every event it cannot deliver is counted with a reason.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Final, Optional

from . import _exit
from ._dropped_events import DeliveryStats, DropReason, DropRecorder
from ._fork import on_fork_in_child
from ._queue import EventQueue
from ._serialize import encode_message
from .consumer import MAX_MSG_SIZE, Batch, Consumer, deliver
from .request import Transport

__all__ = ["DEFAULT_FLUSH_TIMEOUT", "DEFAULT_SHUTDOWN_TIMEOUT", "EventDispatcher"]

log = logging.getLogger("posthog")

#: ``flush()`` without a timeout waits at most this long.
DEFAULT_FLUSH_TIMEOUT: Final = 10.0
#: ``shutdown()`` without a timeout, and interpreter exit, wait at most this long.
DEFAULT_SHUTDOWN_TIMEOUT: Final = 5.0


_uwsgi_warned = False


def _warn_if_uwsgi_without_threads() -> None:
    """Under uWSGI without ``enable-threads`` our consumer thread never runs: say so once."""
    global _uwsgi_warned
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is None or _uwsgi_warned:
        return
    _uwsgi_warned = True
    try:
        options = getattr(uwsgi, "opt", {})
        enabled = options.get("enable-threads") or options.get("threads")
    except Exception:  # an unusual uwsgi module: do not guess
        return
    if not enabled:
        log.warning(
            "uWSGI runs without threads: PostHog events will not be sent from the background. "
            "Start uWSGI with --enable-threads (or use sync_mode=True)."
        )


class EventDispatcher:
    """Moves messages from callers to PostHog: asynchronously (threads) or, in sync mode, inline."""

    def __init__(
        self,
        *,
        api_key: str,
        transport: Transport,
        drops: DropRecorder,
        max_queue_size: int = 10000,
        flush_at: int = 100,
        flush_interval: float = 0.5,
        gzip: bool = False,
        max_retries: int = 3,
        timeout: float = 15,
        threads: int = 1,
        historical_migration: bool = False,
        sync_mode: bool = False,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        queue_full_timeout: Optional[float] = None,
    ) -> None:
        self.api_key = api_key
        self.transport = transport
        self.drops = drops
        self.flush_at = max(1, int(flush_at))
        self.flush_interval = float(flush_interval)
        self.gzip = gzip
        self.max_retries = max(0, int(max_retries))
        self.timeout = timeout
        self.threads = max(1, int(threads))
        self.historical_migration = historical_migration
        self.sync_mode = sync_mode
        self.shutdown_timeout = shutdown_timeout
        self.queue_full_timeout = queue_full_timeout
        self.queue = EventQueue(max_queue_size)
        self.consumers: list[Consumer] = []
        self._init_process_state()
        self.shut_down = False
        on_fork_in_child(self._after_fork)
        if not sync_mode:
            _exit.register(self)

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._started = False
        self._sent = 0
        self._sync_queued = 0
        self._abandon = threading.Event()
        self._urgent = 0
        self._shutdown_deadline: Optional[float] = None
        self.draining = False

    def _after_fork(self) -> None:
        """In a forked child: the parent's queue, threads and locks are the parent's."""
        if self._pid == os.getpid():
            return
        self._init_process_state()
        self.queue = EventQueue(self.queue.maxsize)
        self.consumers = []
        self.drops.after_fork()

    # --- state read by consumers ----------------------------------------------------------
    @property
    def abandoned(self) -> bool:
        """True once a shutdown deadline has passed: stop sending, report what is left."""
        return self._abandon.is_set()

    @property
    def urgent(self) -> bool:
        """True while a flush waits: send partial batches now."""
        return self._urgent > 0

    def can_wait(self, seconds: float) -> bool:
        """Whether a retry wait of ``seconds`` still fits before a shutdown deadline."""
        deadline = self._shutdown_deadline
        return deadline is None or time.monotonic() + seconds < deadline

    def sleep(self, seconds: float) -> bool:
        """Wait between retries; False if the wait was cut short by abandonment."""
        return not self._abandon.wait(seconds)

    def request_timeout(self) -> float:
        """The per-request timeout, shortened to fit a shutdown deadline."""
        deadline = self._shutdown_deadline
        if deadline is None:
            return self.timeout
        return max(0.05, min(self.timeout, deadline - time.monotonic()))

    def record_sent(self, count: int) -> None:
        """Count delivered events."""
        with self._lock:
            self._sent += count

    # --- producers ------------------------------------------------------------------------
    def put(self, msg: dict[str, Any]) -> bool:
        """Queue (or in sync mode, send) one message; False if it was dropped."""
        if self._pid != os.getpid():
            self._after_fork()
        if self.shut_down:
            self.drops.record(DropReason.AFTER_SHUTDOWN, [msg], detail="the client was shut down")
            return False
        if self.sync_mode:
            return self._send_now(msg)
        if not self.queue.put(msg, self.queue_full_timeout):
            self.drops.record(DropReason.QUEUE_FULL, [msg], detail=f"max_queue_size={self.queue.maxsize}")
            return False
        if not self._started:
            self._start()
        return True

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            _warn_if_uwsgi_without_threads()
            self.consumers = [Consumer(self) for _ in range(self.threads)]
            for consumer in self.consumers:
                consumer.start()
            self._started = True

    def _send_now(self, msg: dict[str, Any]) -> bool:
        with self._lock:
            self._sync_queued += 1
        try:
            data = encode_message(msg)
        except Exception as exc:  # no conversion could save it
            self.drops.record(DropReason.UNSERIALISABLE, [msg], cause=exc)
            return False
        if len(data) > MAX_MSG_SIZE:
            self.drops.record(DropReason.TOO_LARGE, [msg], detail=f"{len(data)} bytes > {MAX_MSG_SIZE}")
            return False
        error = deliver(self, Batch.of_encoded([msg], [data]))
        if error is not None:
            raise error  # 3.x: sync mode surfaces the failure to the caller
        return True

    # --- lifecycle ------------------------------------------------------------------------
    def _in_flight(self) -> list[dict[str, Any]]:
        held: list[dict[str, Any]] = []
        for consumer in self.consumers:
            held.extend(consumer.holding)
        return held

    def pending(self) -> int:
        """Events queued or being sent."""
        return self.queue.qsize() + len(self._in_flight())

    def flush(self, timeout: Optional[float] = None) -> int:
        """Send everything queued before this call; return how many are still pending."""
        if self._pid != os.getpid():
            self._after_fork()
        if self.sync_mode or not self._started:
            return 0
        limit = DEFAULT_FLUSH_TIMEOUT if timeout is None else max(0.0, timeout)
        target = self.queue.last_seq()
        with self._lock:
            self._urgent += 1
        self.queue.wake()
        try:
            if self.queue.wait_done(target, limit):
                return 0
        finally:
            with self._lock:
                self._urgent -= 1
        pending = self.pending()
        log.warning("flush timed out after %.1fs with %d event(s) still pending", limit, pending)
        return pending

    def shutdown(self, timeout: Optional[float] = None, *, exiting: bool = False) -> int:
        """Deliver what is queued within ``timeout``, stop the threads, report what is left.

        Idempotent. Returns the number of events dropped because the deadline passed.
        """
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self.shut_down:
                return 0
            self.shut_down = True
        if self.sync_mode or not self._started:
            self.transport.close()
            self.drops.log_unreported()
            return 0
        limit = self.shutdown_timeout if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + limit
        self._shutdown_deadline = deadline
        self.draining = True
        target = self.queue.last_seq()
        for consumer in self.consumers:
            consumer.running = False
        self.queue.wake()
        done = self.queue.wait_done(target, limit)
        lost = 0
        if not done:
            self._abandon.set()
            self.queue.wake()
            leftover = [item[1] for item in self.queue.drain()] + self._in_flight()
            lost = len(leftover)
            self.drops.record(
                DropReason.EXIT_DEADLINE,
                leftover,
                detail=f"still pending after {limit:.1f}s" + (" at interpreter exit" if exiting else ""),
            )
        for consumer in self.consumers:
            consumer.join(max(0.0, min(0.2, deadline - time.monotonic())) if not done else 1.0)
        self.drops.log_unreported()
        if done:
            self.transport.close()
        return lost

    def release(self) -> None:
        """The client is gone: let the threads deliver what is queued and end (never blocks)."""
        self.draining = True
        for consumer in self.consumers:
            consumer.running = False
        self.queue.wake()

    def stats(self) -> DeliveryStats:
        """Counters: queued, sent, dropped per reason, pending."""
        with self._lock:
            sent = self._sent
            queued = self.queue.last_seq() + self._sync_queued
        return DeliveryStats(
            queued=queued,
            sent=sent,
            dropped=self.drops.counts(),
            pending=self.pending(),
        )

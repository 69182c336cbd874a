"""EventDispatcher: one client's pipeline (queue, outbox, settings); put, flush and shutdown with deadlines.

Its events are encoded and sent by the process's delivery engine (:mod:`posthog._pipeline.engine`),
shared by every client. Fork-safe (a child gets a fresh queue and engine on first use), drained
at interpreter exit, and every event it cannot deliver is counted with a reason.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Final, Optional

from .._fork import on_fork_in_child
from .._http.capture_v1 import CaptureCompression, CaptureMode
from ..request import Transport
from . import exit_hook as _exit
from .consumers import Consumer
from .drops import DeliveryStats, DropReason, DropRecorder
from .engine import Lane, engine
from .outbox import (
    DEFAULT_RETRY_BUFFER_AGE,
    DEFAULT_RETRY_BUFFER_BYTES,
    Chunk,
    Outbox,
    count_events,
    decode,
)
from .queue import DEFAULT_MAX_QUEUE_BYTES, EventQueue
from .send import deliver_now

__all__ = ["DEFAULT_FLUSH_TIMEOUT", "DEFAULT_SHUTDOWN_TIMEOUT", "EventDispatcher"]

log = logging.getLogger("posthog")

#: ``flush()`` without a timeout waits at most this long.
DEFAULT_FLUSH_TIMEOUT: Final = 10.0
#: ``shutdown()`` without a timeout, and interpreter exit, wait at most this long.
DEFAULT_SHUTDOWN_TIMEOUT: Final = 5.0


#: Backlog (queued events, or encoded bytes waiting behind the request in flight) past which
#: ``put`` yields the interpreter lock every 128 events.
_BACKLOG_EVENTS: Final = 200
_HAND_OFF: Final = 1e-6
_BACKLOG_BYTES: Final = 64 * 1024


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
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        retry_buffer_bytes: int = DEFAULT_RETRY_BUFFER_BYTES,
        retry_buffer_age: float = DEFAULT_RETRY_BUFFER_AGE,
        capture_mode: CaptureMode = CaptureMode.V0,
        compression: CaptureCompression = CaptureCompression.NONE,
        ai_endpoint: bool = False,
    ) -> None:
        self.api_key = api_key
        #: True for the pipeline of ``capture_ai`` (``/i/v0/ai/batch/``, always the v0 shape)
        self.ai_endpoint = ai_endpoint
        #: the ingestion protocol (v0: /batch/; v1: capture v1) and v1's body compression
        self.capture_mode = capture_mode
        self.compression = compression
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
        #: seconds an undelivered event may wait; 0 turns the retry buffer off (3.x behaviour)
        self.retry_buffer_age = max(0.0, float(retry_buffer_age))
        self.queue = EventQueue(max_queue_size, max_queue_bytes)
        self.outbox = Outbox(retry_buffer_bytes)
        self.consumers: list[Consumer] = []
        #: this pipeline's place in the engine, once started (``sender``: the 3.x-era name)
        self.sender: Optional[Lane] = None
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
        self.queue = EventQueue(self.queue.maxsize, self.queue.maxbytes)
        self.outbox = Outbox(self.outbox.max_bytes)
        self.consumers = []
        self.sender = None  # the parent's engine has no thread here
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
        """Wait between retries (sync mode); False if the wait was cut short by abandonment."""
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

    def drop_chunks(
        self,
        reason: DropReason,
        chunks: Sequence[Chunk],
        cause: Optional[BaseException] = None,
        detail: str = "",
    ) -> None:
        """Report encoded events as dropped (decoded only for an ``on_error`` callback) and let go of them."""
        messages = [m for c in chunks for m in c.messages()] if self.drops.on_error else []
        self.drops.record(reason, messages, count=count_events(chunks), cause=cause, detail=detail)
        for chunk in chunks:
            self.queue.release(chunk.token)

    # --- producers ------------------------------------------------------------------------
    def put(self, msg: dict[str, Any], text: str) -> bool:
        """Queue (or in sync mode, send) one message as JSON ``text``; False if it was dropped."""
        if self._pid != os.getpid():
            self._after_fork()
        if self.shut_down:
            self.drops.record(DropReason.AFTER_SHUTDOWN, [msg], detail="the client was shut down")
            return False
        if self.sync_mode:
            return self._send_now(msg, text)
        if not self._queue(msg, text, self.queue_full_timeout):
            return False
        if not self._started:
            self._start()
        elif not self.queue.puts & 127 and self._backlogged():
            # A backlog is building: hand the interpreter lock to the encoder and sender now
            # rather than making them wait for the interpreter's switch interval. A real sleep
            # (tens of microseconds) gives them time to take it; sleep(0) on Python < 3.11 and
            # os.sched_yield return before they can.
            time.sleep(_HAND_OFF)
        return True

    def _queue(self, msg: dict[str, Any], text: str, wait: Optional[float]) -> bool:
        """Put ``text`` on the queue; a refusal is recorded as ``queue_full`` naming the bound."""
        refused = self.queue.put(text, len(text), wait)
        if refused is None:
            return True
        bound = self.queue.maxsize if refused == "max_queue_size" else self.queue.maxbytes
        self.drops.record(DropReason.QUEUE_FULL, [msg], detail=f"{refused}={bound}")
        return False

    def _backlogged(self) -> bool:
        return self.queue.qsize() >= _BACKLOG_EVENTS or self.outbox.waiting_size >= _BACKLOG_BYTES

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            _warn_if_uwsgi_without_threads()
            shared = engine()
            lane = shared.attach(self)
            self.queue.on_ready = lane.notify
            self.sender = lane
            self.consumers = [Consumer(self, shared.encoder_thread) for _ in range(self.threads)]
            self._started = True

    def _send_now(self, msg: dict[str, Any], text: str) -> bool:
        with self._lock:
            self._sync_queued += 1
        error = deliver_now(self, ("[" + text + "]").encode("ascii"), [msg])
        if error is not None:
            raise error  # 3.x: sync mode surfaces the failure to the caller
        return True

    # --- lifecycle ------------------------------------------------------------------------
    def _in_flight(self) -> list[str]:
        lane = self.sender
        return list(lane.holding) if lane is not None else []

    def pending(self) -> int:
        """Events queued, being encoded, or waiting in the outbox (to be sent or re-sent)."""
        return self.queue.qsize() + len(self._in_flight()) + self.outbox.pending()

    def _wake_all(self) -> None:
        if self.sender is not None:
            self.sender.nudge()

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
        self._wake_all()
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
        if not self._begin_shutdown():
            return 0
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
        self._wake_all()
        done = self.queue.wait_done(target, limit)
        lost = 0
        if not done:
            # At exit every client started draining together: its own timeout is what it had.
            waited = self.shutdown_timeout if exiting else limit
            lost = self._give_up(
                f"still pending after {waited:.1f}s" + (" at interpreter exit" if exiting else "")
            )
        if self.sender is not None:
            # An attempt still in flight (its timeout fits the deadline) is let go after a moment.
            self.sender.engine.detach(self.sender, max(0.0, min(0.2, deadline - time.monotonic())))
        self.drops.log_unreported()
        if done:
            self.transport.close()
        return lost

    def begin_exit(self, deadline: float) -> None:
        """Interpreter exit: start draining now, every client at once, before each is waited on."""
        if self.shut_down or self.sync_mode or not self._started or self._pid != os.getpid():
            return
        self._shutdown_deadline = deadline
        self.draining = True
        self._wake_all()

    def _begin_shutdown(self) -> bool:
        """Mark the dispatcher shut down; False if it already was (shutdown is idempotent)."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self.shut_down:
                return False
            self.shut_down = True
        return True

    def _give_up(self, detail: str) -> int:
        """A deadline passed: stop sending and report everything still pending as dropped."""
        self._abandon.set()
        self._wake_all()
        leftover = self.queue.drain() + self._in_flight()
        chunks = self.outbox.drain()
        self.drops.record(
            DropReason.EXIT_DEADLINE,
            decode(leftover) if self.drops.on_error else [],
            count=len(leftover),
            detail=detail,
        )
        self.drop_chunks(DropReason.EXIT_DEADLINE, chunks, detail=detail)
        self.queue.forget_holders()
        return len(leftover) + count_events(chunks)

    def release(self) -> None:
        """The client is gone: let the engine deliver what is queued, then forget it (never blocks)."""
        self.draining = True
        for consumer in self.consumers:
            consumer.running = False
        self._wake_all()

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

"""The sender thread: POSTs the outbox to ``/batch/``, retries, and holds events through outages.

One request at a time, from the head of the outbox, merging waiting chunks up to the body limit.
A retryable failure (network, 408, 429, 5xx) is retried with backoff; once ``max_retries`` more
attempts have failed the events stay in the outbox (the retry buffer) and are tried again with
growing waits until the server answers, they grow too old, or the buffer overflows. Order and
each event's bytes (uuid, timestamp) are kept across attempts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Optional

from ._dropped_events import DropReason
from ._outbox import Chunk, count_events, join_arrays
from ._retry import delay_for, is_retryable, retry_delays
from ._serialize import encode_array
from ._worker import Worker
from .consumer import BATCH_SIZE_LIMIT, BODY_OVERHEAD, new_token
from .exceptions import APIError

if TYPE_CHECKING:
    from ._dispatcher import EventDispatcher

__all__ = ["Sender", "deliver_now"]

log = logging.getLogger("posthog")

_BODY_LIMIT: Final = BATCH_SIZE_LIMIT - BODY_OVERHEAD
_IDLE_WAIT: Final = 0.5
#: A batch this large goes at once; a smaller one waits up to _LINGER seconds for more.
_FULL_ENOUGH: Final = 1024 * 1024
_LINGER: Final = 0.02


class Sender(Worker):
    """The dispatcher's one sender: a named daemon thread running :meth:`run`."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self.dispatcher = dispatcher
        self.outage = False
        self._nudge = threading.Event()
        self._limit = _BODY_LIMIT
        super().__init__("posthog.sender")

    def nudge(self) -> None:
        """Cut a retry wait short (a flush or shutdown wants an attempt now)."""
        self._nudge.set()
        self.dispatcher.outbox.wake()

    def run(self) -> None:
        """Send until stopped and nothing is left; nothing raised here ends the loop."""
        d = self.dispatcher
        while not d.abandoned:
            try:
                if d.outbox.wait(_IDLE_WAIT):
                    self._linger()
                    self._deliver_head()
                elif self._finished():
                    break
            except Exception as exc:  # the loop must survive anything; report and carry on
                log.exception("unexpected error in the PostHog sender thread")
                batch = d.outbox.take(0)
                d.outbox.done(batch)
                d.drop_chunks(DropReason.RETRIES_EXHAUSTED, batch, cause=exc, detail="internal error")
                self._nudge.wait(0.05)

    def _linger(self) -> None:
        """Under load, let a batch fill for a moment: one request per few events costs more than them."""
        d = self.dispatcher
        if d.urgent or d.draining or d.outbox.waiting_size >= _FULL_ENOUGH:
            return
        until = time.monotonic() + min(_LINGER, d.flush_interval)
        d.outbox.wait_fill(_FULL_ENOUGH, until, lambda: d.urgent or d.draining)

    def _finished(self) -> bool:
        d = self.dispatcher
        if not self.running:
            return True
        # Encoders first: once none is left, nothing more can arrive in the outbox.
        if not d.draining or any(c.is_alive() for c in d.consumers):
            return False
        return not d.outbox and d.queue.empty()

    def _deliver_head(self) -> None:
        """Send the head of the outbox until it is delivered, dropped, or the client gives up."""
        d = self.dispatcher
        delays = retry_delays()
        attempt = 0
        while not d.abandoned:
            self._expire()
            # A batch being retried does not grow: what waits behind it stays subject to the
            # buffer's bound, oldest first.
            batch = d.outbox.take(0 if attempt else self._limit)
            if not batch:
                return
            error = self._post(batch)
            if error is None:
                d.outbox.done(batch)
                self._release(batch)
                d.record_sent(count_events(batch))
                self._limit = _BODY_LIMIT
                if self.outage:
                    self.outage = False
                    log.info("PostHog accepts events again; held events are being delivered")
                return
            if isinstance(error, APIError) and error.status == 413:
                self._split(batch, error)
                attempt = 0
                continue
            if not is_retryable(error):
                reason = DropReason.REJECTED if isinstance(error, APIError) else DropReason.RETRIES_EXHAUSTED
                self._drop(batch, reason, error)
                return
            attempt += 1
            wait = delay_for(error, next(delays))
            if attempt > d.max_retries:
                if not d.retry_buffer_age:
                    self._drop(batch, DropReason.RETRIES_EXHAUSTED, error)
                    return
                if not self.outage:
                    self.outage = True
                    d.outbox.pack_waiting()
                    log.warning(
                        "PostHog did not accept events after %d attempts (%s); holding %d event(s) "
                        "and retrying with backoff",
                        attempt,
                        error,
                        d.outbox.pending(),
                    )
            if not d.can_wait(wait):
                self._drop(batch, DropReason.EXIT_DEADLINE, error, "no retry fits before the deadline")
                return
            log.debug("batch upload failed (%s); retry %d in %.2fs", error, attempt, wait)
            self._nudge.clear()
            self._nudge.wait(wait)

    def _post(self, batch: Sequence[Chunk]) -> Optional[Exception]:
        d = self.dispatcher
        try:
            d.transport.post_batch(
                d.api_key,
                join_arrays(batch),
                gzip=d.gzip,
                historical_migration=d.historical_migration,
                timeout=d.request_timeout(),
            )
        except Exception as exc:
            return exc
        return None

    def _expire(self) -> None:
        d = self.dispatcher
        if d.retry_buffer_age:
            old = d.outbox.expire(d.retry_buffer_age)
            if old:
                d.drop_chunks(DropReason.EXPIRED, old, detail=f"older than {d.retry_buffer_age:g}s")

    def _split(self, batch: Sequence[Chunk], error: APIError) -> None:
        """The server found the body too large: send less at a time (a lone event is dropped)."""
        d = self.dispatcher
        if len(batch) > 1:
            d.outbox.requeue_front(batch)
            self._limit = max(1, sum(c.size for c in batch) // 2)
            return
        [chunk] = batch
        messages = chunk.messages()
        if len(messages) <= 1:
            self._drop(batch, DropReason.TOO_LARGE, error)
            return
        middle = len(messages) // 2
        halves = []
        for part in (messages[:middle], messages[middle:]):
            token = new_token()
            d.queue.hold_like(token, chunk.token)
            halves.append(Chunk(encode_array(part), len(part), token, chunk.created))
        d.outbox.requeue_front(halves)
        d.queue.release(chunk.token)
        self._limit = halves[0].size

    def _drop(self, batch: Sequence[Chunk], reason: DropReason, error: Exception, detail: str = "") -> None:
        d = self.dispatcher
        d.outbox.done(batch)
        d.drop_chunks(reason, batch, cause=error, detail=detail)

    def _release(self, chunks: Sequence[Chunk]) -> None:
        release = self.dispatcher.queue.release
        for chunk in chunks:
            release(chunk.token)


def deliver_now(d: EventDispatcher, array: bytes, messages: list[dict[str, Any]]) -> Optional[Exception]:
    """Sync mode: POST one encoded batch with the retry policy (no retry buffer); return the final error."""
    delays = retry_delays()
    attempt = 0
    while True:
        try:
            d.transport.post_batch(
                d.api_key,
                array,
                gzip=d.gzip,
                historical_migration=d.historical_migration,
                timeout=d.request_timeout(),
            )
        except Exception as exc:
            if isinstance(exc, APIError) and exc.status == 413:
                d.drops.record(DropReason.TOO_LARGE, messages, cause=exc)
                return exc
            if not is_retryable(exc):
                reason = DropReason.REJECTED if isinstance(exc, APIError) else DropReason.RETRIES_EXHAUSTED
                d.drops.record(reason, messages, cause=exc)
                return exc
            attempt += 1
            wait = delay_for(exc, next(delays))
            if attempt > d.max_retries or not d.can_wait(wait):
                d.drops.record(DropReason.RETRIES_EXHAUSTED, messages, cause=exc)
                return exc
            log.debug("upload failed (%s); retry %d in %.2fs", exc, attempt, wait)
            if not d.sleep(wait):
                return None
            continue
        d.record_sent(len(messages))
        return None

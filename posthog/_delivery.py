"""What to do with the head batch of the outbox after each attempt: the one policy both senders follow.

The thread sender (:mod:`posthog._sender`) and the asyncio sender (:mod:`posthog._async_sender`)
differ only in how they POST and how they wait; every decision (merge, retry, hold through an
outage, split on 413, drop with a reason) is made here, without I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Optional

from ._dropped_events import DropReason
from ._outbox import Chunk, count_events
from ._retry import delay_for, is_retryable, retry_delays
from ._serialize import encode_array
from .consumer import BATCH_SIZE_LIMIT, BODY_OVERHEAD, new_token
from .exceptions import APIError

if TYPE_CHECKING:
    from ._dispatcher import EventDispatcher

__all__ = ["BODY_LIMIT", "HeadDelivery", "OneShot"]

log = logging.getLogger("posthog")

BODY_LIMIT: Final = BATCH_SIZE_LIMIT - BODY_OVERHEAD


class HeadDelivery:
    """A sender's state across batches (outage, body limit) and its decision after each attempt.

    A sender loops: ``batch = begin()`` (or ``next_batch()`` after a failure) → POST →
    ``succeeded(batch)`` or ``wait = failed(batch, error)``; ``None`` means the batch is settled
    (delivered elsewhere, dropped, split), a number is how long to wait before trying it again.
    """

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self.dispatcher = dispatcher
        self.outage = False
        self._limit = BODY_LIMIT
        self._delays: Optional[Iterator[float]] = None
        self._attempt = 0

    def begin(self) -> list[Chunk]:
        """Start on the head of the outbox: the first batch to send (empty when nothing waits)."""
        self._attempt = 0
        self._delays = None
        return self.next_batch()

    def next_batch(self) -> list[Chunk]:
        """The batch to send now; a batch being retried does not grow (what waits behind it stays
        subject to the buffer's bound, oldest first)."""
        d = self.dispatcher
        if d.retry_buffer_age:
            old = d.outbox.expire(d.retry_buffer_age)
            if old:
                d.drop_chunks(DropReason.EXPIRED, old, detail=f"older than {d.retry_buffer_age:g}s")
        return d.outbox.take(0 if self._attempt else self._limit)

    def succeeded(self, batch: Sequence[Chunk]) -> None:
        """The server accepted ``batch``."""
        d = self.dispatcher
        d.outbox.done(batch)
        release = d.queue.release
        for chunk in batch:
            release(chunk.token)
        d.record_sent(count_events(batch))
        self._limit = BODY_LIMIT
        if self.outage:
            self.outage = False
            log.info("PostHog accepts events again; held events are being delivered")

    def failed(self, batch: Sequence[Chunk], error: Exception) -> Optional[float]:
        """Decide after a failed attempt: seconds to wait before retrying, 0 to go on at once
        (split), or None when the batch is settled (dropped)."""
        d = self.dispatcher
        if isinstance(error, APIError) and error.status == 413:
            self._split(batch, error)
            self._attempt = 0
            return 0.0
        if not is_retryable(error):
            reason = DropReason.REJECTED if isinstance(error, APIError) else DropReason.RETRIES_EXHAUSTED
            self.drop(batch, reason, error)
            return None
        self._attempt += 1
        if self._delays is None:
            self._delays = retry_delays()
        wait = delay_for(error, next(self._delays))
        if self._attempt > d.max_retries:
            if not d.retry_buffer_age:
                self.drop(batch, DropReason.RETRIES_EXHAUSTED, error)
                return None
            if not self.outage:
                self.outage = True
                d.outbox.pack_waiting()
                log.warning(
                    "PostHog did not accept events after %d attempts (%s); holding %d event(s) "
                    "and retrying with backoff",
                    self._attempt,
                    error,
                    d.outbox.pending(),
                )
        if not d.can_wait(wait):
            self.drop(batch, DropReason.EXIT_DEADLINE, error, "no retry fits before the deadline")
            return None
        log.debug("batch upload failed (%s); retry %d in %.2fs", error, self._attempt, wait)
        return wait

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
            self.drop(batch, DropReason.TOO_LARGE, error)
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

    def drop(self, batch: Sequence[Chunk], reason: DropReason, error: Exception, detail: str = "") -> None:
        """Report ``batch`` as dropped and let go of it."""
        d = self.dispatcher
        d.outbox.done(batch)
        d.drop_chunks(reason, batch, cause=error, detail=detail)


class OneShot:
    """The policy for messages sent straight away (sync mode, ``capture_immediate``): retried with
    backoff up to ``max_retries`` within an optional deadline, then reported dropped (no buffer)."""

    def __init__(
        self, dispatcher: EventDispatcher, messages: list[dict[str, Any]], deadline: Optional[float] = None
    ):
        self.dispatcher = dispatcher
        self.messages = messages
        self.deadline = deadline
        self._attempt = 0
        self._delays: Optional[Iterator[float]] = None

    def timeout(self) -> float:
        """The timeout for the next attempt (shortened to fit the deadlines)."""
        timeout = self.dispatcher.request_timeout()
        if self.deadline is not None:
            timeout = min(timeout, max(0.05, self.deadline - time.monotonic()))
        return timeout

    def succeeded(self) -> None:
        """The server accepted the messages."""
        self.dispatcher.record_sent(len(self.messages))

    def failed(self, error: Exception) -> Optional[float]:
        """Seconds to wait before the next attempt, or None once the messages are reported dropped."""
        d = self.dispatcher
        if isinstance(error, APIError) and error.status == 413:
            d.drops.record(DropReason.TOO_LARGE, self.messages, cause=error)
            return None
        if not is_retryable(error):
            reason = DropReason.REJECTED if isinstance(error, APIError) else DropReason.RETRIES_EXHAUSTED
            d.drops.record(reason, self.messages, cause=error)
            return None
        self._attempt += 1
        if self._delays is None:
            self._delays = retry_delays()
        wait = delay_for(error, next(self._delays))
        fits = d.can_wait(wait) and (self.deadline is None or time.monotonic() + wait < self.deadline)
        if self._attempt > d.max_retries or not fits:
            reason = DropReason.RETRIES_EXHAUSTED if fits else DropReason.EXIT_DEADLINE
            d.drops.record(reason, self.messages, cause=error)
            return None
        log.debug("upload failed (%s); retry %d in %.2fs", error, self._attempt, wait)
        return wait

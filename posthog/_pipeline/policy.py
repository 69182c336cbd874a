"""What to do with the head batch of the outbox after each attempt: the one policy both senders follow.

The engine's senders (:mod:`.engine`, :mod:`.send`) and the asyncio sender (:mod:`.async_sender`)
differ only in how they POST and how they wait; every decision (merge, retry, hold through an
outage, split on 413, drop with a reason) is made here, without I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Optional

from .._http.capture_v1 import CaptureMode, V1Answer, V1Batch, event_uuid, v1_retryable
from .._http.retry import MAX_RETRY_AFTER_SECONDS, is_retryable, retry_delays, v1_delays
from .._serialize import encode_array
from ..capture_v1 import CaptureV1Error
from ..exceptions import APIError
from .drops import DropReason
from .encode import BATCH_SIZE_LIMIT, BODY_OVERHEAD, new_token
from .outbox import Chunk, count_events

if TYPE_CHECKING:
    from .interface import Pipeline

__all__ = [
    "BODY_LIMIT",
    "FULL_ENOUGH",
    "LINGER",
    "HeadDelivery",
    "OneShot",
    "encode_at",
    "report_v1_drops",
    "send_at",
]

log = logging.getLogger("posthog")

BODY_LIMIT: Final = BATCH_SIZE_LIMIT - BODY_OVERHEAD
#: Waiting chunks are merged into one request up to this many bytes: past a megabyte a bigger
#: body saves little per event, and costs its size again in memory while it is joined and sent.
MERGE_LIMIT: Final = min(BODY_LIMIT, 1024 * 1024)
#: A batch this large goes at once; a smaller one waits up to ``LINGER`` seconds for more.
FULL_ENOUGH: Final = 1024 * 1024
LINGER: Final = 0.02
#: Capture v1 honours a Retry-After up to this many seconds (7.x's rule).
V1_MAX_RETRY_AFTER: Final = 30.0


def encode_at(
    now: float, waiting: int, first_seen: float, flush_at: int, flush_interval: float, hurry: bool
) -> float:
    """When the events waiting in a queue (the oldest seen at ``first_seen``) make a batch: at
    once when ``flush_at`` of them wait or a flush or shutdown ``hurry``, else once the oldest
    has waited ``flush_interval``."""
    if hurry or waiting >= flush_at:
        return now
    return max(now, first_seen + flush_interval)


def send_at(
    now: float,
    *,
    retrying: bool,
    resume_at: float,
    hurry: bool,
    waiting_bytes: int,
    linger_from: float,
    flush_interval: float,
) -> float:
    """When the head of an outbox may be sent: a batch that failed after its retry wait;
    otherwise at once when a flush or shutdown ``hurry`` or a megabyte waits, else after a short
    linger (from ``linger_from``) for more events: a request per few events costs more."""
    if retrying:
        return max(now, resume_at)
    if hurry or waiting_bytes >= FULL_ENOUGH:
        return now
    return max(now, linger_from + min(LINGER, flush_interval))


class HeadDelivery:
    """A sender's state across batches (outage, body limit) and its decision after each attempt.

    A sender loops: ``batch = begin()`` (or ``next_batch()`` after a failure) → POST →
    ``succeeded(batch)`` or ``wait = failed(batch, error)``; ``None`` means the batch is settled
    (delivered elsewhere, dropped, split), a number is how long to wait before trying it again.
    """

    def __init__(self, dispatcher: Pipeline) -> None:
        self.dispatcher = dispatcher
        self.outage = False
        self._limit = MERGE_LIMIT
        self._delays: Optional[Iterator[float]] = None
        self._attempt = 0
        #: capture v1: the identity of the batch being sent (request id, created_at, attempts)
        self.v1: Optional[V1Batch] = None

    def begin(self) -> list[Chunk]:
        """Start on the head of the outbox: the first batch to send (empty when nothing waits)."""
        self._attempt = 0
        self._delays = None
        self.v1 = V1Batch() if self.dispatcher.capture_mode is CaptureMode.V1 else None
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

    def succeeded(self, batch: Sequence[Chunk], answer: Optional[V1Answer] = None) -> Optional[float]:
        """The server answered 2xx for ``batch``: None when it is settled, else seconds to wait
        before re-sending the events capture v1 asked to retry (they replace the batch)."""
        d = self.dispatcher
        if self.outage:
            self.outage = False
            log.info("PostHog accepts events again; held events are being delivered")
        self._limit = MERGE_LIMIT
        total = count_events(batch)
        if answer is None or self.v1 is None or not (answer.retry or answer.drops):
            self._settle(batch, total)
            return None
        assert self.v1 is not None
        retry, dropped = sort_answer(self.v1, [m for c in batch for m in c.messages()], answer)
        if not retry:
            self._settle(batch, total - dropped)
            return None
        d.record_sent(total - len(retry) - dropped)
        wait = self._next_wait(answer.retry_after)
        if (self._attempt > d.max_retries and not d.retry_buffer_age) or not d.can_wait(wait):
            exhausted = self._attempt > d.max_retries
            reason = DropReason.RETRIES_EXHAUSTED if exhausted else DropReason.EXIT_DEADLINE
            if d.outbox.done(batch):  # not what a shutdown deadline already reported
                d.drops.record(reason, retry, cause=self._v1_error(retry))
            self._settle(batch, 0)
            return None
        # Only the events to retry go again, alone, under the same request id.
        token = new_token()
        d.queue.hold_like(token, batch[0].token)
        d.outbox.requeue_front([Chunk(encode_array(retry), len(retry), token, batch[0].created)])
        for chunk in batch:
            d.queue.release(chunk.token)
        return wait

    def _settle(self, batch: Sequence[Chunk], sent: int) -> None:
        """``batch`` leaves the outbox: ``sent`` events are counted, capture v1's drops reported."""
        d = self.dispatcher
        if sent:
            d.record_sent(sent)
        self._flush_v1_drops()  # reported before flush() can see the batch gone
        d.outbox.done(batch)
        release = d.queue.release
        for chunk in batch:
            release(chunk.token)

    def _next_wait(self, retry_after: Optional[float]) -> float:
        """Count an attempt and return the wait before the next: backoff, or Retry-After if longer."""
        self._attempt += 1
        if self._delays is None:
            self._delays = v1_delays() if self.v1 is not None else retry_delays()
        return next_wait(next(self._delays), retry_after, self.v1 is not None)

    def _v1_error(self, pending: Sequence[dict[str, Any]]) -> CaptureV1Error:
        assert self.v1 is not None
        return pending_error(self.v1, pending)

    def failed(self, batch: Sequence[Chunk], error: Exception) -> Optional[float]:
        """Decide after a failed attempt: seconds to wait before retrying, 0 to go on at once
        (split), or None when the batch is settled (dropped)."""
        d = self.dispatcher
        if isinstance(error, APIError) and error.status == 413:
            self._split(batch, error)
            self._attempt = 0
            if self.v1 is not None:  # smaller batches are new batches: new request ids
                self._flush_v1_drops()
                self.v1 = V1Batch()
            return 0.0
        if not (v1_retryable(error) if self.v1 is not None else is_retryable(error)):
            reason = DropReason.REJECTED if isinstance(error, APIError) else DropReason.RETRIES_EXHAUSTED
            self.drop(batch, reason, error)
            return None
        wait = self._next_wait(getattr(error, "retry_after", None))
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
        self._flush_v1_drops()
        still_held = d.outbox.done(batch)  # not what a shutdown deadline already reported
        if still_held:
            d.drop_chunks(reason, still_held, cause=error, detail=detail)

    def _flush_v1_drops(self) -> None:
        v1 = self.v1
        if v1 is not None and v1.dropped:
            report_v1_drops(self.dispatcher, v1)


def next_wait(planned: float, retry_after: Optional[float], v1: bool) -> float:
    """The planned backoff, or the server's Retry-After when longer (capped)."""
    if retry_after is None or retry_after <= planned:
        return planned
    return min(retry_after, V1_MAX_RETRY_AFTER if v1 else MAX_RETRY_AFTER_SECONDS)


def sort_answer(
    v1: V1Batch, messages: Sequence[dict[str, Any]], answer: V1Answer
) -> tuple[list[dict[str, Any]], int]:
    """Apply a capture v1 answer to ``messages``: the dropped ones are kept on ``v1`` for the
    report; return those to send again (in order) and how many this answer dropped."""
    v1.status = answer.status
    retry_ids = set(answer.retry)
    drop_ids = {u for u, _ in answer.drops}
    v1.drops.extend(answer.drops)
    retry: list[dict[str, Any]] = []
    dropped = 0
    for message in messages:
        key = event_uuid(message)
        if key in drop_ids:
            v1.dropped.append(message)
            dropped += 1
        elif key in retry_ids:
            retry.append(message)
    return retry, dropped


def pending_error(v1: V1Batch, pending: Sequence[dict[str, Any]]) -> CaptureV1Error:
    """The error reported with events still ``retry`` after the last attempt."""
    return CaptureV1Error(
        v1.status,
        f"{len(pending)} event(s) still pending retry after {v1.attempts} attempt(s)",
        request_id=v1.request_id,
        attempts=v1.attempts,
        drops=v1.drops,
        retry_exhausted=[event_uuid(m) for m in pending],
    )


def report_v1_drops(d: Pipeline, v1: V1Batch) -> None:
    """Report, once per batch, the events capture v1 answered ``drop`` (``rejected``)."""
    dropped, v1.dropped = v1.dropped, []
    error = CaptureV1Error(
        v1.status,
        f"{len(dropped)} event(s) dropped by the server",
        request_id=v1.request_id,
        attempts=v1.attempts,
        drops=v1.drops,
    )
    detail = ", ".join(sorted({details or "no details" for _, details in v1.drops}))
    d.drops.record(DropReason.REJECTED, dropped, cause=error, detail=detail)


class OneShot:
    """The policy for messages sent straight away (sync mode, ``capture_immediate``): retried with
    backoff up to ``max_retries`` within an optional deadline, then reported dropped (no buffer).

    ``array`` is what to send next: capture v1 may narrow it to the events it asked to retry.
    """

    def __init__(
        self,
        dispatcher: Pipeline,
        messages: list[dict[str, Any]],
        deadline: Optional[float] = None,
        array: Optional[bytes] = None,
    ):
        self.dispatcher = dispatcher
        self.messages = messages
        self.array = encode_array(messages) if array is None else array
        self.deadline = deadline
        self._attempt = 0
        self._delays: Optional[Iterator[float]] = None
        self._fits = True
        #: how many of the messages the server accepted so far
        self.delivered = 0
        #: capture v1: the identity of these messages' requests
        self.v1 = V1Batch() if dispatcher.capture_mode is CaptureMode.V1 else None

    def timeout(self) -> float:
        """The timeout for the next attempt (shortened to fit the deadlines)."""
        timeout = self.dispatcher.request_timeout()
        if self.deadline is not None:
            timeout = min(timeout, max(0.05, self.deadline - time.monotonic()))
        return timeout

    def succeeded(self, answer: Optional[V1Answer] = None) -> Optional[float]:
        """The server answered 2xx: None when settled, else the wait before re-sending the events
        capture v1 asked to retry (``array`` then holds only them)."""
        d = self.dispatcher
        v1 = self.v1
        if answer is None or v1 is None or not (answer.retry or answer.drops):
            d.record_sent(len(self.messages))
            self.delivered += len(self.messages)
            return None
        retry, dropped = sort_answer(v1, self.messages, answer)
        d.record_sent(len(self.messages) - len(retry) - dropped)
        self.delivered += len(self.messages) - len(retry) - dropped
        if not retry:
            report_v1_drops(d, v1)
            return None
        wait = self._wait(answer.retry_after)
        if wait is None:
            report_v1_drops(d, v1)
            d.drops.record(self._final_reason(), retry, cause=pending_error(v1, retry))
            return None
        self.messages = retry
        self.array = encode_array(retry)
        return wait

    def failed(self, error: Exception) -> Optional[float]:
        """Seconds to wait before the next attempt, or None once the messages are reported dropped."""
        d = self.dispatcher
        v1 = self.v1
        if isinstance(error, APIError) and error.status == 413:
            reason = DropReason.TOO_LARGE
        elif not (v1_retryable(error) if v1 is not None else is_retryable(error)):
            reason = DropReason.REJECTED if isinstance(error, APIError) else DropReason.RETRIES_EXHAUSTED
        else:
            wait = self._wait(getattr(error, "retry_after", None))
            if wait is not None:
                log.debug("upload failed (%s); retry %d in %.2fs", error, self._attempt, wait)
                return wait
            reason = self._final_reason()
        if v1 is not None:
            report_v1_drops(d, v1)
        d.drops.record(reason, self.messages, cause=error)
        return None

    def _wait(self, retry_after: Optional[float]) -> Optional[float]:
        """Count an attempt: the wait before the next, or None when none is left or fits."""
        d = self.dispatcher
        self._attempt += 1
        if self._delays is None:
            self._delays = v1_delays() if self.v1 is not None else retry_delays()
        wait = next_wait(next(self._delays), retry_after, self.v1 is not None)
        self._fits = d.can_wait(wait) and (self.deadline is None or time.monotonic() + wait < self.deadline)
        if self._attempt > d.max_retries or not self._fits:
            return None
        return wait

    def _final_reason(self) -> DropReason:
        return DropReason.RETRIES_EXHAUSTED if self._fits else DropReason.EXIT_DEADLINE

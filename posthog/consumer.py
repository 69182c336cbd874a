"""Consumer thread: takes messages from the queue, batches them (count, bytes, time), sends, retries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Optional

from ._dropped_events import DropReason
from ._retry import delay_for, is_retryable, retry_delays
from ._serialize import encode_array, encode_message
from .exceptions import APIError

if TYPE_CHECKING:
    from ._dispatcher import EventDispatcher

__all__ = ["BATCH_SIZE_LIMIT", "MAX_MSG_SIZE", "Consumer"]

log = logging.getLogger("posthog")

#: Largest accepted message, as encoded JSON (3.x: 900 KiB).
MAX_MSG_SIZE: Final = 900 * 1024
#: Largest batch body (3.x: 5 MiB); never exceeded.
BATCH_SIZE_LIMIT: Final = 5 * 1024 * 1024
# Room for the body's other keys around the array (api_key, sentAt, historical_migration).
_BODY_OVERHEAD: Final = 1024


class Batch:
    """Messages to send together and their JSON array, encoded once (reused across retries)."""

    __slots__ = ("array", "messages")

    def __init__(self, messages: list[dict[str, Any]], array: bytes) -> None:
        self.messages = messages
        self.array = array

    @classmethod
    def of_encoded(cls, messages: list[dict[str, Any]], encoded: Sequence[bytes]) -> Batch:
        """A batch from individually encoded messages."""
        return cls(messages, b"[" + b",".join(encoded) + b"]")


class Consumer:
    """One consumer: a named daemon thread running :meth:`run` until stopped."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self.dispatcher = dispatcher
        self.running = True
        #: messages taken from the queue and not yet delivered or dropped (reported if abandoned)
        self.holding: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self.run, name="posthog.consumer", daemon=True)
        self._id = id(self)

    # 3.x code checked these on the consumer object itself.
    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def is_alive(self) -> bool:
        """Whether the thread is running."""
        return self.thread.is_alive()

    def pause(self) -> None:
        """Ask the thread to stop after what it holds (3.x name)."""
        self.running = False
        self.dispatcher.queue.wake()

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for the thread to end (bounded by ``timeout``)."""
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def run(self) -> None:
        """Batch and send until stopped; nothing raised here ends the loop."""
        d = self.dispatcher
        while not d.abandoned:
            try:
                messages = self._collect()
                if messages:
                    for batch in encode_batches(d, messages):
                        deliver(d, batch)
                    self.holding = []
                    d.queue.release(self._id)
                elif not self.running or d.draining:
                    break
            except Exception as exc:  # the loop must survive anything; report and carry on
                log.exception("unexpected error in the PostHog consumer thread")
                held, self.holding = self.holding, []
                # Whatever this batch held is lost: say so rather than drop it silently.
                d.drops.record(DropReason.RETRIES_EXHAUSTED, held, cause=exc, detail="internal error")
                d.queue.release(self._id)
                time.sleep(0.05)

    def _collect(self) -> list[dict[str, Any]]:
        """Take up to ``flush_at`` messages, waiting at most ``flush_interval`` after the first."""
        d = self.dispatcher
        queue = d.queue
        messages: list[dict[str, Any]] = []
        self.holding = messages
        deadline = 0.0
        while len(messages) < d.flush_at:
            if queue.pop_into(self._id, messages, d.flush_at - len(messages)):
                if not deadline:
                    deadline = time.monotonic() + d.flush_interval
                continue
            if not self.running or d.draining or d.abandoned:
                break
            if messages:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or d.urgent:
                    break
                queue.wait_ready(remaining, d.flush_at - len(messages))
            else:
                queue.wait_ready(1.0)
        return messages


def encode_batches(d: EventDispatcher, messages: list[dict[str, Any]]) -> list[Batch]:
    """Encode messages into batches that respect the size limits.

    The common case is one C-level encode of the whole list. When that fails (a value needs
    converting) or the result is too large, messages are encoded one by one: oversized ones are
    dropped and reported, the rest split so that no request passes ``BATCH_SIZE_LIMIT``.
    """
    try:
        array = encode_array(messages)
    except (TypeError, ValueError, RecursionError):
        array = None
    if array is not None and len(array) <= BATCH_SIZE_LIMIT - _BODY_OVERHEAD:
        return [Batch(messages, array)]
    batches: list[Batch] = []
    current: list[dict[str, Any]] = []
    encoded: list[bytes] = []
    size = 0
    for msg in messages:
        try:
            data = encode_message(msg)
        except Exception as exc:  # a value no conversion could save
            d.drops.record(DropReason.UNSERIALISABLE, [msg], cause=exc)
            continue
        if len(data) > MAX_MSG_SIZE:
            d.drops.record(DropReason.TOO_LARGE, [msg], detail=f"{len(data)} bytes > {MAX_MSG_SIZE}")
            continue
        if current and size + len(data) + 1 > BATCH_SIZE_LIMIT - _BODY_OVERHEAD:
            batches.append(Batch.of_encoded(current, encoded))
            current, encoded, size = [], [], 0
        current.append(msg)
        encoded.append(data)
        size += len(data) + 1
    if current:
        batches.append(Batch.of_encoded(current, encoded))
    return batches


def deliver(d: EventDispatcher, batch: Batch) -> Optional[Exception]:
    """POST ``batch`` with the retry policy; record the outcome; return the final error, if any."""
    delays = retry_delays()
    attempt = 0
    while True:
        if d.abandoned:
            return None
        try:
            d.transport.post_batch(
                d.api_key,
                batch.array,
                gzip=d.gzip,
                historical_migration=d.historical_migration,
                timeout=d.request_timeout(),
            )
        except Exception as exc:
            if d.abandoned:
                return None
            if isinstance(exc, APIError) and exc.status == 413:
                # Too large for the server: halve until it fits; a single event that still
                # does not fit is dropped on its own.
                if len(batch.messages) == 1:
                    d.drops.record(DropReason.TOO_LARGE, batch.messages, cause=exc)
                    return exc
                middle = len(batch.messages) // 2
                first = deliver(d, _sub_batch(batch.messages[:middle]))
                second = deliver(d, _sub_batch(batch.messages[middle:]))
                return first or second
            if not is_retryable(exc):
                reason = DropReason.REJECTED if isinstance(exc, APIError) else DropReason.RETRIES_EXHAUSTED
                d.drops.record(reason, batch.messages, cause=exc)
                return exc
            attempt += 1
            wait = delay_for(exc, next(delays))
            if attempt > d.max_retries or not d.can_wait(wait):
                d.drops.record(DropReason.RETRIES_EXHAUSTED, batch.messages, cause=exc)
                return exc
            log.debug("batch upload failed (%s); retry %d in %.2fs", exc, attempt, wait)
            if not d.sleep(wait):
                return None
            continue
        d.record_sent(len(batch.messages))
        return None


def _sub_batch(messages: list[dict[str, Any]]) -> Batch:
    return Batch.of_encoded(messages, [encode_message(msg) for msg in messages])

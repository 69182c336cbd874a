"""Consumer thread: takes messages from the queue, batches them (count, bytes, time), sends, retries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Optional

from posthog._dropped_events import DropReason
from posthog._retry import delay_for, is_retryable, retry_delays
from posthog._serialize import encode_message
from posthog.exceptions import APIError

if TYPE_CHECKING:
    from posthog._dispatcher import EventDispatcher
    from posthog._queue import QueuedItem

__all__ = ["BATCH_SIZE_LIMIT", "MAX_MSG_SIZE", "Consumer"]

log = logging.getLogger("posthog")

#: Largest accepted message, as encoded JSON (3.x: 900 KiB).
MAX_MSG_SIZE: Final = 900 * 1024
#: Largest batch body (3.x: 5 MiB); never exceeded.
BATCH_SIZE_LIMIT: Final = 5 * 1024 * 1024

# (sequence number, message, encoded bytes)
_Entry = tuple[int, dict[str, Any], bytes]


class Consumer:
    """One consumer: a named daemon thread running :meth:`run` until stopped."""

    def __init__(self, dispatcher: EventDispatcher, index: int = 0) -> None:
        self.dispatcher = dispatcher
        self.running = True
        self._carry: Optional[_Entry] = None
        #: messages taken from the queue and not yet delivered or dropped (reported if abandoned)
        self.holding: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self.run, name="posthog.consumer", daemon=True)
        self._id = id(self)
        self.index = index

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
                batch = self._collect()
                if batch:
                    self._send(batch)
                elif not self.running or d.draining:
                    break
            except Exception:  # the loop must survive anything; report and carry on
                log.exception("unexpected error in the PostHog consumer thread")
                self.dispatcher.queue.release(self._id)
                time.sleep(0.05)

    # --- batching ---------------------------------------------------------------------
    def _collect(self) -> list[_Entry]:
        d = self.dispatcher
        queue = d.queue
        batch: list[_Entry] = []
        size = 0
        deadline = 0.0
        if self._carry is not None:
            batch.append(self._carry)
            size = len(self._carry[2])
            self._carry = None
            deadline = time.monotonic() + d.flush_interval
        while len(batch) < d.flush_at:
            item = queue.pop(self._id)
            if item is not None:
                self.holding.append(item[1])
            else:
                if not self.running or d.draining or d.abandoned:
                    break
                if batch:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or d.urgent:
                        break
                    queue.wait_ready(remaining)
                else:
                    queue.wait_ready(1.0)
                continue
            entry = self._encode(item)
            if entry is None:
                continue
            if size + len(entry[2]) > BATCH_SIZE_LIMIT and batch:
                self._carry = entry  # starts the next batch, so no batch passes the limit
                break
            batch.append(entry)
            size += len(entry[2])
            if not deadline:
                deadline = time.monotonic() + d.flush_interval
        if not batch:
            self.holding.clear()
            queue.release(self._id)
        return batch

    def _encode(self, item: QueuedItem) -> Optional[_Entry]:
        seq, msg = item
        try:
            data = encode_message(msg)
        except Exception as exc:  # a value no conversion could save
            self.dispatcher.drops.record(DropReason.UNSERIALISABLE, [msg], cause=exc)
            return None
        if len(data) > MAX_MSG_SIZE:
            self.dispatcher.drops.record(
                DropReason.TOO_LARGE, [msg], detail=f"{len(data)} bytes > {MAX_MSG_SIZE}"
            )
            return None
        return (seq, msg, data)

    # --- sending ----------------------------------------------------------------------
    def _send(self, batch: list[_Entry]) -> None:
        try:
            deliver(self.dispatcher, batch)
        finally:
            carry = self._carry
            self.holding = [] if carry is None else [carry[1]]
            self.dispatcher.queue.release(self._id, None if carry is None else carry[0])


def _messages(batch: Sequence[_Entry]) -> list[dict[str, Any]]:
    return [entry[1] for entry in batch]


def deliver(d: EventDispatcher, batch: Sequence[_Entry]) -> Optional[Exception]:
    """POST ``batch`` with the retry policy; record the outcome; return the final error, if any."""
    delays = retry_delays()
    attempt = 0
    while True:
        if d.abandoned:
            return None
        try:
            d.transport.post_batch(
                d.api_key,
                [entry[2] for entry in batch],
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
                if len(batch) == 1:
                    d.drops.record(DropReason.TOO_LARGE, _messages(batch), cause=exc)
                    return exc
                middle = len(batch) // 2
                first = deliver(d, batch[:middle])
                second = deliver(d, batch[middle:])
                return first or second
            if not is_retryable(exc):
                reason = DropReason.REJECTED if isinstance(exc, APIError) else DropReason.RETRIES_EXHAUSTED
                d.drops.record(reason, _messages(batch), cause=exc)
                return exc
            attempt += 1
            wait = delay_for(exc, next(delays))
            if attempt > d.max_retries or not d.can_wait(wait):
                d.drops.record(DropReason.RETRIES_EXHAUSTED, _messages(batch), cause=exc)
                return exc
            log.debug("batch upload failed (%s); retry %d in %.2fs", exc, attempt, wait)
            if not d.sleep(wait):
                return None
            continue
        d.record_sent(len(batch))
        return None

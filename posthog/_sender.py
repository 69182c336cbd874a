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
from typing import TYPE_CHECKING, Any, Final, Optional

from ._capture_v1 import V1Answer, V1Batch
from ._delivery import HeadDelivery, OneShot
from ._dropped_events import DropReason
from ._outbox import join_arrays
from ._worker import Worker

if TYPE_CHECKING:
    from ._pipeline import Pipeline

__all__ = ["Sender", "deliver_now", "post_events"]

log = logging.getLogger("posthog")

_IDLE_WAIT: Final = 0.5
#: A batch this large goes at once; a smaller one waits up to _LINGER seconds for more.
_FULL_ENOUGH: Final = 1024 * 1024
_LINGER: Final = 0.02


class Sender(Worker):
    """The dispatcher's one sender: a named daemon thread running :meth:`run`."""

    def __init__(self, dispatcher: Pipeline) -> None:
        self.dispatcher = dispatcher
        self.policy = HeadDelivery(dispatcher)
        self._nudge = threading.Event()
        super().__init__("posthog.sender")

    @property
    def outage(self) -> bool:
        """Whether the server has refused every attempt for a while (events are being held)."""
        return self.policy.outage

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
        policy = self.policy
        batch = policy.begin()
        while batch and not d.abandoned:
            try:
                answer = post_events(d, join_arrays(batch), policy.v1, d.request_timeout())
            except Exception as exc:
                wait = policy.failed(batch, exc)
            else:
                wait = policy.succeeded(batch, answer)
            if wait is None:
                return
            if wait:
                self._nudge.clear()
                self._nudge.wait(wait)
            batch = policy.next_batch()


def post_events(d: Pipeline, array: bytes, v1: Optional[V1Batch], timeout: float) -> Optional[V1Answer]:
    """One attempt: ``/batch/`` (v0), capture v1 when ``v1`` is the batch's identity, or the AI
    endpoint for ``capture_ai``'s pipeline."""
    if v1 is None:
        d.transport.post_batch(
            d.api_key,
            array,
            gzip=d.gzip,
            historical_migration=d.historical_migration,
            timeout=timeout,
            ai=d.ai_endpoint,
        )
        return None
    return d.transport.post_v1(
        d.api_key,
        array,
        v1,
        compression=d.compression,
        historical_migration=d.historical_migration,
        timeout=timeout,
    )


def deliver_now(d: Pipeline, array: bytes, messages: list[dict[str, Any]]) -> Optional[Exception]:
    """Sync mode: POST one encoded batch with the retry policy (no retry buffer); return the final error."""
    policy = OneShot(d, messages, array=array)
    while True:
        try:
            answer = post_events(d, policy.array, policy.v1, policy.timeout())
        except Exception as exc:
            wait = policy.failed(exc)
            if wait is None:
                return exc
        else:
            wait = policy.succeeded(answer)
            if wait is None:
                return None
        if not d.sleep(wait):
            return None

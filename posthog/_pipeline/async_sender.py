"""The asyncio sender: one task on the client's event loop that batches, encodes and POSTs events.

It does the work of the encoder and sender threads of the blocking client, in turns: take what
the queue holds (``flush_at`` events, or what ``flush_interval`` gathered), join it into chunks,
then send the head of the outbox while more events gather. Every decision after an attempt is
:class:`~posthog._pipeline.policy.HeadDelivery`'s, as for the thread sender.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Final, Optional

from .._http.async_transport import AsyncTransport
from .._http.capture_v1 import V1Answer, V1Batch
from .dispatcher import EventDispatcher
from .drops import DropReason
from .encode import CHUNK_BYTES, CHUNK_EVENTS, encode_chunks, new_token, publish
from .outbox import join_arrays
from .policy import FULL_ENOUGH, LINGER, HeadDelivery

__all__ = ["AsyncSender", "apost_events", "encode_waiting"]

log = logging.getLogger("posthog")

#: Longest idle wait: an idle task looks at the queue this often even without a wake-up.
_IDLE_WAIT: Final = 1.0


class AsyncPipeline(EventDispatcher):
    """What the async sender needs of its pipeline (``AsyncDispatcher``): an event dispatcher
    with an async transport."""

    atransport: AsyncTransport
    pack_above: int


def encode_waiting(d: AsyncPipeline, limit: int = CHUNK_EVENTS) -> int:
    """Move up to ``limit`` waiting events from the queue into the outbox; return how many."""
    token = new_token()
    taken, _ = d.queue.take(token, limit, CHUNK_BYTES)
    if not taken:
        return 0
    chunks = encode_chunks(d, taken, token)
    if d.outbox.waiting_size > d.pack_above:
        for chunk in chunks:  # a backlog the loop has not had time to send: hold it compressed
            chunk.pack()
    publish(d, chunks)
    return len(taken)


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class AsyncSender:
    """The dispatcher's task on one event loop."""

    def __init__(self, dispatcher: AsyncPipeline, loop: asyncio.AbstractEventLoop) -> None:
        self.dispatcher = dispatcher
        self.loop = loop
        self.policy = HeadDelivery(dispatcher)
        self.running = True
        #: True while the task waits for events (a put then wakes it)
        self.idle = False
        self.task: Optional[asyncio.Task[None]] = None
        #: the thread running the loop
        self.thread_id = threading.get_ident()
        self._woken = False
        self._waiter: Optional[asyncio.Future[None]] = None
        self._first_seen = 0.0
        self._linger_until = 0.0

    @property
    def outage(self) -> bool:
        """Whether the server has refused every attempt for a while (events are being held)."""
        return self.policy.outage

    @property
    def done(self) -> bool:
        """Whether the task has ended (or never started, or its loop is gone)."""
        task = self.task
        return task is None or task.done() or self.loop.is_closed()

    def start(self) -> None:
        """Create the task on the current (running) loop."""
        self.task = self.loop.create_task(self.run(), name="posthog.sender")

    def nudge(self) -> None:
        """Wake the task now (events to send, a flush or a shutdown); safe from any thread."""
        if threading.get_ident() == self.thread_id:
            self._wake_now()
            return
        try:
            self.loop.call_soon_threadsafe(self._wake_now)
        except RuntimeError:  # the loop is closed: whoever waits will notice
            pass

    def _wake_now(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds or until nudged.

        A plain future and a timer rather than ``asyncio.wait_for``, which before Python 3.12
        can swallow a cancellation that arrives as the wait ends (and then ``asyncio.run`` would
        wait for this task forever).
        """
        if self._woken:
            self._woken = False
            return
        waiter = self.loop.create_future()
        self._waiter = waiter
        timer = self.loop.call_later(max(0.0, timeout), _settle, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None
        self._woken = False

    async def run(self) -> None:
        """Batch and send until stopped and nothing is left; nothing raised here ends the loop."""
        d = self.dispatcher
        try:
            while not d.abandoned:
                try:
                    if self._gather():
                        continue
                    if d.outbox:
                        await self._deliver_head()
                        continue
                    if not self.running and d.queue.empty():
                        break
                    # While a due batch lingers, puts need not wake the task.
                    self.idle = not self._linger_until
                    await self._wait(self._idle_timeout())
                    self.idle = False
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # report what this pass held and carry on
                    log.exception("unexpected error in the PostHog sender task")
                    batch = d.outbox.take(0)
                    d.outbox.done(batch)
                    d.drop_chunks(DropReason.RETRIES_EXHAUSTED, batch, cause=exc, detail="internal error")
                    await asyncio.sleep(0.05)
        finally:
            self.idle = False

    def _idle_timeout(self) -> float:
        if self._linger_until:
            return self._linger_until - time.monotonic()
        if self._first_seen:
            return self._first_seen + self.dispatcher.flush_interval - time.monotonic()
        return _IDLE_WAIT

    def _gather(self) -> bool:
        """Encode waiting events when a batch is due; True if any were encoded."""
        d = self.dispatcher
        waiting = d.queue.qsize()
        if not waiting:
            self._first_seen = 0.0
            return False
        now = time.monotonic()
        if not self._first_seen:
            self._first_seen = now
        hurry = d.urgent or d.draining or not self.running
        if not hurry and now - self._first_seen < d.flush_interval:
            if waiting < d.flush_at:
                return False
            # A batch is due: let it fill a moment longer. Each request costs the loop about
            # half a millisecond, more than the events it carries under load.
            if not self._linger_until:
                self._linger_until = now + min(LINGER, d.flush_interval)
            if now < self._linger_until and d.queue.nbytes < FULL_ENOUGH:
                return False
        self._first_seen = 0.0
        self._linger_until = 0.0
        encoded = 0
        while encoded < waiting:
            count = encode_waiting(d)
            if not count:
                break
            encoded += count
        return encoded > 0

    async def _deliver_head(self) -> None:
        """Send the head of the outbox until it is delivered, dropped, or the client gives up."""
        d = self.dispatcher
        policy = self.policy
        batch = policy.begin()
        while batch and not d.abandoned:
            try:
                answer = await apost_events(d, join_arrays(batch), policy.v1, d.request_timeout())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                wait = policy.failed(batch, exc)
            else:
                wait = policy.succeeded(batch, answer)
            if wait is None:
                return
            if wait:
                await self._wait(wait)
            batch = policy.next_batch()


async def apost_events(
    d: AsyncPipeline, array: bytes, v1: Optional[V1Batch], timeout: float
) -> Optional[V1Answer]:
    """One attempt from the event loop: ``/batch/`` (v0), capture v1 when ``v1`` is set, or the AI
    endpoint for ``capture_ai``'s pipeline."""
    if v1 is None:
        await d.atransport.post_batch(
            d.api_key,
            array,
            gzip=d.gzip,
            historical_migration=d.historical_migration,
            timeout=timeout,
            ai=d.ai_endpoint,
        )
        return None
    return await d.atransport.post_v1(
        d.api_key,
        array,
        v1,
        compression=d.compression,
        historical_migration=d.historical_migration,
        timeout=timeout,
    )

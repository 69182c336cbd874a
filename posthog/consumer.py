"""Encoder threads: take events' JSON text from the queue, join it into chunks, hand them to the outbox.

Under light load a chunk is a batch of up to ``flush_at`` events (or what ``flush_interval``
gathered). When a backlog builds, each pass takes up to ``CHUNK_EVENTS`` at once, so the encoder
drains faster than any one thread can call ``capture()``; the sender then merges waiting chunks
into requests of up to ``BATCH_SIZE_LIMIT``. Chunks are kept short so that one encode (C code that
holds the GIL) never stalls the application for more than a few milliseconds.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import TYPE_CHECKING, Final

from ._dropped_events import DropReason
from ._outbox import Chunk, decode
from ._worker import Worker

if TYPE_CHECKING:
    from ._pipeline import Pipeline

__all__ = ["BATCH_SIZE_LIMIT", "CHUNK_EVENTS", "MAX_MSG_SIZE", "Consumer", "encode_chunks", "new_token"]

log = logging.getLogger("posthog")

#: Largest accepted message, as encoded JSON (3.x: 900 KiB).
MAX_MSG_SIZE: Final = 900 * 1024
#: Largest batch body (3.x: 5 MiB); never exceeded.
BATCH_SIZE_LIMIT: Final = 5 * 1024 * 1024
#: Room for the body's other keys around the array (api_key, sentAt, historical_migration).
BODY_OVERHEAD: Final = 1024
#: Most events encoded in one go (a few milliseconds of C code).
CHUNK_EVENTS: Final = 500
#: Most estimated bytes encoded in one go.
CHUNK_BYTES: Final = 512 * 1024

_tokens = itertools.count(1)


def new_token() -> int:
    """A fresh ledger token (``next`` on a count is atomic under the GIL)."""
    return next(_tokens)


class Consumer(Worker):
    """One encoder: a named daemon thread running :meth:`run` until stopped."""

    def __init__(self, dispatcher: Pipeline) -> None:
        self.dispatcher = dispatcher
        #: events (JSON text) taken from the queue and not yet in the outbox (reported if abandoned)
        self.holding: list[str] = []
        super().__init__("posthog.consumer")

    def pause(self) -> None:
        """Ask the thread to stop after what it holds (3.x name)."""
        self.running = False
        self.dispatcher.queue.wake()

    def run(self) -> None:
        """Encode until stopped; nothing raised here ends the loop."""
        d = self.dispatcher
        while not d.abandoned:
            token = new_token()
            try:
                messages = self._collect(token)
                if messages:
                    publish(d, encode_chunks(d, messages, token))
                    self.holding = []
                elif not self.running or d.draining:
                    break
            except Exception as exc:  # the loop must survive anything; report and carry on
                log.exception("unexpected error in the PostHog consumer thread")
                held, self.holding = self.holding, []
                # Whatever this pass held is lost: say so rather than drop it silently.
                d.drops.record(
                    DropReason.RETRIES_EXHAUSTED,
                    decode(held),
                    count=len(held),
                    cause=exc,
                    detail="internal error",
                )
                d.queue.release(token)
                time.sleep(0.05)
        d.outbox.wake()  # the sender may be waiting for this thread to finish

    def _collect(self, token: int) -> list[str]:
        """Take ``flush_at`` messages (more if a backlog waits), or what ``flush_interval`` gathered."""
        d = self.dispatcher
        queue = d.queue
        messages: list[str] = []
        self.holding = messages
        deadline = 0.0
        budget = CHUNK_BYTES
        cap = max(1, min(CHUNK_EVENTS, d.flush_at)) if queue.qsize() < d.flush_at else CHUNK_EVENTS
        while len(messages) < cap and budget > 0:
            taken, size = queue.take(token, cap - len(messages), budget)
            if taken:
                messages.extend(taken)
                budget -= size
                if not deadline:
                    deadline = time.monotonic() + d.flush_interval
                continue
            if len(messages) >= d.flush_at or not self.running or d.draining or d.abandoned:
                break
            if messages:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or d.urgent:
                    break
                queue.wait_ready(remaining, d.flush_at - len(messages))
            else:
                queue.wait_ready(1.0)
        return messages


def publish(d: Pipeline, chunks: list[Chunk]) -> None:
    """Hand encoded chunks to the outbox; report what its byte bound pushed out."""
    for chunk in chunks:
        if d.sender is not None and d.sender.outage:
            chunk.pack()  # it will wait for the server to come back: hold it compressed
        dropped = d.outbox.put(chunk)
        if dropped:
            d.drop_chunks(
                DropReason.BUFFER_FULL, dropped, detail=f"retry buffer over {d.outbox.max_bytes} bytes"
            )


def _array(items: list[str]) -> bytes:
    """A JSON array of events' text, as bytes (the brackets ride on the first and last item)."""
    parts = list(items)
    parts[0] = "[" + parts[0]
    parts[-1] += "]"
    return ",".join(parts).encode("ascii")


def encode_chunks(d: Pipeline, items: list[str], token: int) -> list[Chunk]:
    """Join events' JSON text into arrays that respect the body limit; the first carries ``token``."""
    limit = BATCH_SIZE_LIMIT - BODY_OVERHEAD
    size = sum(map(len, items)) + len(items) + 1
    if size <= limit:
        return [Chunk(_array(items), len(items), token)]
    groups: list[list[str]] = []
    current: list[str] = []
    size = 1
    for text in items:
        if current and size + len(text) + 1 > limit:
            groups.append(current)
            current, size = [], 1
        current.append(text)
        size += len(text) + 1
    groups.append(current)
    chunks = [Chunk(_array(groups[0]), len(groups[0]), token)]
    for group in groups[1:]:
        extra = new_token()
        d.queue.hold_like(extra, token)
        chunks.append(Chunk(_array(group), len(group), extra))
    return chunks

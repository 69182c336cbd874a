"""Encoding: take events' JSON text from the queue, join it into chunks, hand them to the outbox.

Under light load a chunk is a batch of up to ``flush_at`` events (or what ``flush_interval``
gathered). When a backlog builds, each pass takes up to ``CHUNK_EVENTS`` at once, so the encoder
drains faster than any one thread can call ``capture()``; the sender then merges waiting chunks
into requests of up to ``BATCH_SIZE_LIMIT``. Chunks are kept short so that one encode (C code that
holds the GIL) never stalls the application for more than a few milliseconds.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Final

from .drops import DropReason
from .outbox import Chunk, decode

if TYPE_CHECKING:
    from .interface import Pipeline

__all__ = [
    "BATCH_SIZE_LIMIT",
    "CHUNK_EVENTS",
    "MAX_MSG_SIZE",
    "encode_chunks",
    "encode_slice",
    "new_token",
]

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


def encode_slice(d: Pipeline, holding: list[str], waiting: int) -> int:
    """Move one batch from the queue into the outbox: ``flush_at`` events, or up to
    ``CHUNK_EVENTS`` when a backlog waits; return how many. ``holding`` lists the events between
    the two (so a deadline can report them); whatever goes wrong is reported, never raised."""
    cap = max(1, min(CHUNK_EVENTS, d.flush_at)) if waiting < d.flush_at else CHUNK_EVENTS
    token = new_token()
    try:
        taken, _ = d.queue.take(token, cap, CHUNK_BYTES)
        if not taken:
            return 0
        holding.extend(taken)
        publish(d, encode_chunks(d, taken, token))
        return len(taken)
    except Exception as exc:  # report and carry on: the engine must survive anything
        log.exception("unexpected error while encoding PostHog events")
        held = list(holding)
        d.drops.record(
            DropReason.RETRIES_EXHAUSTED, decode(held), count=len(held), cause=exc, detail="internal error"
        )
        d.queue.release(token)
        return 0
    finally:
        holding.clear()


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

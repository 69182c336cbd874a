"""One POST of encoded events (``/batch/``, capture v1 or the AI endpoint), and sync mode's sending.

The engine's senders (:mod:`posthog._pipeline.engine`) call :func:`post_events` for the head of a
pipeline's outbox, one request at a time per pipeline, merging waiting chunks up to the body
limit; :mod:`posthog._pipeline.policy` decides what follows each attempt (retry with backoff, hold
through an outage in the retry buffer, split, drop). Order and each event's bytes (uuid,
timestamp) are kept across attempts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .._http.capture_v1 import V1Answer, V1Batch
from .policy import OneShot

if TYPE_CHECKING:
    from .interface import Pipeline

__all__ = ["deliver_now", "post_events"]


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

"""What happens to an event between the call and the queue: the request context's additions (see
:mod:`posthog.contexts`) and the ``before_send`` hook."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from ._pipeline.drops import DropReason, DropRecorder
from .contexts import Context, _current

__all__ = ["_context_id", "run_before_send", "with_context"]

log = logging.getLogger("posthog")


def _context_id(distinct_id: Any) -> Any:
    """``distinct_id``, or the context's when none is given (None outside a context)."""
    if distinct_id is None:
        context = _current.get()
        if context is not None:
            return context.distinct_id
    return distinct_id


def with_context(properties: dict[str, Any], context: Context, distinct_id: Any) -> None:
    """Add the context's tags (what the event already has wins), ``$context_tags`` and, unless the
    event names someone other than the context's person, ``$session_id``."""
    if context.tags:
        for key, value in context.tags.items():
            properties.setdefault(key, value)
        properties.setdefault("$context_tags", list(context.tags))
    if context.session_id is not None and (
        context.distinct_id is None or str(distinct_id) == context.distinct_id
    ):
        properties.setdefault("$session_id", context.session_id)


def run_before_send(
    hook: Callable[[dict[str, Any]], Any], msg: dict[str, Any], drops: DropRecorder
) -> Optional[dict[str, Any]]:
    """The event as ``hook`` returns it; None when it dropped it, raised or returned a non-dict
    (a failing scrubber must not leak what it was meant to remove): counted and reported."""
    try:
        result = hook(msg)
    except Exception as exc:
        log.debug("before_send raised; the event is dropped", exc_info=True)
        drops.record(DropReason.BEFORE_SEND_ERROR, [msg], cause=exc, detail=repr(exc))
        return None
    if result is None:
        drops.record(DropReason.BEFORE_SEND, [msg], detail="before_send returned None")
        return None
    if not isinstance(result, dict):
        detail = f"before_send returned {type(result).__name__}, not the event dict"
        drops.record(DropReason.BEFORE_SEND_ERROR, [msg], detail=detail)
        return None
    return result

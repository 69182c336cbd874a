"""What the Celery integration writes into task messages and reads back, and its events' properties.

Imports no Celery: the integration hands it plain values (header dicts, task requests).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final, Optional

from ..contexts import get_context_distinct_id, get_context_session_id, get_tags
from ._request_context import clean_header

__all__ = [
    "DISTINCT_ID_HEADER",
    "SESSION_ID_HEADER",
    "TAGS_HEADER",
    "clean_id",
    "context_headers",
    "error_properties",
    "header_from_request",
    "published_properties",
    "tags_from_header",
    "text",
    "worker_properties",
]

log = logging.getLogger("posthog")

DISTINCT_ID_HEADER: Final = "X-POSTHOG-DISTINCT-ID"
SESSION_ID_HEADER: Final = "X-POSTHOG-SESSION-ID"
TAGS_HEADER: Final = "X-POSTHOG-CONTEXT-TAGS"
#: A tags header longer than this is not read (and not written: tags are left out until it fits).
MAX_TAGS_HEADER: Final = 32 * 1024


def context_headers() -> dict[str, str]:
    """The current context's distinct id, session id and tags (JSON), as message headers."""
    headers: dict[str, str] = {}
    distinct_id = get_context_distinct_id()
    if distinct_id is not None:
        headers[DISTINCT_ID_HEADER] = distinct_id
    session_id = get_context_session_id()
    if session_id is not None:
        headers[SESSION_ID_HEADER] = session_id
    tags: dict[str, Any] = {}
    for name, value in get_tags().items():
        try:
            json.dumps(value)  # a tag JSON cannot carry is left out, not a failed publish
        except (TypeError, ValueError):
            log.debug("PostHog tag %r is not JSON-serialisable: not sent to the task", name)
            continue
        tags[str(name)] = value
    if tags:
        encoded = json.dumps(tags, separators=(",", ":"))
        if len(encoded) > MAX_TAGS_HEADER:
            log.warning("PostHog context tags exceed %d bytes: not sent to the task", MAX_TAGS_HEADER)
        else:
            headers[TAGS_HEADER] = encoded
    return headers


def header_from_request(request: Any, name: str) -> Any:
    """A custom header of a running task's message.

    A worker makes the message's headers attributes of ``task.request`` (Celery 5.6 also keeps
    them in ``task.request.headers``; message protocols 1 and 2 alike); an eager
    ``apply(headers=...)`` puts them only in ``task.request.headers``.
    """
    value = getattr(request, name, None)
    if value is not None:
        return value
    nested = getattr(request, "headers", None)
    if isinstance(nested, Mapping):
        if name in nested:
            return nested[name]
        lowered = name.lower()
        for key, item in nested.items():
            if isinstance(key, str) and key.lower() == lowered:
                return item
    return None


def clean_id(value: Any) -> Optional[str]:
    """A distinct id or session id read from a header: a cleaned string, or None."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return clean_header(value) if isinstance(value, str) else None


def tags_from_header(value: Any) -> dict[str, Any]:
    """The producer's tags from the JSON header; empty when missing or malformed."""
    if not isinstance(value, (str, bytes)) or len(value) > MAX_TAGS_HEADER:
        return {}
    try:
        tags = json.loads(value)
    except ValueError:
        log.debug("ignoring a malformed %s header", TAGS_HEADER)
        return {}
    if not isinstance(tags, dict):
        return {}
    return {name: item for name, item in tags.items() if isinstance(name, str)}


def _queue_name(exchange: Optional[str], routing_key: Optional[str], declare: Iterable[Any] = ()) -> Any:
    for queue in declare or ():
        name = getattr(queue, "name", None)
        if name:
            return name
    # The default (anonymous) exchange routes a message to the queue named by its routing key.
    return routing_key if exchange == "" and routing_key else None


def _put(props: MutableMapping[str, Any], **values: Any) -> None:
    """Add the values that are known."""
    props.update((name, value) for name, value in values.items() if value is not None)


def published_properties(
    name: str, headers: Mapping[str, Any], signal: Mapping[str, Any], version: str
) -> dict[str, Any]:
    """Properties of ``celery task published`` from ``before_task_publish``'s arguments (the
    producer does not know the worker's host)."""
    body, exchange, routing_key = signal.get("body"), signal.get("exchange"), signal.get("routing_key")
    task_id = headers.get("id")
    if task_id is None and isinstance(body, Mapping):  # message protocol 1
        task_id = body.get("id")
    retries = headers.get("retries")
    if retries is None and isinstance(body, Mapping):
        retries = body.get("retries")
    props: dict[str, Any] = {"celery_task_name": name, "celery_state": "PENDING", "celery_version": version}
    _put(
        props,
        celery_task_id=task_id,
        celery_exchange=exchange,
        celery_routing_key=routing_key,
        celery_queue=_queue_name(exchange, routing_key, signal.get("declare") or ()),
        celery_retry_count=retries if isinstance(retries, int) else 0,
    )
    return props


def worker_properties(task: Any, request: Any, state: str, version: str) -> dict[str, Any]:
    """Properties of the worker's events for the task running with ``request``."""
    delivery = getattr(request, "delivery_info", None) or {}
    exchange, routing_key = delivery.get("exchange"), delivery.get("routing_key")
    props: dict[str, Any] = {"celery_state": state, "celery_version": version}
    retries = getattr(request, "retries", None)
    _put(
        props,
        celery_task_id=getattr(request, "id", None),
        celery_task_name=getattr(task, "name", None),
        celery_hostname=getattr(request, "hostname", None),
        celery_exchange=exchange,
        celery_routing_key=routing_key,
        celery_queue=delivery.get("queue") or _queue_name(exchange, routing_key),
        celery_retry_count=retries if isinstance(retries, int) else None,
    )
    return props


def error_properties(exc: Any) -> dict[str, Any]:
    """``error_type`` and ``error_message`` of an exception (nothing for None)."""
    if exc is None:
        return {}
    return {"error_type": type(exc).__name__, "error_message": text(exc)}


def text(value: Any) -> str:
    """``str(value)``, or its type's name when that fails."""
    try:
        return str(value)
    except Exception:
        return type(value).__name__

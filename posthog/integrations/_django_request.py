"""What PostHog reads from a Django request: the distinct id and the request properties.

Pure helpers over the request object (``request.headers``, ``request.META``,
``request.method``, ``build_absolute_uri()``); nothing here imports Django, and
nothing raises: a request that cannot answer a question simply leaves the key out.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

__all__ = ["already_captured", "distinct_id_from_headers", "request_properties"]

log = logging.getLogger("posthog")

DISTINCT_ID_HEADER: Final = "X-POSTHOG-DISTINCT-ID"
# W3C tracestate entry written by posthog-js: "posthog-distinct-id=<id>", entries comma separated.
_TRACESTATE_DISTINCT_ID: Final = re.compile(r"(?:^|[,\s])posthog-distinct-id=([^,]+)")
_CAPTURED_MARK: Final = "__posthog_captured__"


def _header(request: Any, name: str) -> str | None:
    try:
        value = request.headers.get(name)
    except Exception:  # not a Django request, or a broken one
        value = None
    if value is None:
        try:
            value = request.META.get("HTTP_" + name.upper().replace("-", "_"))
        except Exception:
            value = None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def distinct_id_from_headers(request: Any) -> str | None:
    """The ``X-POSTHOG-DISTINCT-ID`` header, else ``posthog-distinct-id`` from ``tracestate``."""
    distinct_id = _header(request, DISTINCT_ID_HEADER)
    if distinct_id:
        return distinct_id
    tracestate = _header(request, "tracestate")
    if tracestate:
        match = _TRACESTATE_DISTINCT_ID.search(tracestate)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return None


def _client_ip(request: Any) -> str | None:
    forwarded = _header(request, "X-Forwarded-For")
    if forwarded:
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first
    try:
        remote = request.META.get("REMOTE_ADDR")
    except Exception:
        return None
    return remote if isinstance(remote, str) and remote else None


def _current_url(request: Any) -> str | None:
    try:
        url = request.build_absolute_uri()
    except Exception:  # DisallowedHost and friends: fall back to the path
        try:
            url = request.get_full_path()
        except Exception:
            return None
    return url if isinstance(url, str) else None


def request_properties(request: Any) -> dict[str, Any]:
    """``$current_url``, ``$request_method``, ``$ip``, ``$user_agent``, ``traceparent`` (present ones)."""
    method = getattr(request, "method", None)
    candidates: dict[str, Any] = {
        "$current_url": _current_url(request),
        "$request_method": method if isinstance(method, str) else None,
        "$ip": _client_ip(request),
        "$user_agent": _header(request, "User-Agent"),
        "traceparent": _header(request, "traceparent"),
    }
    return {key: value for key, value in candidates.items() if value is not None}


def already_captured(exception: BaseException) -> bool:
    """Mark ``exception`` as reported; ``True`` if it already was.

    The middleware and the signal-based integration can both see the same
    exception; only the first one reports it.
    """
    if getattr(exception, _CAPTURED_MARK, False):
        return True
    try:
        setattr(exception, _CAPTURED_MARK, True)
    except Exception:  # exceptions with __slots__ cannot be marked; report them (maybe twice)
        log.debug("cannot mark %s as captured", type(exception).__name__)
    return False

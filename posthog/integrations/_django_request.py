"""What PostHog reads from a Django request: the tracing ids and the request properties.

Pure helpers over the request object (``request.headers``, ``request.META``, ``request.method``,
``get_host()``); nothing here imports Django, and nothing raises: a request that cannot answer a
question simply leaves the key out. The properties agree with the Flask and ASGI integrations
(see ``_request_context``): ``$current_url`` has no query string, ``$ip`` is the peer unless
``trusted_proxies`` says which peers are proxies.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final, Optional

from ..contexts import _MARK
from ._request_context import TrustedProxies, clean_header, client_ip
from ._request_context import request_properties as common_properties

__all__ = [
    "already_captured",
    "distinct_id_from_headers",
    "request_properties",
    "session_id_from_headers",
    "user_properties",
]

log = logging.getLogger("posthog")

# W3C tracestate entry written by posthog-js: "posthog-distinct-id=<id>", entries comma separated.
_TRACESTATE_DISTINCT_ID: Final = re.compile(r"(?:^|[,\s])posthog-distinct-id=([^,]+)")


def _header(request: Any, name: str) -> Optional[str]:
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


def distinct_id_from_headers(request: Any) -> Optional[str]:
    """The ``X-POSTHOG-DISTINCT-ID`` header, else ``posthog-distinct-id`` from ``tracestate``."""
    distinct_id = clean_header(_header(request, "X-POSTHOG-DISTINCT-ID"))
    if distinct_id:
        return distinct_id
    tracestate = _header(request, "tracestate")
    if tracestate:
        match = _TRACESTATE_DISTINCT_ID.search(tracestate)
        if match:
            return clean_header(match.group(1))
    return None


def session_id_from_headers(request: Any) -> Optional[str]:
    """The ``X-POSTHOG-SESSION-ID`` header."""
    return clean_header(_header(request, "X-POSTHOG-SESSION-ID"))


def _meta(request: Any, key: str) -> Optional[str]:
    try:
        value = request.META.get(key)
    except Exception:
        return None
    return value if isinstance(value, str) and value else None


def request_properties(request: Any, trusted_proxies: TrustedProxies = None) -> dict[str, Any]:
    """``$current_url`` (no query string), ``$request_method``, ``$request_path``, ``$ip``,
    ``$user_agent``, ``$raw_user_agent`` and ``traceparent``: the ones the request has."""
    try:
        host: Optional[str] = request.get_host()
    except Exception:  # DisallowedHost and friends: the URL is the path alone
        host = None
    path = getattr(request, "path", None)
    method = getattr(request, "method", None)
    try:
        scheme = str(request.scheme)
    except Exception:
        scheme = "http"
    props = common_properties(
        scheme=scheme,
        host=host,
        path=path if isinstance(path, str) else "/",
        method=method if isinstance(method, str) else "",
        ip=client_ip(_meta(request, "REMOTE_ADDR"), _header(request, "X-Forwarded-For"), trusted_proxies),
        user_agent=_header(request, "User-Agent"),
    )
    traceparent = _header(request, "traceparent")
    if traceparent:
        props["traceparent"] = traceparent
    return props


def user_properties(request: Any) -> dict[str, Any]:
    """``email`` of the authenticated user, when ``AuthenticationMiddleware`` put one on the request."""
    try:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return {}
        email = getattr(user, "email", None)
    except Exception:  # a session backend that fails, a custom user model: leave it out
        log.debug("could not read the request's user", exc_info=True)
        return {}
    return {"email": email} if isinstance(email, str) and email else {}


def already_captured(exception: BaseException) -> bool:
    """Mark ``exception`` as reported; True if it already was (the middleware, the signal-based
    integration and an enclosing context may all see the same exception: only the first reports)."""
    if getattr(exception, _MARK, False):
        return True
    try:
        setattr(exception, _MARK, True)
    except Exception:  # exceptions with __slots__ cannot be marked; report them (maybe twice)
        log.debug("cannot mark %s as captured", type(exception).__name__)
    return False

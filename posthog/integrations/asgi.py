"""Request contexts for ASGI apps (Starlette, FastAPI, any ASGI 3 app): ``PosthogASGIMiddleware``.

    app.add_middleware(PosthogASGIMiddleware, client=posthog_client)

Each HTTP request runs in a fresh context: its distinct id and session come from the
``X-POSTHOG-DISTINCT-ID`` / ``X-POSTHOG-SESSION-ID`` headers PostHog's browser SDK sets (unless
``capture_tracing_headers=False``), and every event captured while it is handled carries the
request's properties (``$current_url`` without the query string, ``$request_method``,
``$request_path``, ``$ip``, ``$user_agent``). An unhandled exception is captured once, with the
request's ids, then re-raised for the framework. Works with ``Posthog`` and ``AsyncPosthog``.
Imports no framework.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Any, Callable, Optional

from ..contexts import ClientBase, identify_context, new_context, set_context_session, tag
from ._request_context import (
    DISTINCT_ID_HEADER,
    SESSION_ID_HEADER,
    TrustedProxies,
    capture_unhandled,
    clean_header,
    client_ip,
    request_properties,
)

__all__ = ["PosthogASGIMiddleware"]

log = logging.getLogger("posthog")

Scope = Mapping[str, Any]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class PosthogASGIMiddleware:
    """Open a PostHog request context around each HTTP request of an ASGI app.

    ``request_filter(scope)`` returning false leaves a request alone; ``extra_properties(scope)``
    returns more properties for its events; ``trusted_proxies`` (addresses or networks, e.g.
    ``["10.0.0.0/8"]``) lets ``$ip`` come from ``X-Forwarded-For``. ``capture_exceptions``:
    None or True captures unhandled exceptions, False does not.
    """

    def __init__(
        self,
        app: ASGIApp,
        client: Optional[ClientBase] = None,
        capture_exceptions: Optional[bool] = None,
        request_filter: Optional[Callable[[Scope], bool]] = None,
        extra_properties: Optional[Callable[[Scope], Mapping[str, Any]]] = None,
        capture_tracing_headers: Optional[bool] = None,
        trusted_proxies: TrustedProxies = None,
    ) -> None:
        self.app = app
        self.client = client
        self.capture_exceptions = capture_exceptions is not False
        self.request_filter = request_filter
        self.extra_properties = extra_properties
        self.capture_tracing_headers = capture_tracing_headers is not False
        self.trusted_proxies = list(trusted_proxies) if trusted_proxies else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not self._wanted(scope):
            await self.app(scope, receive, send)
            return
        with new_context(fresh=True, capture_exceptions=False, client=self.client):
            self._open(scope)
            try:
                await self.app(scope, receive, send)
            except Exception as exc:
                if self.capture_exceptions:
                    capture_unhandled(self.client, exc)
                raise

    def _wanted(self, scope: Scope) -> bool:
        if self.request_filter is None:
            return True
        try:
            return bool(self.request_filter(scope))
        except Exception:  # a broken filter must not break the app
            log.warning("PostHog request_filter raised; the request is tracked", exc_info=True)
            return True

    def _open(self, scope: Scope) -> None:
        """Identify the context from the tracing headers and tag the request's properties."""
        try:
            headers = {
                bytes(name).decode("latin-1").lower(): bytes(value).decode("latin-1")
                for name, value in scope.get("headers") or ()
            }
            if self.capture_tracing_headers:
                identify_context(clean_header(headers.get(DISTINCT_ID_HEADER)))
                set_context_session(clean_header(headers.get(SESSION_ID_HEADER)))
            peer = scope.get("client")
            server = scope.get("server")
            host = headers.get("host") or (f"{server[0]}:{server[1]}" if server else None)
            props = request_properties(
                scheme=str(scope.get("scheme") or "http"),
                host=host,
                path=str(scope.get("root_path") or "") + str(scope.get("path") or "/"),
                method=str(scope.get("method") or ""),
                ip=client_ip(peer[0] if peer else None, headers.get("x-forwarded-for"), self.trusted_proxies),
                user_agent=headers.get("user-agent"),
            )
            if self.extra_properties is not None:
                props.update(self.extra_properties(scope) or {})
            for name, value in props.items():
                tag(name, value)
        except Exception:  # never break the request for analytics
            log.warning("could not open a PostHog request context", exc_info=True)

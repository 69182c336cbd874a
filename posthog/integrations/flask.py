"""Request contexts for Flask apps: ``PosthogFlaskIntegration``.

    PosthogFlaskIntegration(app, client=posthog_client)
    # or, with an application factory:
    posthog_integration = PosthogFlaskIntegration(client=posthog_client)
    posthog_integration.init_app(app)

Each request runs in a fresh context: its distinct id and session come from the
``X-POSTHOG-DISTINCT-ID`` / ``X-POSTHOG-SESSION-ID`` headers PostHog's browser SDK sets (unless
``capture_tracing_headers=False``), and every event captured while it is handled carries the
request's properties (``$current_url`` without the query string, ``$request_method``,
``$request_path``, ``$ip``, ``$user_agent``, ``$request_route``). An unhandled exception is
captured once, with the request's ids, before Flask answers it with a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Callable, Optional

try:
    import flask
except ImportError as e:  # the optional dependency is missing
    raise ImportError("Flask not installed; pip install 'posthog[flask]'") from e

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

__all__ = ["PosthogFlaskIntegration"]

log = logging.getLogger("posthog")

#: Where the open context of a request is kept (on ``flask.g``).
_G_KEY = "_posthog_request_context"


class PosthogFlaskIntegration:
    """Open a PostHog request context around each request of a Flask app.

    ``request_filter(request)`` returning false leaves a request alone; ``extra_properties(request)``
    returns more properties for its events; ``trusted_proxies`` (addresses or networks, e.g.
    ``["10.0.0.0/8"]``) lets ``$ip`` come from ``X-Forwarded-For``. ``capture_exceptions``:
    None or True captures unhandled exceptions, False does not.
    """

    def __init__(
        self,
        app: Optional[flask.Flask] = None,
        *,
        client: Optional[ClientBase] = None,
        capture_exceptions: Optional[bool] = None,
        request_filter: Optional[Callable[[flask.Request], bool]] = None,
        extra_properties: Optional[Callable[[flask.Request], Mapping[str, Any]]] = None,
        capture_tracing_headers: Optional[bool] = None,
        trusted_proxies: TrustedProxies = None,
    ) -> None:
        self.client = client
        self.capture_exceptions = capture_exceptions is not False
        self.request_filter = request_filter
        self.extra_properties = extra_properties
        self.capture_tracing_headers = capture_tracing_headers is not False
        self.trusted_proxies = list(trusted_proxies) if trusted_proxies else None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> None:
        """Install the integration on ``app`` (its context opens before any other hook runs)."""
        app.before_request_funcs.setdefault(None, []).insert(0, self._before_request)
        app.teardown_request(self._teardown_request)
        flask.got_request_exception.connect(self._on_exception, app, weak=False)
        app.extensions["posthog"] = self

    def _before_request(self) -> None:
        request = flask.request
        if not self._wanted(request):
            return
        manager = new_context(fresh=True, capture_exceptions=False, client=self.client)
        manager.__enter__()
        setattr(flask.g, _G_KEY, manager)
        self._open(request)

    def _teardown_request(self, error: Optional[BaseException]) -> None:
        manager: Optional[AbstractContextManager[Any]] = flask.g.pop(_G_KEY, None)
        if manager is not None:
            manager.__exit__(None, None, None)

    def _wanted(self, request: flask.Request) -> bool:
        if self.request_filter is None:
            return True
        try:
            return bool(self.request_filter(request))
        except Exception:  # a broken filter must not break the app
            log.warning("PostHog request_filter raised; the request is tracked", exc_info=True)
            return True

    def _open(self, request: flask.Request) -> None:
        """Identify the context from the tracing headers and tag the request's properties."""
        try:
            headers = request.headers
            if self.capture_tracing_headers:
                identify_context(clean_header(headers.get(DISTINCT_ID_HEADER)))
                set_context_session(clean_header(headers.get(SESSION_ID_HEADER)))
            rule = request.url_rule
            props = request_properties(
                scheme=request.scheme,
                host=request.host,
                path=request.script_root + request.path,
                method=request.method,
                ip=client_ip(request.remote_addr, headers.get("X-Forwarded-For"), self.trusted_proxies),
                user_agent=headers.get("User-Agent"),
                route=rule.rule if rule is not None else None,
            )
            if self.extra_properties is not None:
                props.update(self.extra_properties(request) or {})
            for name, value in props.items():
                tag(name, value)
        except Exception:  # never break the request for analytics
            log.warning("could not open a PostHog request context", exc_info=True)

    def _on_exception(self, sender: Any, exception: BaseException, **extra: Any) -> None:
        """``got_request_exception``: an unhandled exception, still inside the request's context."""
        if not self.capture_exceptions:
            return
        if flask.g.get(_G_KEY) is not None:  # not a request the filter left alone
            capture_unhandled(self.client, exception)

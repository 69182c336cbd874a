"""Django middleware that runs each request in a PostHog context and reports unhandled view exceptions.

Add ``"posthog.integrations.django.PosthogContextMiddleware"`` to ``MIDDLEWARE``. Works in sync
(WSGI) and async (ASGI) stacks. Every event captured while a request is handled gets the
request's distinct id and session (from the ``X-POSTHOG-DISTINCT-ID`` / ``X-POSTHOG-SESSION-ID``
headers PostHog's browser SDK sets) and its properties (``$current_url`` without the query string,
``$request_method``, ``$request_path``, ``$request_route``, ``$ip``, ``$user_agent``, ``email`` of
an authenticated user); without an id, events are personless. Settings, all optional, read when
Django builds the middleware (each ``POSTHOG_MW_X`` may also be spelled ``POSTHOG_MIDDLEWARE_X``):

``POSTHOG_MW_CLIENT``
    a ``posthog.Client`` (or its dotted path); default: the module facade's client.
``POSTHOG_MW_CAPTURE_EXCEPTIONS``
    ``False`` turns exception reporting off (default ``True``).
``POSTHOG_MW_REQUEST_FILTER``
    ``fn(request) -> bool``; false leaves the request alone (no context).
``POSTHOG_MW_EXTRA_TAGS`` / ``POSTHOG_MW_EXTRA_PROPERTIES``
    ``fn(request) -> dict`` of more properties for the request's events.
``POSTHOG_MW_CAPTURE_TRACING_HEADERS``
    ``False`` ignores the tracing headers (default ``True``).
``POSTHOG_MW_TRUSTED_PROXIES``
    addresses or networks of your proxies: ``$ip`` then comes from ``X-Forwarded-For``.
``POSTHOG_MW_DISTINCT_ID``
    ``fn(request)`` returning the distinct id; when it returns nothing, the headers are used.

Exceptions Django answers with a 4xx (``Http404``, ``PermissionDenied``, ``BadRequest``,
``SuspiciousOperation``) are not reported. Each of the functions may be given as a dotted path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Optional, Union, cast

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
    from django.http import Http404
    from django.utils.module_loading import import_string
except ImportError as e:  # the optional dependency is missing
    raise ImportError("Django not installed; pip install 'posthog[django]'") from e

from .._package import facade
from ..contexts import identify_context, new_context, set_context_session, tag
from ._django_request import (
    already_captured,
    distinct_id_from_headers,
    request_properties,
    session_id_from_headers,
    user_properties,
)

__all__ = ["PosthogContextMiddleware"]

log = logging.getLogger("posthog")

_CLIENT_ERRORS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation)

GetResponse = Callable[[Any], Union[Any, Awaitable[Any]]]
RequestFn = Callable[[Any], Any]


def _setting(name: str, default: Any = None) -> Any:
    """``POSTHOG_MW_<name>``, else its older spelling ``POSTHOG_MIDDLEWARE_<name>``."""
    for prefix in ("POSTHOG_MW_", "POSTHOG_MIDDLEWARE_"):
        value = getattr(settings, prefix + name, None)
        if value is not None:
            return value
    return default


def _function(name: str) -> Optional[RequestFn]:
    """A callable setting (given as a callable or its dotted path), or None."""
    value = _setting(name)
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError:
            log.error("settings.POSTHOG_MW_%s = %r cannot be imported; ignored", name, value)
            return None
    if value is not None and not callable(value):
        log.error("settings.POSTHOG_MW_%s is not callable; ignored", name)
        return None
    return cast(Optional[RequestFn], value)


def _call(fn: Optional[RequestFn], request: Any, name: str) -> Any:
    if fn is None:
        return None
    try:
        return fn(request)
    except Exception:  # user code (often request.user access): never break the request
        log.warning("settings.POSTHOG_MW_%s raised; ignored for this request", name, exc_info=True)
        return None


class PosthogContextMiddleware:
    """Open a PostHog context per request; report exceptions raised by views, with its ids."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)
        client = _setting("CLIENT")
        if isinstance(client, str):
            try:
                client = import_string(client)
            except ImportError:
                log.error("settings.POSTHOG_MW_CLIENT = %r cannot be imported; ignored", client)
                client = None
        self.client: Any = client
        self.capture_exceptions = bool(_setting("CAPTURE_EXCEPTIONS", True))
        self.capture_tracing_headers = bool(_setting("CAPTURE_TRACING_HEADERS", True))
        self.trusted_proxies: Optional[list[str]] = list(_setting("TRUSTED_PROXIES", None) or ()) or None
        self.request_filter = _function("REQUEST_FILTER")
        self.extra_tags = [fn for fn in (_function("EXTRA_TAGS"), _function("EXTRA_PROPERTIES")) if fn]
        self.distinct_id_fn = _function("DISTINCT_ID")

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self.__acall__(request)
        if not self._wanted(request):
            return self.get_response(request)
        with new_context(fresh=True, capture_exceptions=False, client=self.client):
            self._open(request)
            return self.get_response(request)

    async def __acall__(self, request: Any) -> Any:
        """The async path, used when Django runs the stack under ASGI."""
        if not self._wanted(request):
            return await self.get_response(request)
        with new_context(fresh=True, capture_exceptions=False, client=self.client):
            self._open(request)
            return await self.get_response(request)

    def _wanted(self, request: Any) -> bool:
        if self.request_filter is None:
            return True
        answer = _call(self.request_filter, request, "REQUEST_FILTER")
        return True if answer is None else bool(answer)

    def _open(self, request: Any) -> None:
        """Identify the context and tag the request's properties (never raises)."""
        try:
            if self.capture_tracing_headers:
                set_context_session(session_id_from_headers(request))
            identify_context(self.distinct_id(request))
            props = request_properties(request, self.trusted_proxies)
            for fn in self.extra_tags:
                extra = _call(fn, request, "EXTRA_TAGS")
                if isinstance(extra, Mapping):
                    props.update(extra)
            for name, value in props.items():
                tag(name, value)
        except Exception:
            log.warning("could not open a PostHog request context", exc_info=True)

    def distinct_id(self, request: Any) -> Optional[str]:
        """The ``POSTHOG_MW_DISTINCT_ID`` function's answer, else the id in the tracing headers."""
        value = _call(self.distinct_id_fn, request, "DISTINCT_ID")
        if value:
            return str(value)
        return distinct_id_from_headers(request) if self.capture_tracing_headers else None

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        """Django hook after URL resolution: tag ``$request_route`` and the user's ``email``."""
        try:
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None)
            if route:
                tag("$request_route", "/" + route if not route.startswith("/") else route)
            for name, value in user_properties(request).items():
                tag(name, value)
        except Exception:
            log.debug("could not tag the request's route", exc_info=True)

    def process_exception(self, request: Any, exception: BaseException) -> None:
        """Django hook for exceptions raised by the view: reports (inside the request's context)
        and lets Django respond."""
        if not self.capture_exceptions or isinstance(exception, _CLIENT_ERRORS):
            return
        try:
            if already_captured(exception):
                return
            client = self.client if self.client is not None else facade()
            client.capture_exception(exception)
        except Exception:  # boundary: reporting must never replace the application's error response
            log.exception("Failed to capture exception from Django view")

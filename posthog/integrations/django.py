"""Django middleware that reports unhandled view exceptions to PostHog.

Add ``"posthog.integrations.django.PosthogContextMiddleware"`` to
``MIDDLEWARE``. Works in sync (WSGI) and async (ASGI) stacks. Settings, all
optional and read when Django builds the middleware:

``POSTHOG_MIDDLEWARE_CLIENT``
    a ``posthog.Client`` (or its dotted path); default: the module facade
    (``posthog.capture_exception``, configured through ``posthog.api_key``...).
``POSTHOG_MIDDLEWARE_DISTINCT_ID``
    a callable (or its dotted path) taking the request and returning the
    distinct id; when it returns nothing, the ``X-POSTHOG-DISTINCT-ID`` header
    and then the ``tracestate`` entry ``posthog-distinct-id`` are used.
``POSTHOG_MIDDLEWARE_CAPTURE_EXCEPTIONS``
    ``False`` turns reporting off (default ``True``).

Exceptions Django answers with a 4xx (``Http404``, ``PermissionDenied``,
``BadRequest``, ``SuspiciousOperation``) are not reported.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Union

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction
    from django.conf import settings
    from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
    from django.http import Http404
    from django.utils.module_loading import import_string
except ImportError as e:  # the optional dependency is missing
    raise ImportError("Django not installed; pip install 'posthog[django]'") from e

from .._package import facade
from ._django_request import (
    already_captured,
    distinct_id_from_headers,
    request_properties,
)

__all__ = ["PosthogContextMiddleware"]

log = logging.getLogger("posthog")

_CLIENT_ERRORS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation)

GetResponse = Callable[[Any], Union[Any, Awaitable[Any]]]


def _resolve(setting_name: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return import_string(value)
        except ImportError:
            log.error("settings.%s = %r cannot be imported; ignored", setting_name, value)
            return None
    return value


class PosthogContextMiddleware:
    """Report exceptions raised by views, with the request's distinct id and properties."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)
        self.client: Any = _resolve(
            "POSTHOG_MIDDLEWARE_CLIENT", getattr(settings, "POSTHOG_MIDDLEWARE_CLIENT", None)
        )
        distinct_id_fn = _resolve(
            "POSTHOG_MIDDLEWARE_DISTINCT_ID", getattr(settings, "POSTHOG_MIDDLEWARE_DISTINCT_ID", None)
        )
        if distinct_id_fn is not None and not callable(distinct_id_fn):
            log.error("settings.POSTHOG_MIDDLEWARE_DISTINCT_ID is not callable; ignored")
            distinct_id_fn = None
        self.distinct_id_fn: Callable[[Any], Any] | None = distinct_id_fn
        self.capture_exceptions = bool(getattr(settings, "POSTHOG_MIDDLEWARE_CAPTURE_EXCEPTIONS", True))

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: Any) -> Any:
        """The async path, used when Django runs the stack under ASGI."""
        response = self.get_response(request)
        return await response

    def process_exception(self, request: Any, exception: BaseException) -> None:
        """Django hook for exceptions raised by the view; reports and lets Django respond."""
        if not self.capture_exceptions or isinstance(exception, _CLIENT_ERRORS):
            return
        try:
            if already_captured(exception):
                return
            self._capture(exception, self.distinct_id(request), request_properties(request))
        except Exception:  # boundary: reporting must never replace the application's error response
            log.exception("Failed to capture exception from Django view")

    def distinct_id(self, request: Any) -> str | None:
        """The configured callable's answer, else the id the frontend sent in the headers."""
        if self.distinct_id_fn is not None:
            try:
                value = self.distinct_id_fn(request)
            except Exception:  # user code (often request.user access); fall back to headers
                log.debug("POSTHOG_MIDDLEWARE_DISTINCT_ID callable failed", exc_info=True)
                value = None
            if value:
                return str(value)
        return distinct_id_from_headers(request)

    def _capture(self, exception: BaseException, distinct_id: str | None, properties: dict[str, Any]) -> None:
        if self.client is not None:
            self.client.capture_exception(exception, distinct_id=distinct_id, properties=properties)
            return
        facade().capture_exception(exception, distinct_id=distinct_id, properties=properties)

"""Exception autocapture for Django: report exceptions Django turns into a 500 response.

Enabled with ``Client(enable_exception_autocapture=True,
exception_autocapture_integrations=[Integrations.Django])``. Listens to
Django's ``got_request_exception`` signal. Unlike posthog 3.x, the request's
URL, method, IP, user agent and ``traceparent`` are sent along (3.x extracted
and discarded them), and ``uninstall()`` really disconnects the receiver.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..exception_utils import ExcInfo
from ..integrations._django_request import (
    already_captured,
    distinct_id_from_headers,
    request_properties,
)
from . import IntegrationEnablingError

try:
    from django import VERSION as DJANGO_VERSION
    from django.core.signals import got_request_exception
except ImportError as e:  # the optional dependency is missing
    raise IntegrationEnablingError("Django not installed; pip install 'posthog[django]'") from e

__all__ = ["DjangoIntegration"]

log = logging.getLogger("posthog")

CaptureExceptionFn = Callable[[ExcInfo, Any, Mapping[str, Any]], Any]


class DjangoIntegration:
    """Report unhandled view exceptions via ``capture_exception_fn(exc_info, distinct_id, properties)``."""

    identifier = "django"

    def __init__(self, capture_exception_fn: CaptureExceptionFn) -> None:
        if tuple(DJANGO_VERSION[:2]) < (4, 2):
            raise IntegrationEnablingError("Django 4.2 or newer is required.")
        self.capture_exception_fn = capture_exception_fn
        self._dispatch_uid = f"posthog.exception_integrations.django:{id(self)}"
        got_request_exception.connect(self._receiver, weak=False, dispatch_uid=self._dispatch_uid)

    def _receiver(self, sender: Any, request: Any = None, **kwargs: Any) -> None:
        try:
            self._report(request)
        except Exception:  # boundary: a Django signal receiver must not break the error response
            log.exception("Failed to capture Django exception")

    def _report(self, request: Any) -> None:
        exc_type, exc_value, tb = sys.exc_info()
        if exc_type is None or exc_value is None:
            # Django's async handler sends the signal from a worker thread with nothing being
            # handled; PosthogContextMiddleware covers async views.
            log.debug("got_request_exception without exception information; not captured")
            return
        if already_captured(exc_value):
            return
        distinct_id = distinct_id_from_headers(request) if request is not None else None
        properties = request_properties(request) if request is not None else {}
        self.capture_exception_fn((exc_type, exc_value, tb), distinct_id, properties)

    def uninstall(self) -> None:
        """Disconnect from ``got_request_exception``."""
        got_request_exception.disconnect(dispatch_uid=self._dispatch_uid)

"""Django middleware that tags each request's Sentry scope with the PostHog distinct id.

    MIDDLEWARE = [..., "posthog.sentry.django.PosthogDistinctIdMiddleware"]
    POSTHOG_DJANGO = {"distinct_id": lambda request: request.user.distinct_id}

Unlike posthog 3.x, ``settings.POSTHOG_DJANGO`` is read when Django builds the
middleware (not at import), errors from the callable are logged at debug level
(not swallowed by a bare ``except``), and the scope is an isolated one
(``sentry_sdk.isolation_scope()``; ``push_scope()`` on sentry-sdk 1.x).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from . import POSTHOG_ID_TAG

try:
    import sentry_sdk
    from django.conf import settings
except ImportError as e:  # an optional dependency is missing
    raise ImportError("Django and sentry-sdk are required; pip install 'posthog[sentry]'") from e

__all__ = ["PosthogDistinctIdMiddleware"]

log = logging.getLogger("posthog")


def _isolated_scope() -> AbstractContextManager[Any]:
    isolation_scope = getattr(sentry_sdk, "isolation_scope", None)
    if isolation_scope is not None:
        scope: AbstractContextManager[Any] = isolation_scope()
        return scope
    legacy: Any = sentry_sdk  # sentry-sdk 1.x: push_scope is gone from the stubs of 3.x
    pushed: AbstractContextManager[Any] = legacy.push_scope()
    return pushed


class PosthogDistinctIdMiddleware:
    """Set the Sentry tag ``posthog_distinct_id`` for the duration of each request."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        config = getattr(settings, "POSTHOG_DJANGO", None) or {}
        distinct_id_fn = config.get("distinct_id") if hasattr(config, "get") else None
        if distinct_id_fn is not None and not callable(distinct_id_fn):
            log.error("settings.POSTHOG_DJANGO['distinct_id'] is not callable; ignored")
            distinct_id_fn = None
        self.distinct_id_fn: Callable[[Any], Any] | None = distinct_id_fn

    def get_distinct_id(self, request: Any) -> Any:
        """The configured callable's answer for ``request``, or ``None``."""
        if self.distinct_id_fn is None:
            return None
        try:
            return self.distinct_id_fn(request)
        except Exception:  # user code (often request.user access) must not break the request
            log.debug("POSTHOG_DJANGO['distinct_id'] failed", exc_info=True)
            return None

    def __call__(self, request: Any) -> Any:
        with _isolated_scope():
            distinct_id = self.get_distinct_id(request)
            if distinct_id:
                sentry_sdk.set_tag(POSTHOG_ID_TAG, distinct_id)
            return self.get_response(request)

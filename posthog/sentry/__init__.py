"""Link Sentry errors to PostHog persons (3.x paths; needs the ``sentry`` extra).

``posthog.sentry.posthog_integration.PostHogIntegration`` is the Sentry
integration; ``posthog.sentry.django.PosthogDistinctIdMiddleware`` tags each
Django request with the PostHog distinct id. Importing this package does not
import ``sentry_sdk``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["POSTHOG_ID_TAG"]

POSTHOG_ID_TAG: Final = "posthog_distinct_id"
"""Sentry tag carrying the PostHog distinct id of the person who hit the error."""

"""Sentry set-up: Sentry's Django integration plus PostHog's, so errors link to PostHog persons."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration

from posthog.sentry.posthog_integration import PostHogIntegration


def init_sentry(dsn: str, transport: Any = None) -> None:
    """Start Sentry; ``transport`` lets the demo record events instead of sending them."""
    PostHogIntegration.organization = "demo-org"  # adds $sentry_url to the PostHog event
    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), PostHogIntegration()],
        default_integrations=False,  # keep the demo's output to what it is about
        **options,
    )

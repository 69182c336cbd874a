"""The documented 3.x pattern: configure the posthog module once, in AppConfig.ready()."""

from __future__ import annotations

import os

from django.apps import AppConfig

import posthog


class ShopConfig(AppConfig):
    name = "shop"

    def ready(self) -> None:
        posthog.api_key = os.environ.get("POSTHOG_API_KEY", "phc_demo_project_key")
        posthog.host = os.environ.get("POSTHOG_HOST")  # None means PostHog Cloud US
        if os.environ.get("POSTHOG_DISABLED") == "1":  # e.g. in the test settings of a real project
            posthog.disabled = True

"""Settings of the demo site: PostHog (configured in shop.apps), Sentry and the PostHog middleware.

Environment: POSTHOG_HOST, POSTHOG_API_KEY (see shop/apps.py), SENTRY_DSN (Sentry is off without it).
"""

from __future__ import annotations

import os
from typing import Any

from demo_site.sentry import init_sentry

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "demo_site.urls"
INSTALLED_APPS = ["shop.apps.ShopConfig"]
DATABASES: dict[str, Any] = {}  # the demo needs no database (and ships no db file)
USE_TZ = True

MIDDLEWARE = [
    # Tags each request's Sentry scope with the PostHog distinct id (POSTHOG_DJANGO below).
    "posthog.sentry.django.PosthogDistinctIdMiddleware",
    # Without Sentry, report view exceptions straight to PostHog instead:
    # "posthog.integrations.django.PosthogContextMiddleware",
]


def request_distinct_id(request: Any) -> str | None:
    """Who is making the request; a real site would use request.user."""
    value = request.headers.get("X-User")
    return str(value) if value else None


# posthog.sentry.django.PosthogDistinctIdMiddleware reads this when Django builds the middleware.
POSTHOG_DJANGO = {"distinct_id": request_distinct_id}
# posthog.integrations.django.PosthogContextMiddleware reads this one.
POSTHOG_MIDDLEWARE_DISTINCT_ID = request_distinct_id

if os.environ.get("SENTRY_DSN"):
    init_sentry(os.environ["SENTRY_DSN"])

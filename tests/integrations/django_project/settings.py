"""Settings for the test project; the tests change POSTHOG_* settings with override_settings."""

from __future__ import annotations

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "tests.integrations.django_project.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["posthog.integrations.django.PosthogContextMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
# Django's default logging would mail admins about 500s; the tests provoke 500s on purpose.
LOGGING_CONFIG = None

"""The Django app test_django_contexts.py serves with gunicorn (configured by environment)."""

from __future__ import annotations

import os

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

import posthog

KEY, HOST = os.environ["POSTHOG_TEST_KEY"], os.environ["POSTHOG_TEST_HOST"]
client = posthog.Client(KEY, host=HOST, flush_interval=0.05)


def ready(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def work(request: HttpRequest, n: int) -> JsonResponse:
    client.capture(event="work done", properties={"n": n})
    posthog.tag("step", n)  # a tag set mid-request reaches the events after it, and no other request's
    client.capture(event="work tagged", properties={"n": n})
    return JsonResponse({"n": n})


def fail(request: HttpRequest, n: int) -> HttpResponse:
    client.capture(event="about to fail", properties={"n": n})
    raise RuntimeError(f"boom {n}")


urlpatterns = [path("ready", ready), path("work/<int:n>", work), path("fail/<int:n>", fail)]

settings.configure(
    SECRET_KEY="tests-only-not-secret",
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["posthog.integrations.django.PosthogContextMiddleware"],
    POSTHOG_MW_CLIENT=client,
    LOGGING_CONFIG=None,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

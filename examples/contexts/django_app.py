"""Django: ``PosthogContextMiddleware`` runs every request in a PostHog context.

    python examples/contexts/django_app.py

serves a one-file Django project on 127.0.0.1 (the WSGI server of the standard library, a thread
per request) with a fake PostHog, and prints what was sent. In the views, nothing passes a
distinct id: the request's context has it (from the tracing headers posthog-js sets), and events
of a request without one are personless. In a project, the settings are::

    MIDDLEWARE = [..., "posthog.integrations.django.PosthogContextMiddleware"]
    POSTHOG_MW_CLIENT = "myproject.analytics.posthog_client"  # optional: default, the module's client
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from _demo import run_demo
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

import posthog
from posthog.contexts import get_context_distinct_id


def checkout(request: HttpRequest) -> JsonResponse:
    # A flag needs a person: anonymous visitors get the old checkout.
    new_checkout = bool(get_context_distinct_id() and posthog.feature_enabled("new-checkout"))
    posthog.capture(event="checkout viewed", properties={"new_checkout": new_checkout})
    return JsonResponse({"new_checkout": new_checkout})


def boom(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("payment service down")  # captured once, with Grace's ids; Django answers 500


urlpatterns = [path("checkout", checkout), path("boom", boom)]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(posthog_host: str) -> Iterator[str]:
    posthog.api_key = "phc_django_example"  # the views use the module-level client
    posthog.host = posthog_host
    settings.configure(
        DEBUG=False,
        SECRET_KEY="example-only",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["posthog.integrations.django.PosthogContextMiddleware"],
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.getLogger("django.request").setLevel(logging.CRITICAL)  # the failing request is on purpose
    from django.core.wsgi import get_wsgi_application

    server = make_server(
        "127.0.0.1", 0, get_wsgi_application(), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        posthog.shutdown()  # delivers what is queued


if __name__ == "__main__":
    raise SystemExit(run_demo(serve))

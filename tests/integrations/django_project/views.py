"""Views: plain, raising (sync and async), and 4xx-raising."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse


class CheckoutError(Exception):
    """The application's own error type, raised by the failing views."""


def _charge_card(amount: int) -> None:
    raise CheckoutError(f"card declined for {amount}")


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def boom(request: HttpRequest) -> HttpResponse:
    _charge_card(42)
    return HttpResponse("unreachable")


async def async_ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async ok")


async def async_boom(request: HttpRequest) -> HttpResponse:
    _charge_card(7)
    return HttpResponse("unreachable")


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404("no such thing")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("nope")


def capture(request: HttpRequest) -> HttpResponse:
    """Captures with no distinct id: the request's context supplies it (``POSTHOG_MW_CLIENT``)."""
    client = settings.POSTHOG_MW_CLIENT
    client.capture(event="viewed")
    return HttpResponse("captured")


async def async_capture(request: HttpRequest) -> HttpResponse:
    settings.POSTHOG_MW_CLIENT.capture(event="viewed async")
    return HttpResponse("captured")


def health(request: HttpRequest) -> HttpResponse:
    settings.POSTHOG_MW_CLIENT.capture("probe", "health checked")
    return HttpResponse("ok")

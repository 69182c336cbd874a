"""Views that capture an event, evaluate a flag, and fail."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

import posthog


def _user(request: HttpRequest) -> str:
    return request.headers.get("X-User") or "anonymous"


def checkout(request: HttpRequest) -> JsonResponse:
    posthog.capture(_user(request), "checkout completed", {"amount": 42, "currency": "EUR"})
    return JsonResponse({"ok": True})


def new_checkout_enabled(request: HttpRequest) -> JsonResponse:
    enabled = posthog.feature_enabled("new-checkout", _user(request))
    return JsonResponse({"new-checkout": enabled})


class PaymentDeclinedError(Exception):
    pass


def boom(request: HttpRequest) -> HttpResponse:
    raise PaymentDeclinedError("card declined")

"""Callables and a middleware referenced by dotted path from the tests' settings."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def from_user_header(request: HttpRequest) -> str | None:
    return request.headers.get("X-User")


def broken(request: HttpRequest) -> str:
    raise RuntimeError("user lookup failed")


def tenant_tags(request: HttpRequest) -> dict[str, str]:
    return {"tenant": "acme"}


class _User:
    is_authenticated = True

    def __init__(self, email: str) -> None:
        self.email = email


class _Anonymous:
    is_authenticated = False


class FakeAuthenticationMiddleware:
    """Sets ``request.user`` from the ``X-User`` header (AuthenticationMiddleware reads a session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        email = request.headers.get("X-User")
        request.user = _User(email) if email else _Anonymous()  # type: ignore[assignment]
        return self.get_response(request)

"""Distinct-id callables referenced by dotted path from the tests' settings."""

from __future__ import annotations

from django.http import HttpRequest


def from_user_header(request: HttpRequest) -> str | None:
    return request.headers.get("X-User")


def broken(request: HttpRequest) -> str:
    raise RuntimeError("user lookup failed")

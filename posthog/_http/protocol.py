"""PostHog's HTTP API without an HTTP client: paths, bodies, headers and what answers mean.

Shared by the blocking transport (``requests``, :mod:`posthog.request`) and the asyncio one
(``httpx``, :mod:`posthog._http.async_transport`), so both send the same bytes and read answers alike.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final, Optional
from urllib.parse import quote

from .._serialize import clean
from ..exceptions import APIError, QuotaLimitError
from ..version import VERSION

__all__ = [
    "AI_BATCH_PATH",
    "BATCH_PATH",
    "FLAGS_PATH",
    "USER_AGENT",
    "api_error",
    "batch_body",
    "check_flags_answer",
    "definitions_path",
    "flags_request_body",
    "json_body",
    "now_iso",
    "remote_config_path",
    "retry_after_seconds",
]

log = logging.getLogger("posthog")

USER_AGENT: Final = f"posthog-python/{VERSION}"
BATCH_PATH: Final = "/batch/"
#: PostHog's endpoint for large LLM events (``capture_ai``), in the v0 body shape.
AI_BATCH_PATH: Final = "/i/v0/ai/batch/"
FLAGS_PATH: Final = "/flags/?v=2"


def now_iso() -> str:
    """The current UTC time as ISO-8601 (the ``sentAt`` field)."""
    return datetime.now(timezone.utc).isoformat()


def retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """A ``Retry-After`` header (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare: an HTTP-date Retry-After

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def api_error(status: int, reason: Optional[str], text: str, retry_after: Optional[str]) -> APIError:
    """The :class:`APIError` for a refused request (the server's ``detail`` when it gave one)."""
    detail = None
    try:
        payload = json.loads(text) if text else None
        detail = payload.get("detail") if isinstance(payload, dict) else None
    except ValueError:
        detail = None
    message = str(detail) if detail is not None else (text or reason or "")
    return APIError(status, message, retry_after=retry_after_seconds(retry_after))


def json_body(response: Any) -> Any:
    """The JSON of an answer (requests or httpx), or :class:`APIError` when it is not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        raise APIError(response.status_code, f"invalid JSON in response: {exc}") from None


def batch_body(api_key: str, array: bytes, historical_migration: bool, *, ai: bool = False) -> bytes:
    """The v0 body around an already-encoded JSON array of messages: 3.x's ``/batch/`` shape, or
    the AI endpoint's (``ai=True``: 7.x's ``sent_at`` spelling)."""
    return b"".join(
        (
            b'{"batch":',
            array,
            b',"historical_migration":',
            b"true" if historical_migration else b"false",
            b',"sent_at":"' if ai else b',"sentAt":"',
            now_iso().encode("ascii"),
            b'","api_key":',
            json.dumps(api_key).encode("ascii"),
            b"}",
        )
    )


def flags_request_body(api_key: str, body: Mapping[str, Any]) -> bytes:
    """The ``/flags`` body: the request's fields, ``sentAt`` and the token."""
    payload = dict(clean(dict(body)) or {})
    payload["sentAt"] = now_iso()
    payload["api_key"] = api_key
    return json.dumps(payload, allow_nan=False).encode("utf-8")


def check_flags_answer(status: int, result: Any) -> dict[str, Any]:
    """A ``/flags`` answer as a dict; raises on a malformed answer or a quota limit."""
    if not isinstance(result, dict):
        raise APIError(status, "unexpected flags response")
    quota = result.get("quotaLimited")
    if isinstance(quota, list) and "feature_flags" in quota:
        log.warning("[FEATURE FLAGS] PostHog feature flags quota limited; flags are unavailable")
        raise QuotaLimitError(200, "Feature flags quota limited")
    return result


def definitions_path(api_key: str) -> str:
    """Where the local-evaluation definitions are fetched."""
    return f"/api/feature_flag/local_evaluation/?token={quote(api_key, safe='')}&send_cohorts"


def remote_config_path(api_key: str, key: str) -> str:
    """Where a remote-config flag's (decrypted) payload is fetched."""
    return (
        f"/api/projects/@current/feature_flags/{quote(key, safe='')}/remote_config/"
        f"?token={quote(api_key, safe='')}"
    )

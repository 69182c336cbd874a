"""What the fake checks on capture v1 and AI endpoint requests: decoding, rejections, protocol violations.

The rules are those of the capture v1 contract (endpoint, headers, envelope, event shape, options) and of
the AI endpoint (v0 wire format, no v1 headers). A *rejection* is what the real server refuses (the fake
answers it with the v1 error body); a *violation* is anything a conforming SDK would not send, rejected
or not, so SDK tests can assert that none was noticed.
"""

from __future__ import annotations

import gzip
import importlib
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, Final, Optional

__all__ = ["AI_ROUTE", "V1_ROUTE", "V1Rejection", "check_ai", "check_v1", "decompress", "v1_error_body"]

V1_ROUTE: Final = "/i/v1/analytics/events"
AI_ROUTE: Final = "/i/v0/ai/batch"
ERROR_URI: Final = "https://posthog.com/docs/api"
BILLING_URI: Final = "https://posthog.com/docs/billing/limits-alerts"
DELIVERED: Final = frozenset({"ok", "warning"})

# The error tag the real server sends with each status (capture-v1.md §6); others get "http_<status>".
ERROR_TAGS: Final = {
    400: "request_parsing_error",
    401: "missing_authorization",
    402: "billing_limit_exceeded",
    403: "forbidden",
    404: "not_found",
    408: "body_read_timeout",
    413: "payload_too_large",
    415: "unsupported_content_type",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

_UTC: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|\+00:00)")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SDK_INFO: Final = re.compile(r".+/.+")
_V0_KEYS: Final = frozenset({"api_key", "token", "sent_at", "sentAt"})
_ENVELOPE: Final = frozenset({"batch", "created_at", "historical_migration"})
_EVENT_KEYS: Final = frozenset(
    {"event", "uuid", "distinct_id", "timestamp", "options", "properties", "session_id", "window_id"}
)
_BOOL_OPTIONS: Final = frozenset({"cookieless_mode", "disable_skew_correction", "process_person_profile"})
_STR_OPTIONS: Final = frozenset({"product_tour_id"})
_LIFTED: Final = (
    "$cookieless_mode",
    "$ignore_sent_at",
    "$process_person_profile",
    "$product_tour_id",
    "$session_id",
    "$window_id",
)
_V1_HEADERS: Final = (
    "PostHog-Request-Id",
    "PostHog-Attempt",
    "PostHog-Sdk-Info",
    "PostHog-Request-Timestamp",
)
_AI_ENVELOPE: Final = frozenset({"batch", "api_key", "historical_migration", "sent_at"})


@dataclass(frozen=True)
class V1Rejection:
    """A v1 request the real server refuses: the status and error tag it answers with."""

    status: int
    error: str
    description: str


def v1_error_body(status: int, description: str, error: str | None = None) -> dict[str, str]:
    """``{"error", "error_description", "error_uri"}`` as capture v1 answers a non-2xx."""
    return {
        "error": error or ERROR_TAGS.get(status, f"http_{status}"),
        "error_description": description,
        "error_uri": BILLING_URI if status == 402 else ERROR_URI,
    }


@cache
def _optional(name: str) -> Optional[ModuleType]:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def decompress(raw: bytes, encoding: str) -> bytes:
    """Decode a v1 body by its Content-Encoding; ValueError if the fake cannot (unknown codec, corrupt)."""
    codec = encoding.strip().lower()
    if codec in ("", "identity"):
        return raw
    try:
        if codec == "gzip":
            return gzip.decompress(raw)
        if codec == "deflate":  # zlib-wrapped (RFC 1950), as the server reads it
            return zlib.decompress(raw)
        module = _optional({"zstd": "zstandard", "br": "brotli"}.get(codec, ""))
        if codec == "zstd" and module is not None:
            return bytes(module.ZstdDecompressor().decompressobj().decompress(raw))
        if codec == "br" and module is not None:
            return bytes(module.decompress(raw))
    except Exception as exc:  # each codec has its own error class
        raise ValueError(f"cannot decode a {codec} body: {exc}") from exc
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Bearer <token>`` (scheme case-insensitive, token trimmed), or None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _is_utc(value: object) -> bool:
    return isinstance(value, str) and _UTC.fullmatch(value) is not None


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _v1_header_problems(headers: Mapping[str, str]) -> list[str]:
    problems = [f"missing header {name}" for name in _V1_HEADERS if not headers.get(name, "").strip()]
    request_id = headers.get("PostHog-Request-Id")
    if request_id and not _is_uuid(request_id.strip()):
        problems.append(f"PostHog-Request-Id is not a UUID: {request_id!r}")
    attempt = headers.get("PostHog-Attempt")
    if attempt and not (attempt.strip().isdigit() and int(attempt) >= 1):
        problems.append(f"PostHog-Attempt is not a positive integer: {attempt!r}")
    sdk_info = headers.get("PostHog-Sdk-Info")
    if sdk_info and _SDK_INFO.fullmatch(sdk_info.strip()) is None:
        problems.append(f"PostHog-Sdk-Info is not <lib>/<version>: {sdk_info!r}")
    stamp = headers.get("PostHog-Request-Timestamp")
    if stamp and not _is_utc(stamp.strip()):
        problems.append(f"PostHog-Request-Timestamp is not RFC 3339 UTC: {stamp!r}")
    return problems


def check_v1(
    headers: Mapping[str, str], parsed: Any, undecodable: bool
) -> tuple[V1Rejection | None, list[str]]:
    """The first rejection of a v1 request (None: acceptable) and every violation noticed in it."""
    problems = _v1_header_problems(headers)
    rejections: list[V1Rejection] = []

    def reject(status: int, description: str) -> None:
        rejections.append(V1Rejection(status, ERROR_TAGS[status], description))
        problems.append(description)

    if bearer_token(headers.get("Authorization")) is None:
        reject(401, "missing or empty Authorization: Bearer <project api key>")
    content_type = headers.get("Content-Type", "")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        reject(415, f"Content-Type must be application/json, got {content_type!r}")
    if undecodable:
        encoding = headers.get("Content-Encoding", "")
        reject(400, f"could not decode the body as JSON (Content-Encoding {encoding!r})")
    elif parsed is None:
        reject(400, "empty body")
    else:
        fatal = _v1_body(parsed, problems)
        if fatal is not None:
            reject(400, fatal)
    return (rejections[0] if rejections else None), problems


def _v1_body(parsed: Any, problems: list[str]) -> str | None:
    if not isinstance(parsed, dict):
        return "body must be a JSON object"
    problems.extend(f"v1 body has {key!r}" for key in sorted(_V0_KEYS & set(parsed)))
    problems.extend(f"unexpected body key {key!r}" for key in parsed if key not in _ENVELOPE | _V0_KEYS)
    if "historical_migration" in parsed and parsed["historical_migration"] is not True:
        problems.append(f"historical_migration sent but not true: {parsed['historical_migration']!r}")
    batch = parsed.get("batch")
    if not isinstance(batch, list) or not batch:
        return '"batch" must be a non-empty array'
    created_at = parsed.get("created_at")
    if not isinstance(created_at, str):
        return '"created_at" must be a string'
    if not _is_utc(created_at):
        problems.append(f"created_at is not RFC 3339 UTC: {created_at!r}")
    seen: set[str] = set()
    for index, event in enumerate(batch):
        fatal = _v1_event(f"event {index}", event, problems)
        if fatal is not None:
            return fatal
        if event["uuid"] in seen:
            problems.append(f"event {index}: uuid {event['uuid']!r} repeated in the batch")
        seen.add(event["uuid"])
    return None


def _v1_event(where: str, event: Any, problems: list[str]) -> str | None:
    if not isinstance(event, dict):
        return f"{where} is not an object"
    for key in ("event", "uuid", "distinct_id", "timestamp"):
        if not isinstance(event.get(key), str):
            return f"{where}: {key!r} must be a string"
    for key in ("options", "properties"):
        if key in event and not isinstance(event[key], dict):
            return f"{where}: {key!r} must be an object"
    for name, value in event.get("options", {}).items():
        if name in _BOOL_OPTIONS and not isinstance(value, bool):
            return f"{where}: option {name!r} must be a boolean, got {value!r}"
        if name in _STR_OPTIONS and not isinstance(value, str):
            return f"{where}: option {name!r} must be a string, got {value!r}"
        if name not in _BOOL_OPTIONS | _STR_OPTIONS:
            problems.append(f"{where}: unknown option {name!r}")
    if not _is_uuid(event["uuid"]):
        problems.append(f"{where}: uuid is not a UUID: {event['uuid']!r}")
    if not _is_utc(event["timestamp"]):
        problems.append(f"{where}: timestamp is not RFC 3339 UTC: {event['timestamp']!r}")
    problems.extend(f"{where}: top-level {key!r}" for key in event if key not in _EVENT_KEYS)
    problems.extend(
        f"{where}: {key!r} must be a string"
        for key in ("session_id", "window_id")
        if key in event
        if not isinstance(event[key], str)
    )
    properties = event.get("properties", {})
    problems.extend(
        f"{where}: properties hold {key!r}" for key in ("$lib", "$lib_version", *_LIFTED) if key in properties
    )
    return None


def check_ai(headers: Mapping[str, str], parsed: Any, undecodable: bool) -> list[str]:
    """Every violation noticed in an AI endpoint request (v0 wire format, no v1 headers)."""
    problems: list[str] = []
    if "Authorization" in headers:
        problems.append("AI request has an Authorization header")
    problems.extend(
        f"AI request has header {name}" for name in headers if name.lower().startswith("posthog-")
    )
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "gzip"):
        problems.append(f"AI request uses Content-Encoding {encoding!r} (gzip or none only)")
    if undecodable or not isinstance(parsed, dict) or not isinstance(parsed.get("batch"), list):
        problems.append('body is not a JSON object with a "batch" list')
        return problems
    if not isinstance(parsed.get("api_key"), str) or not parsed["api_key"].strip():
        problems.append("api_key missing or not a string")
    if not isinstance(parsed.get("historical_migration"), bool):
        problems.append("historical_migration missing or not a boolean")
    if not _is_utc(parsed.get("sent_at")):
        problems.append(f"sent_at missing or not RFC 3339 UTC: {parsed.get('sent_at')!r}")
    problems.extend(f"unexpected body key {key!r}" for key in parsed if key not in _AI_ENVELOPE)
    if not parsed["batch"]:
        problems.append("empty batch")
    for index, event in enumerate(parsed["batch"]):
        problems.extend(_ai_event(f"event {index}", event))
    return problems


def _ai_event(where: str, event: Any) -> list[str]:
    if not isinstance(event, dict):
        return [f"{where} is not an object"]
    problems = [
        f"{where}: {key!r} is not a string"
        for key in ("event", "distinct_id")
        if not isinstance(event.get(key), str)
    ]
    if not _is_uuid(event.get("uuid")):
        problems.append(f"{where}: uuid missing or not a UUID: {event.get('uuid')!r}")
    if not _is_utc(event.get("timestamp")):
        problems.append(f"{where}: timestamp missing or not RFC 3339 UTC: {event.get('timestamp')!r}")
    properties = event.get("properties")
    if not isinstance(properties, dict):
        problems.append(f"{where}: properties missing or not an object")
    elif not isinstance(properties.get("$lib"), str):
        problems.append(f"{where}: properties lack '$lib'")
    return problems

"""Capture v1 without an HTTP client: settings, the event and body shapes, headers, answers.

Queued events stay in the ``/batch/`` (v0) shape, encoded once on the caller's thread; a v1
request re-shapes them when it is built (spec: capture-v1.md §3-§6). Shared by the blocking and
the asyncio transports.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import uuid as _uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, Optional, Union

from .._serialize import encode_text
from ..capture_v1 import CaptureV1Error  # public there; re-exported here for the transports
from ..exceptions import InvalidValueError
from .protocol import USER_AGENT, retry_after_seconds

__all__ = [
    "CAPTURE_V1_PATH",
    "CaptureCompression",
    "CaptureMode",
    "CaptureV1Error",
    "V1Answer",
    "V1Batch",
    "answer_of",
    "compress",
    "event_uuid",
    "prepare_attempt",
    "read_answer",
    "resolve_capture_mode",
    "resolve_compression",
    "v1_body",
    "v1_error",
    "v1_event",
    "v1_headers",
    "v1_retryable",
]

log = logging.getLogger("posthog")

CAPTURE_V1_PATH: Final = "/i/v1/analytics/events"


class CaptureMode(str, enum.Enum):
    """Which ingestion protocol events use: ``V0`` is ``/batch/`` (3.x), ``V1`` capture v1."""

    V0 = "v0"
    V1 = "v1"


class CaptureCompression(str, enum.Enum):
    """The body encoding of capture v1 requests (``ZSTD`` needs ``zstandard``, ``BR`` ``brotli``)."""

    NONE = "none"
    GZIP = "gzip"
    DEFLATE = "deflate"
    ZSTD = "zstd"
    BR = "br"


_MODES: Final = {
    "v0": CaptureMode.V0,
    "legacy": CaptureMode.V0,
    "v1": CaptureMode.V1,
    "analytics_v1": CaptureMode.V1,
}
_COMPRESSIONS: Final = {
    "none": CaptureCompression.NONE,
    "identity": CaptureCompression.NONE,
    "gzip": CaptureCompression.GZIP,
    "deflate": CaptureCompression.DEFLATE,
    "zstd": CaptureCompression.ZSTD,
    "br": CaptureCompression.BR,
}
#: The package each optional compression needs, and the extra that installs it.
_NEEDS: Final = {CaptureCompression.ZSTD: ("zstandard", "zstd"), CaptureCompression.BR: ("brotli", "br")}


def _lookup(table: Mapping[str, Any], value: Any) -> Any:
    if isinstance(value, enum.Enum):
        value = value.value
    return table.get(value.strip().lower()) if isinstance(value, str) else None


def resolve_capture_mode(value: Any) -> CaptureMode:
    """``capture_mode`` → ``POSTHOG_CAPTURE_MODE`` → V0; a bad argument raises, a bad env warns."""
    if value is not None:
        mode = _lookup(_MODES, value)
        if mode is None:
            raise InvalidValueError(f"capture_mode must be one of v0, v1 (or CaptureMode), not {value!r}")
        return mode  # type: ignore[no-any-return]
    env = os.environ.get("POSTHOG_CAPTURE_MODE", "").strip()
    if not env:
        return CaptureMode.V0
    mode = _lookup(_MODES, env)
    if mode is None:
        log.warning("POSTHOG_CAPTURE_MODE=%r is not v0 or v1: using v0", env)
        return CaptureMode.V0
    return mode  # type: ignore[no-any-return]


def _available(compression: CaptureCompression) -> bool:
    need = _NEEDS.get(compression)
    if need is None:
        return True
    try:
        __import__(need[0])
    except ImportError:
        return False
    return True


def resolve_compression(value: Any, gzip: bool) -> CaptureCompression:
    """``capture_compression`` → ``POSTHOG_CAPTURE_COMPRESSION`` → gzip if ``gzip=True`` → none."""
    fallback = CaptureCompression.GZIP if gzip else CaptureCompression.NONE
    if value is not None:
        compression = _lookup(_COMPRESSIONS, value)
        if compression is None:
            raise InvalidValueError(
                f"capture_compression must be one of none, gzip, deflate, zstd, br, not {value!r}"
            )
        if not _available(compression):
            package, extra = _NEEDS[compression]
            raise InvalidValueError(
                f"capture_compression={compression.value!r} needs the {package} package: "
                f"pip install 'posthog[{extra}]'"
            )
        return compression  # type: ignore[no-any-return]
    env = os.environ.get("POSTHOG_CAPTURE_COMPRESSION", "").strip()
    if not env:
        return fallback
    compression = _lookup(_COMPRESSIONS, env)
    if compression is None or not _available(compression):
        log.warning("POSTHOG_CAPTURE_COMPRESSION=%r is unknown or its package is missing: ignored", env)
        return fallback
    return compression  # type: ignore[no-any-return]


def compress(body: bytes, compression: CaptureCompression) -> tuple[bytes, Optional[str]]:
    """``body`` encoded for the wire, and its ``Content-Encoding`` (None: sent as is)."""
    if compression is CaptureCompression.GZIP:
        import gzip

        return gzip.compress(body, compresslevel=1), "gzip"
    if compression is CaptureCompression.DEFLATE:
        import zlib

        return zlib.compress(body, 1), "deflate"  # zlib-wrapped (RFC 1950), as the server expects
    if compression is CaptureCompression.ZSTD:
        import zstandard

        return zstandard.ZstdCompressor(level=1).compress(body), "zstd"
    if compression is CaptureCompression.BR:
        import brotli

        return brotli.compress(body, quality=1), "br"
    return body, None


# --- events and bodies ----------------------------------------------------------------------------

_BOOL_OPTIONS: Final = (
    ("$cookieless_mode", "cookieless_mode"),
    ("$ignore_sent_at", "disable_skew_correction"),
    ("$process_person_profile", "process_person_profile"),
)
_LIFTED: Final = (("$session_id", "session_id"), ("$window_id", "window_id"))
_RESERVED: Final = frozenset(
    {"$cookieless_mode", "$ignore_sent_at", "$process_person_profile", "$product_tour_id"}
    | {prop for prop, _ in _LIFTED}
)
_UUID_TEXT: Final = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TRUE: Final = frozenset({"true", "1"})
_FALSE: Final = frozenset({"false", "0"})


def _as_bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    if isinstance(value, (int, float)):
        return value != 0
    return None


def _valid_uuid(value: Any) -> str:
    if type(value) is str and len(value) == 36 and _UUID_TEXT.fullmatch(value):
        return value.lower()  # the usual case: a uuid this SDK made
    text = str(value) if value is not None else ""
    try:
        return str(_uuid.UUID(text))
    except ValueError:
        # Stable across attempts: the server keys its answer by this uuid.
        return str(_uuid.uuid5(_uuid.NAMESPACE_URL, "posthog-event:" + text))


def event_uuid(message: Mapping[str, Any]) -> str:
    """The uuid a queued message carries on the v1 wire (its answer is keyed by it)."""
    return _valid_uuid(message.get("uuid"))


#: Statuses capture v1 retries (7.x); every other non-2xx status is final.
_RETRY_STATUSES: Final = frozenset({404, 408, 429, 500, 502, 503, 504})


def v1_retryable(error: BaseException) -> bool:
    """Whether a failed v1 attempt is worth another: those statuses, or a network failure."""
    if isinstance(error, CaptureV1Error):
        return error.status in _RETRY_STATUSES
    from .retry import is_network_error

    return is_network_error(error)


def v1_event(message: Mapping[str, Any]) -> dict[str, Any]:
    """A queued (v0-shaped) message in the capture v1 shape (capture-v1.md §4, §5)."""
    props = dict(message.get("properties") or {})
    props.pop("$lib", None)
    props.pop("$lib_version", None)
    for key in ("$set", "$set_once"):
        top = message.get(key)
        if isinstance(top, Mapping):
            inner = props.get(key)
            if inner is None:
                props[key] = dict(top)
            elif isinstance(inner, Mapping):
                props[key] = {**top, **inner}
    event: dict[str, Any] = {
        "event": message.get("event"),
        "uuid": _valid_uuid(message.get("uuid")),
        "distinct_id": str(message.get("distinct_id")),
        "timestamp": message.get("timestamp"),
        "options": {},
        "properties": props,
    }
    if not _RESERVED.isdisjoint(props):  # rare: typed options and lifted fields
        _lift(props, event)
    return event


def _lift(props: dict[str, Any], event: dict[str, Any]) -> None:
    options = event["options"]
    for prop, name in _BOOL_OPTIONS:
        if prop in props:
            flag = _as_bool(props.pop(prop))
            if flag is not None:
                options[name] = flag
    if "$product_tour_id" in props:
        tour = props.pop("$product_tour_id")
        if isinstance(tour, str):
            options["product_tour_id"] = tour
    for prop, name in _LIFTED:
        if prop in props:
            value = props.pop(prop)
            if isinstance(value, str):
                event[name] = value


def v1_body(array: bytes, batch: V1Batch, historical_migration: bool) -> bytes:
    """The request body for queued messages (a JSON array): ``created_at``, ``batch`` and
    ``historical_migration`` only when true."""
    events = [v1_event(message) for message in json.loads(array)]
    payload: dict[str, Any] = {"created_at": batch.created_at, "batch": events}
    if historical_migration:
        payload["historical_migration"] = True
    return encode_text(payload).encode("ascii")  # the queued text was strict JSON: so is this


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class V1Batch:
    """One batch's identity across its attempts: same request id and ``created_at`` every time."""

    request_id: str = field(default_factory=lambda: str(_uuid.uuid4()))
    created_at: str = field(default_factory=_now)
    attempts: int = 0
    #: (uuid, details) of every event the server answered ``drop``, across attempts
    drops: list[tuple[str, Optional[str]]] = field(default_factory=list)
    #: the queued messages of those events (for ``on_error``)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    status: int = 0


def v1_headers(api_key: str, batch: V1Batch, encoding: Optional[str]) -> dict[str, str]:
    """The headers of one attempt (``batch.attempts`` already counts it)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Authorization": f"Bearer {api_key.strip()}",
        "PostHog-Sdk-Info": USER_AGENT,
        "PostHog-Attempt": str(batch.attempts),
        "PostHog-Request-Id": batch.request_id,
        "PostHog-Request-Timestamp": _now(),
    }
    if encoding:
        headers["Content-Encoding"] = encoding
    return headers


@dataclass
class V1Answer:
    """What a 2xx said about each event: uuids to send again, and ``(uuid, details)`` dropped."""

    status: int
    retry: list[str]
    drops: list[tuple[str, Optional[str]]]
    retry_after: Optional[float] = None


def read_answer(
    status: int, body: bytes, retry_after: Optional[str], batch: V1Batch
) -> Union[V1Answer, CaptureV1Error]:
    """A 2xx answer's per-event results (ok, warning, limited, unknown codes: delivered)."""
    try:
        results = json.loads(body).get("results") if body else None
    except (ValueError, AttributeError):
        results = None
    if not isinstance(results, Mapping):
        return CaptureV1Error(
            status,
            "capture v1 returned a success status with an unparseable body",
            request_id=batch.request_id,
            attempts=batch.attempts,
            drops=batch.drops,
        )
    retry: list[str] = []
    drops: list[tuple[str, Optional[str]]] = []
    for event_uuid, outcome in results.items():
        if not isinstance(outcome, Mapping):
            continue
        result = outcome.get("result")
        if result == "retry":
            retry.append(str(event_uuid))
        elif result == "drop":
            details = outcome.get("details")
            drops.append((str(event_uuid), details if isinstance(details, str) else None))
    return V1Answer(status, retry, drops, retry_after_seconds(retry_after) if retry else None)


def prepare_attempt(
    api_key: str,
    array: bytes,
    batch: V1Batch,
    historical_migration: bool,
    compression: CaptureCompression,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of the next attempt of ``batch`` (counted in ``batch.attempts``)."""
    body, encoding = compress(v1_body(array, batch, historical_migration), compression)
    batch.attempts += 1
    return body, v1_headers(api_key, batch, encoding)


def answer_of(status: int, content: bytes, text: str, retry_after: Optional[str], batch: V1Batch) -> V1Answer:
    """A 2xx answer's per-event results; raises :class:`CaptureV1Error` for any other answer."""
    if 200 <= status < 300:
        answer = read_answer(status, content, retry_after, batch)
        if isinstance(answer, CaptureV1Error):
            raise answer
        return answer
    raise v1_error(status, text, retry_after, batch)


def v1_error(status: int, text: str, retry_after: Optional[str], batch: V1Batch) -> CaptureV1Error:
    """The error for a non-2xx answer: ``error_description``, else ``error``, else ``detail``..."""
    message = ""
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        for key in ("error_description", "error", "detail"):
            if payload.get(key):
                message = str(payload[key])
                break
    message = message or text or f"capture v1 request failed with status {status}"
    return CaptureV1Error(
        status,
        message,
        retry_after=retry_after_seconds(retry_after),
        request_id=batch.request_id,
        attempts=batch.attempts,
        drops=batch.drops,
    )

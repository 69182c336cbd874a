"""One table of settings and defaults, read by both the facade and ``Client`` so they cannot drift."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final, Optional

__all__ = ["DEFAULTS", "DEFAULT_MAX_RETRIES", "FACADE_SETTINGS", "ClientOptions"]


class _DefaultMaxRetries(int):
    """3.x's default ``max_retries`` (3), told apart by identity from a ``max_retries`` passed."""


#: Not passing ``max_retries``: 4 attempts, then the batch is held through the outage (retry
#: buffer). Passing it, even ``max_retries=3``: N + 1 attempts, then the events are reported
#: ``retries_exhausted``, as in 3.x.
DEFAULT_MAX_RETRIES: Final[int] = _DefaultMaxRetries(3)


@dataclass(frozen=True)
class ClientOptions:
    """Every ``Client`` constructor setting with its 3.x default (same order as the 3.x signature)."""

    api_key: Optional[str] = None
    host: Optional[str] = None
    debug: bool = False
    max_queue_size: int = 10000
    send: bool = True
    on_error: Any = None
    flush_at: int = 100
    flush_interval: float = 0.5
    gzip: bool = False
    max_retries: int = DEFAULT_MAX_RETRIES
    sync_mode: bool = False
    timeout: float = 15
    thread: int = 1
    poll_interval: int = 30
    personal_api_key: Optional[str] = None
    project_api_key: Optional[str] = None
    disabled: bool = False
    disable_geoip: bool = True
    historical_migration: bool = False
    feature_flags_request_timeout_seconds: float = 3
    super_properties: Optional[dict[str, Any]] = None
    enable_exception_autocapture: bool = False
    log_captured_exceptions: bool = False
    exception_autocapture_integrations: Any = None
    project_root: Optional[str] = None
    privacy_mode: bool = False
    # Ours, keyword-only on Client (7.x names): the ingestion protocol and v1's compression.
    capture_mode: Any = None
    capture_compression: Any = None
    before_send: Any = None


DEFAULTS: Final = ClientOptions()

#: Module-level settings of the facade (``posthog.<name>``) that are passed to the default client.
#: 3.x has no module setting for gzip, max_queue_size, flush_at, flush_interval, timeout, thread
#: or historical_migration; ``posthog.max_retries`` is ours (same rule as the keyword).
FACADE_SETTINGS: Final = tuple(
    f.name
    for f in fields(ClientOptions)
    if f.name
    not in {
        "gzip",
        "max_queue_size",
        "flush_at",
        "flush_interval",
        "timeout",
        "thread",
        "historical_migration",
    }
)

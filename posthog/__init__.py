"""PostHog for Python: the 3.x module API (settings plus functions) over a lazily created client.

    import posthog
    posthog.project_api_key = "phc_..."
    posthog.capture("user-1", "movie played", {"movie_id": "123"})

Settings are read when the first call creates ``posthog.default_client``; ``disabled`` and
``debug`` are re-applied on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

from ._client_events import warn_context
from ._default_client import default as _proxy
from ._facade_flags import (
    feature_enabled,
    feature_flag_definitions,
    get_all_flags,
    get_all_flags_and_payloads,
    get_feature_flag,
    get_feature_flag_payload,
    get_feature_flag_result,
    get_remote_config_payload,
    load_feature_flags,
)
from ._http.capture_v1 import CaptureCompression, CaptureMode
from ._invocation import flush_after, scope_flush
from ._options import DEFAULTS
from ._pipeline.drops import DeliveryStats, DropReason
from .client import Client, Posthog
from .contexts import (
    get_tags,
    identify_context,
    new_context,
    scoped,
    set_context_device_id,
    set_context_session,
    tag,
)
from .exception_capture import Integrations
from .exceptions import (
    APIError,
    DroppedEventError,
    InvalidArgumentError,
    InvalidTypeError,
    InvalidValueError,
    PostHogError,
    QuotaLimitError,
)
from .types import FeatureFlag, FlagsAndPayloads, FlagValue
from .version import VERSION

if TYPE_CHECKING:
    from .async_client import AsyncClient, AsyncPosthog

__version__ = VERSION

__all__ = [
    "VERSION",
    "APIError",
    "AsyncClient",
    "AsyncPosthog",
    "CaptureCompression",
    "CaptureMode",
    "Client",
    "DeliveryStats",
    "DropReason",
    "DroppedEventError",
    "FeatureFlag",
    "FlagValue",
    "FlagsAndPayloads",
    "Integrations",
    "InvalidArgumentError",
    "InvalidTypeError",
    "InvalidValueError",
    "PostHogError",
    "Posthog",
    "QuotaLimitError",
    "__version__",
    "alias",
    "capture",
    "capture_ai",
    "capture_exception",
    "feature_enabled",
    "feature_flag_definitions",
    "flush",
    "flush_after",
    "get_all_flags",
    "get_all_flags_and_payloads",
    "get_feature_flag",
    "get_feature_flag_payload",
    "get_feature_flag_result",
    "get_remote_config_payload",
    "get_tags",
    "group_identify",
    "identify",
    "identify_context",
    "join",
    "load_feature_flags",
    "new_context",
    "page",
    "scope_flush",
    "scoped",
    "screen",
    "set",
    "set_context_device_id",
    "set_context_session",
    "set_once",
    "shutdown",
    "tag",
]

# --- module settings (3.x names and defaults) --------------------------------------------
api_key: Optional[str] = DEFAULTS.api_key
project_api_key: Optional[str] = DEFAULTS.project_api_key
host: Optional[str] = DEFAULTS.host
on_error: Optional[Callable[..., Any]] = DEFAULTS.on_error
debug: bool = DEFAULTS.debug
send: bool = DEFAULTS.send
sync_mode: bool = DEFAULTS.sync_mode
disabled: bool = DEFAULTS.disabled
personal_api_key: Optional[str] = DEFAULTS.personal_api_key
poll_interval: int = DEFAULTS.poll_interval
disable_geoip: bool = DEFAULTS.disable_geoip
feature_flags_request_timeout_seconds: float = DEFAULTS.feature_flags_request_timeout_seconds
super_properties: Optional[dict[str, Any]] = DEFAULTS.super_properties
enable_exception_autocapture: bool = DEFAULTS.enable_exception_autocapture
exception_autocapture_integrations: list[Integrations] = []
log_captured_exceptions: bool = DEFAULTS.log_captured_exceptions
project_root: Optional[str] = DEFAULTS.project_root
privacy_mode: bool = DEFAULTS.privacy_mode
#: Ours (3.x had no module setting): set it to get 3.x's "N + 1 attempts, then report".
max_retries: int = DEFAULTS.max_retries
#: Ours (7.x names): "v1" sends events with capture v1 (``POSTHOG_CAPTURE_MODE`` when None).
capture_mode: Union[CaptureMode, str, None] = DEFAULTS.capture_mode
#: Capture v1's body compression (``POSTHOG_CAPTURE_COMPRESSION`` when None).
capture_compression: Union[CaptureCompression, str, None] = DEFAULTS.capture_compression
#: Ours (7.x name): ``fn(event) -> event or None`` applied to every event before it is queued.
before_send: Optional[Callable[[dict[str, Any]], Optional[dict[str, Any]]]] = DEFAULTS.before_send
#: Share flag definitions across processes (``posthog.flag_cache``); not a 3.x setting.
flag_definition_cache_provider: Any = None

default_client: Optional[Client] = None


def capture(
    distinct_id: Any = None,
    event: Optional[str] = None,
    properties: Optional[Mapping[str, Any]] = None,
    context: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    send_feature_flags: bool = False,
    disable_geoip: Optional[bool] = None,
) -> tuple[bool, Any]:
    """Capture ``event`` for ``distinct_id`` (see :meth:`Client.capture`)."""
    if context is not None:
        warn_context()
        context = None
    return _proxy().capture(
        distinct_id,
        event,
        properties=properties,
        context=context,
        timestamp=timestamp,
        uuid=uuid,
        groups=groups,
        send_feature_flags=send_feature_flags,
        disable_geoip=disable_geoip,
    )


def capture_ai(
    distinct_id: Any = None,
    event: Optional[str] = None,
    properties: Optional[Mapping[str, Any]] = None,
    timestamp: Any = None,
    uuid: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    send_feature_flags: bool = False,
    disable_geoip: Optional[bool] = None,
) -> tuple[bool, Any]:
    """Capture an LLM event to PostHog's AI endpoint (see :meth:`Client.capture_ai`)."""
    return _proxy().capture_ai(
        distinct_id,
        event,
        properties=properties,
        timestamp=timestamp,
        uuid=uuid,
        groups=groups,
        send_feature_flags=send_feature_flags,
        disable_geoip=disable_geoip,
    )


def identify(
    distinct_id: Any = None,
    properties: Optional[Mapping[str, Any]] = None,
    context: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    disable_geoip: Optional[bool] = None,
) -> tuple[bool, Any]:
    """Set person properties (``$identify``)."""
    if context is not None:
        warn_context()
        context = None
    return _proxy().identify(
        distinct_id,
        properties=properties,
        context=context,
        timestamp=timestamp,
        uuid=uuid,
        disable_geoip=disable_geoip,
    )


def set(
    distinct_id: Any = None,
    properties: Optional[Mapping[str, Any]] = None,
    context: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    disable_geoip: Optional[bool] = None,
) -> tuple[bool, Any]:
    """Set person properties (``$set``)."""
    if context is not None:
        warn_context()
        context = None
    return _proxy().set(
        distinct_id,
        properties=properties,
        context=context,
        timestamp=timestamp,
        uuid=uuid,
        disable_geoip=disable_geoip,
    )


def set_once(
    distinct_id: Any = None,
    properties: Optional[Mapping[str, Any]] = None,
    context: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    disable_geoip: Optional[bool] = None,
) -> tuple[bool, Any]:
    """Set person properties that are not set yet (``$set_once``)."""
    if context is not None:
        warn_context()
        context = None
    return _proxy().set_once(
        distinct_id,
        properties=properties,
        context=context,
        timestamp=timestamp,
        uuid=uuid,
        disable_geoip=disable_geoip,
    )


def group_identify(
    group_type: Any,
    group_key: Any,
    properties: Optional[Mapping[str, Any]] = None,
    context: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    disable_geoip: Optional[bool] = None,
) -> tuple[bool, Any]:
    """Set properties of a group (``$groupidentify``)."""
    if context is not None:
        warn_context()
        context = None
    return _proxy().group_identify(
        group_type,
        group_key,
        properties=properties,
        context=context,
        timestamp=timestamp,
        uuid=uuid,
        disable_geoip=disable_geoip,
    )


def alias(
    previous_id: Any,
    distinct_id: Any,
    context: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    disable_geoip: Optional[bool] = None,
) -> tuple[bool, Any]:
    """Link ``distinct_id`` to ``previous_id`` (``$create_alias``)."""
    if context is not None:
        warn_context()
        context = None
    return _proxy().alias(
        previous_id, distinct_id, context=context, timestamp=timestamp, uuid=uuid, disable_geoip=disable_geoip
    )


def capture_exception(
    exception: Any = None,
    distinct_id: Any = None,
    properties: Optional[Mapping[str, Any]] = None,
    context: Any = None,
    timestamp: Any = None,
    uuid: Any = None,
    groups: Optional[Mapping[str, Any]] = None,
    **kwargs: Any,
) -> Any:
    """Capture an exception as ``$exception`` (never raises)."""
    if context is not None:
        warn_context()
        context = None
    return _proxy().capture_exception(
        exception,
        distinct_id=distinct_id,
        properties=properties,
        context=context,
        timestamp=timestamp,
        uuid=uuid,
        groups=groups,
        **kwargs,
    )


def page(*args: Any, **kwargs: Any) -> None:
    """Capture a ``$pageview`` (see :meth:`Client.page`)."""
    _proxy().page(*args, **kwargs)


def screen(*args: Any, **kwargs: Any) -> None:
    """Capture a ``$screen`` view (see :meth:`Client.screen`)."""
    _proxy().screen(*args, **kwargs)


def flush(timeout: Optional[float] = None) -> None:
    """Send everything queued, waiting at most ``timeout`` seconds (default 10)."""
    _proxy().flush(timeout)


def join(timeout: Optional[float] = None) -> None:
    """Stop the background threads after sending what is queued."""
    _proxy().join(timeout)


def shutdown(timeout: Optional[float] = None) -> None:
    """Flush and stop, within ``timeout`` seconds (default 5)."""
    _proxy().shutdown(timeout)


def __getattr__(name: str) -> Any:
    # The asyncio client is imported on first use: `import posthog` stays lean.
    if name in ("AsyncPosthog", "AsyncClient"):
        from . import async_client

        return getattr(async_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

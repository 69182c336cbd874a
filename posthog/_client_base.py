"""What the blocking and the asyncio clients share: the 3.x settings, their checks, and the parts
they build (drop accounting, transport, event pipeline, flag resolver) through two factory hooks.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _logging
from ._client_ai import AiEventMethods
from ._client_contexts import ContextMethods
from ._client_exceptions import ExceptionMethods
from ._http.capture_v1 import CaptureCompression, CaptureMode, resolve_capture_mode, resolve_compression
from ._http.preload import preload_http
from ._kill_switch import env_disabled, env_maybe_set
from ._options import DEFAULT_MAX_RETRIES
from ._pipeline.dispatcher import DEFAULT_SHUTDOWN_TIMEOUT, EventDispatcher
from ._pipeline.drops import DeliveryStats, DropRecorder, OnError
from ._pipeline.outbox import DEFAULT_RETRY_BUFFER_AGE, DEFAULT_RETRY_BUFFER_BYTES
from ._pipeline.queue import DEFAULT_MAX_QUEUE_BYTES
from ._validation import require_str
from .feature_flags.cache import PathLike
from .feature_flags.fleet import FlagDefinitionsStats
from .feature_flags.resolver import FlagResolver
from .feature_flags.settings import Emit, FlagSettings, Setting
from .request import DEFAULT_HOST, Transport, determine_server_host

if TYPE_CHECKING:
    from .flag_cache import FlagDefinitionCacheProvider

__all__ = ["ClientBase", "weak_capture"]

log = logging.getLogger("posthog")


def weak_capture(client: ClientBase) -> Emit:
    """``client.capture`` for a flag resolver, without keeping the client alive."""
    ref = weakref.ref(client)

    def emit(
        distinct_id: Any, event: str, properties: dict[str, Any], groups: Any, disable_geoip: Any
    ) -> None:
        target = ref()
        if target is not None:
            target.capture(distinct_id, event, properties, groups=groups, disable_geoip=disable_geoip)

    return emit


def _release(dispatcher: EventDispatcher, flags: FlagResolver) -> None:
    dispatcher.release()
    flags.stop(wait=False)


class ClientBase(AiEventMethods, ExceptionMethods, ContextMethods):
    """The settings and parts of a client; :class:`~posthog.Client` and
    :class:`~posthog.AsyncPosthog` add how they flush, shut down and answer flags."""

    log = log

    # Settings flags read too: kept in one FlagSettings shared with the flag resolver.
    personal_api_key: Setting[Optional[str]] = Setting()
    poll_interval: Setting[float] = Setting()
    feature_flags_request_timeout_seconds: Setting[float] = Setting()
    disable_geoip: Setting[bool] = Setting()
    send: Setting[bool] = Setting()

    def __init__(
        self,
        api_key: Optional[str] = None,
        host: Optional[str] = None,
        debug: bool = False,
        max_queue_size: int = 10000,
        send: bool = True,
        on_error: Optional[OnError] = None,
        flush_at: int = 100,
        flush_interval: float = 0.5,
        gzip: bool = False,
        max_retries: int = DEFAULT_MAX_RETRIES,
        sync_mode: bool = False,
        timeout: float = 15,
        thread: int = 1,
        poll_interval: int = 30,
        personal_api_key: Optional[str] = None,
        project_api_key: Optional[str] = None,
        disabled: bool = False,
        disable_geoip: bool = True,
        historical_migration: bool = False,
        feature_flags_request_timeout_seconds: float = 3,
        super_properties: Optional[dict[str, Any]] = None,
        enable_exception_autocapture: bool = False,
        log_captured_exceptions: bool = False,
        exception_autocapture_integrations: Optional[list[Any]] = None,
        project_root: Optional[str] = None,
        privacy_mode: bool = False,
        *,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        queue_full_timeout: Optional[float] = None,
        flag_definitions: Union[Mapping[str, Any], str, os.PathLike[str], None] = None,
        flag_definitions_cache: Union[str, os.PathLike[str], None] = None,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        retry_buffer_bytes: int = DEFAULT_RETRY_BUFFER_BYTES,
        retry_buffer_age: Optional[float] = None,
        flag_definition_cache_provider: Optional[FlagDefinitionCacheProvider] = None,
        capture_mode: Union[CaptureMode, str, None] = None,
        capture_compression: Union[CaptureCompression, str, None] = None,
        capture_ai_events: bool = False,
        before_send: Optional[Callable[[dict[str, Any]], Optional[dict[str, Any]]]] = None,
    ) -> None:
        key = project_api_key or api_key
        require_str("api_key", key)
        assert isinstance(key, str)  # for mypy; require_str raised otherwise
        self.api_key: str = key
        self._flag_settings = FlagSettings(
            api_key=key,
            personal_api_key=personal_api_key,
            poll_interval=poll_interval,
            feature_flags_request_timeout_seconds=feature_flags_request_timeout_seconds,
            disable_geoip=disable_geoip,
            disabled=bool(disabled),
            send=send,
        )
        self._debug = False
        self.debug = debug
        self.sync_mode = sync_mode
        self.gzip = gzip
        self.timeout = timeout
        self.historical_migration = historical_migration
        self.super_properties = super_properties
        self.enable_exception_autocapture = enable_exception_autocapture
        self.log_captured_exceptions = log_captured_exceptions
        self.exception_autocapture_integrations = exception_autocapture_integrations
        self.privacy_mode = privacy_mode
        self.raw_host = host or DEFAULT_HOST
        self.host = determine_server_host(host)
        if project_root is None:
            try:
                project_root = os.getcwd()
            except OSError:
                project_root = None
        self.project_root = project_root

        #: the ingestion protocol: CaptureMode.V0 (/batch/, the 3.x wire) or V1 (capture v1)
        self.capture_mode = resolve_capture_mode(capture_mode)
        #: capture v1's body compression (gzip=True means gzip unless this says otherwise)
        self.capture_compression = resolve_compression(capture_compression, bool(gzip))
        if retry_buffer_age is None:
            # An explicit max_retries is the 3.x contract: N + 1 attempts, then the events are
            # reported. Without it, events are held through an outage (the retry buffer).
            retry_buffer_age = DEFAULT_RETRY_BUFFER_AGE if max_retries is DEFAULT_MAX_RETRIES else 0.0
        self._drops = DropRecorder(on_error)
        self._transport = Transport(self.host, timeout)
        self._pipeline: dict[str, Any] = {
            "api_key": self.api_key,
            "transport": self._transport,
            "drops": self._drops,
            "max_queue_size": max_queue_size,
            "flush_at": flush_at,
            "flush_interval": flush_interval,
            "gzip": gzip,
            "max_retries": max_retries,
            "timeout": timeout,
            "threads": thread,
            "historical_migration": historical_migration,
            "sync_mode": sync_mode,
            "shutdown_timeout": shutdown_timeout,
            "queue_full_timeout": queue_full_timeout,
            "max_queue_bytes": max_queue_bytes,
            "retry_buffer_bytes": retry_buffer_bytes,
            "retry_buffer_age": retry_buffer_age,
            "capture_mode": self.capture_mode,
            "compression": self.capture_compression,
        }
        self._dispatcher = self._make_dispatcher(**self._pipeline)
        #: capture_ai's own pipeline (the AI endpoint), made by the first AI event
        self._ai: Optional[EventDispatcher] = None
        self._ai_lock = threading.Lock()
        #: called with every event before it is queued: returns it (changed or not) or None to drop it
        self.before_send = before_send
        #: posthog.ai wrappers send through capture_ai (the AI endpoint) instead of capture
        self.capture_ai_events = bool(capture_ai_events)
        self._flags = self._make_flags(
            definitions=flag_definitions,
            cache_path=flag_definitions_cache,
            cache_provider=flag_definition_cache_provider,
        )
        self._flags.source.start()
        # Released with the client: its threads finish what is queued and end; nothing here
        # (fork hook, exit hook, threads) keeps a client alive.
        weakref.finalize(self, _release, self._dispatcher, self._flags)
        if send and not sync_mode and not self.disabled:
            self._warm_up()
        self.exception_capture: Any = None
        if enable_exception_autocapture and not self.disabled:
            from .exception_capture import ExceptionCapture

            self.exception_capture = ExceptionCapture(self, integrations=exception_autocapture_integrations)

    # --- settings that act when changed ----------------------------------------------------
    @property
    def env_disabled(self) -> bool:
        """``POSTHOG_DISABLED=1`` in the environment: every client is disabled, however and whenever built."""
        return env_disabled()

    @property
    def disabled(self) -> bool:
        """Every call is a no-op (also when ``POSTHOG_DISABLED`` is set, checked on each call)."""
        if self._flag_settings.disabled:
            return True
        # Read on every call: the usual case (the variable is absent) costs one dict lookup.
        return env_maybe_set() and self.env_disabled

    @disabled.setter
    def disabled(self, value: bool) -> None:
        self._flag_settings.disabled = bool(value)

    @property
    def debug(self) -> bool:
        """Show the SDK's debug logging (on the ``posthog`` logger only)."""
        return self._debug

    @debug.setter
    def debug(self, value: bool) -> None:
        value = bool(value)
        if value != self._debug:
            self._debug = value
            _logging.set_debug(value)
        self._flag_settings.debug = value

    @property
    def on_error(self) -> Optional[OnError]:
        """Called as ``on_error(exception, messages)`` for every event that could not be delivered."""
        return self._drops.on_error

    @on_error.setter
    def on_error(self, callback: Optional[OnError]) -> None:
        self._drops.on_error = callback

    @property
    def queue(self) -> Any:
        """The bounded queue of messages waiting to be sent (``qsize()``, ``empty()``, ``full()``)."""
        return self._dispatcher.queue

    @property
    def consumers(self) -> Optional[list[Any]]:
        """The consumer threads' workers (``None`` in sync mode, as in 3.x)."""
        return None if self.sync_mode else self._dispatcher.consumers

    @property
    def flag_definitions_stats(self) -> FlagDefinitionsStats:
        """How flag definitions were obtained: API polls, shared-cache reads, fleet leadership."""
        return self._flags.fleet.stats()

    @property
    def stats(self) -> DeliveryStats:
        """Delivery counters: queued, sent, pending, and dropped events per :class:`DropReason`
        (``capture_ai``'s events included)."""
        main = self._dispatcher.stats()
        ai = self._ai
        if ai is None:
            return main
        other = ai.stats()
        return DeliveryStats(
            queued=main.queued + other.queued,
            sent=main.sent + other.sent,
            dropped=main.dropped,  # one recorder for both pipelines
            pending=main.pending + other.pending,
        )

    def _ai_dispatcher(self) -> EventDispatcher:
        """``capture_ai``'s pipeline: the client's settings, the AI endpoint, always the v0 shape."""
        ai = self._ai
        if ai is None:
            with self._ai_lock:
                ai = self._ai
                if ai is None:
                    settings = dict(self._pipeline, capture_mode=CaptureMode.V0, ai_endpoint=True)
                    ai = self._ai = self._make_dispatcher(**settings)
                    weakref.finalize(self, ai.release)
        return ai

    def _pipelines(self) -> list[EventDispatcher]:
        """Every event pipeline this client has made."""
        ai = self._ai
        return [self._dispatcher] if ai is None else [self._dispatcher, ai]

    # --- what subclasses build -------------------------------------------------------------
    def _make_dispatcher(self, **settings: Any) -> EventDispatcher:
        """The event pipeline."""
        return EventDispatcher(**settings)

    def _make_flags(
        self, *, definitions: Any, cache_path: Optional[PathLike], cache_provider: Any
    ) -> FlagResolver:
        """The flag resolver."""
        return FlagResolver(
            self._flag_settings,
            self._transport,
            weak_capture(self),
            definitions=definitions,
            cache_path=cache_path,
            cache_provider=cache_provider,
        )

    def _warm_up(self) -> None:
        """Prepare to send (the blocking client imports requests in the background)."""
        preload_http()

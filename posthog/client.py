"""``Client`` (and its 3.x alias ``Posthog``): checks arguments, builds messages, hands them on.

It owns no HTTP, JSON, thread or fork code: the dispatcher delivers events, the flag resolver
answers flag questions.
"""

from __future__ import annotations

import logging
import os
import warnings
import weakref
from collections.abc import Mapping
from typing import Any, Optional, Union
from uuid import uuid4

from . import _logging
from ._client_flags import FlagMethods
from ._dispatcher import DEFAULT_SHUTDOWN_TIMEOUT, EventDispatcher
from ._dropped_events import DeliveryStats, DropReason, DropRecorder, OnError
from ._messages import finish_message
from ._outbox import DEFAULT_RETRY_BUFFER_AGE, DEFAULT_RETRY_BUFFER_BYTES
from ._preload import preload_http
from ._queue import DEFAULT_MAX_QUEUE_BYTES
from ._serialize import copy_properties, encode_message_text
from ._system_context import system_properties_copy
from ._validation import (
    optional_mapping,
    require_id,
    require_mapping,
    require_optional_id,
    require_str,
)
from ._wire import PlainParts, capture_text, plain_parts
from .consumer import MAX_MSG_SIZE
from .feature_flags.resolver import FlagResolver
from .request import DEFAULT_HOST, Transport, determine_server_host, remove_trailing_slash

__all__ = ["Client"]

log = logging.getLogger("posthog")

EventResult = tuple[bool, Union[dict[str, Any], str]]


_LOG_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


def warn_context(stacklevel: int = 3) -> None:
    """The 3.x ``context`` argument is accepted, ignored, and warned about (once per call)."""
    warnings.warn("'context' parameter is deprecated and ignored", DeprecationWarning, stacklevel=stacklevel)


def _release(dispatcher: EventDispatcher, flags: FlagResolver) -> None:
    dispatcher.release()
    flags.stop(wait=False)


_KILL_SWITCH = "POSTHOG_DISABLED"
_TRUTHY = frozenset({"1", "true", "yes", "on"})
# The environment as os.environ keeps it (CPython: a dict of encoded keys and values), for a
# lookup cheap enough to make on every call; os.environ itself is the fallback.
_ENV_DATA: Any = getattr(os.environ, "_data", None)
_ENV_KEY: Any = getattr(os.environ, "encodekey", lambda key: key)(_KILL_SWITCH)


def _env_disabled() -> bool:
    """Whether ``POSTHOG_DISABLED`` is set to a true value right now."""
    if _ENV_DATA is not None:
        raw = _ENV_DATA.get(_ENV_KEY)
        if raw is None:
            return False
        value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    else:  # pragma: no cover - interpreters without os.environ._data
        value = os.environ.get(_KILL_SWITCH, "")
    return value.strip().lower() in _TRUTHY


class Client(FlagMethods):
    """A PostHog client: events are queued and sent in the background; flags are evaluated locally
    when definitions are loaded (with a personal API key) and remotely otherwise."""

    log = log

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
        max_retries: int = 3,
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
        retry_buffer_age: float = DEFAULT_RETRY_BUFFER_AGE,
    ) -> None:
        key = project_api_key or api_key
        require_str("api_key", key)
        assert isinstance(key, str)  # for mypy; require_str raised otherwise
        self.api_key: str = key
        self._debug = False
        self.debug = debug
        self.send = send
        self.sync_mode = sync_mode
        self.gzip = gzip
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.feature_flags_request_timeout_seconds = feature_flags_request_timeout_seconds
        self._disabled = bool(disabled)
        self.disable_geoip = disable_geoip
        self.historical_migration = historical_migration
        self.super_properties = super_properties
        self.enable_exception_autocapture = enable_exception_autocapture
        self.log_captured_exceptions = log_captured_exceptions
        self.exception_autocapture_integrations = exception_autocapture_integrations
        self.privacy_mode = privacy_mode
        self.personal_api_key = personal_api_key
        self.raw_host = host or DEFAULT_HOST
        self.host = determine_server_host(host)
        if project_root is None:
            try:
                project_root = os.getcwd()
            except OSError:
                project_root = None
        self.project_root = project_root

        self._drops = DropRecorder(on_error)
        self._transport = Transport(self.host, timeout)
        self._dispatcher = EventDispatcher(
            api_key=self.api_key,
            transport=self._transport,
            drops=self._drops,
            max_queue_size=max_queue_size,
            flush_at=flush_at,
            flush_interval=flush_interval,
            gzip=gzip,
            max_retries=max_retries,
            timeout=timeout,
            threads=thread,
            historical_migration=historical_migration,
            sync_mode=sync_mode,
            shutdown_timeout=shutdown_timeout,
            queue_full_timeout=queue_full_timeout,
            max_queue_bytes=max_queue_bytes,
            retry_buffer_bytes=retry_buffer_bytes,
            retry_buffer_age=retry_buffer_age,
        )
        self._flags = FlagResolver(self, definitions=flag_definitions, cache_path=flag_definitions_cache)
        # Released with the client: its threads finish what is queued and end; nothing here
        # (fork hook, exit hook, threads) keeps a client alive.
        weakref.finalize(self, _release, self._dispatcher, self._flags)
        if send and not sync_mode and not self.disabled:
            preload_http()
        self.exception_capture: Any = None
        if enable_exception_autocapture and not self.disabled:
            from .exception_capture import ExceptionCapture

            self.exception_capture = ExceptionCapture(self, integrations=exception_autocapture_integrations)

    # --- settings that act when changed ----------------------------------------------------
    @property
    def env_disabled(self) -> bool:
        """``POSTHOG_DISABLED=1`` in the environment: every client is disabled, however and whenever built."""
        return _env_disabled()

    @property
    def disabled(self) -> bool:
        """Every call is a no-op (also when ``POSTHOG_DISABLED`` is set, checked on each call)."""
        return self._disabled or self.env_disabled

    @disabled.setter
    def disabled(self, value: bool) -> None:
        self._disabled = bool(value)

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
    def stats(self) -> DeliveryStats:
        """Delivery counters: queued, sent, pending, and dropped events per :class:`DropReason`."""
        return self._dispatcher.stats()

    # --- event calls -----------------------------------------------------------------------
    def capture(
        self,
        distinct_id: Any = None,
        event: Optional[str] = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        send_feature_flags: bool = False,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Capture ``event`` for ``distinct_id``; returns ``(accepted, message)``."""
        if context is not None:
            warn_context()
        require_id("distinct_id", distinct_id)
        require_str("event", event)
        if properties and type(properties) is not dict:
            require_mapping("properties", properties)
        if groups and type(groups) is not dict:
            require_mapping("groups", groups)
        if self.disabled:
            return False, "disabled"
        flag_props: Optional[dict[str, Any]] = None
        if self._flags.may_enrich or send_feature_flags:
            flag_props = self._flags.enrichment(
                distinct_id,
                event,  # type: ignore[arg-type]  # checked by require_str above
                groups,
                send_feature_flags,
                disable_geoip,
            )
        props: dict[str, Any] = system_properties_copy()
        if flag_props:
            props.update(flag_props)
        plain = None if self.super_properties else plain_parts(properties, groups, flag_props)
        if plain is not None:
            if properties:
                props.update(properties)  # already encoded: what is sent cannot change any more
        elif properties:
            copy_properties(properties, props)
        if groups:
            props["$groups"] = dict(groups)
        return self._enqueue(event, distinct_id, props, timestamp, uuid, disable_geoip, None, plain)  # type: ignore[arg-type]

    def identify(
        self,
        distinct_id: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Set person properties (``$identify`` with top-level ``$set``)."""
        if context is not None:
            warn_context()
        return self._person_event(
            "$identify", "$set", distinct_id, properties, context, timestamp, uuid, disable_geoip
        )

    def set(
        self,
        distinct_id: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Set person properties (``$set``)."""
        if context is not None:
            warn_context()
        return self._person_event(
            "$set", "$set", distinct_id, properties, context, timestamp, uuid, disable_geoip
        )

    def set_once(
        self,
        distinct_id: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Set person properties only where not yet set (``$set_once``)."""
        if context is not None:
            warn_context()
        return self._person_event(
            "$set_once", "$set_once", distinct_id, properties, context, timestamp, uuid, disable_geoip
        )

    def _person_event(
        self,
        event: str,
        slot: str,
        distinct_id: Any,
        properties: Optional[Mapping[str, Any]],
        context: Any,
        timestamp: Any,
        uuid: Any,
        disable_geoip: Optional[bool],
    ) -> EventResult:
        person = optional_mapping("properties", properties or None)
        require_id("distinct_id", distinct_id)
        if self.disabled:
            return False, "disabled"
        person_props: dict[str, Any] = {}
        copy_properties(person, person_props)
        return self._enqueue(event, distinct_id, {}, timestamp, uuid, disable_geoip, {slot: person_props})

    def group_identify(
        self,
        group_type: Any = None,
        group_key: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: Optional[bool] = None,
        distinct_id: Any = None,
    ) -> EventResult:
        """Set properties of a group (``$groupidentify``)."""
        if context is not None:
            warn_context()
        require_id("group_type", group_type)
        require_id("group_key", group_key)
        group_props = optional_mapping("properties", properties or None)
        if distinct_id:
            require_id("distinct_id", distinct_id)
        else:
            distinct_id = f"${group_type}_{group_key}"
        if self.disabled:
            return False, "disabled"
        group_set: dict[str, Any] = {}
        copy_properties(group_props, group_set)
        props = {"$group_type": group_type, "$group_key": group_key, "$group_set": group_set}
        return self._enqueue("$groupidentify", distinct_id, props, timestamp, uuid, disable_geoip)

    def alias(
        self,
        previous_id: Any = None,
        distinct_id: Any = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Link ``distinct_id`` (the alias) to ``previous_id`` (``$create_alias``)."""
        if context is not None:
            warn_context()
        require_id("previous_id", previous_id)
        require_id("distinct_id", distinct_id)
        if self.disabled:
            return False, "disabled"
        props = {"distinct_id": previous_id, "alias": distinct_id}
        return self._enqueue("$create_alias", previous_id, props, timestamp, uuid, disable_geoip)

    def page(
        self,
        distinct_id: Any = None,
        url: Optional[str] = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Capture a ``$pageview`` of ``url`` (the caller's dict is not modified)."""
        if context is not None:
            warn_context()
        page_props = optional_mapping("properties", properties or None)
        require_id("distinct_id", distinct_id)
        require_str("url", url)
        if self.disabled:
            return False, "disabled"
        props: dict[str, Any] = {}
        copy_properties(page_props, props)
        props["$current_url"] = url
        return self._enqueue("$pageview", distinct_id, props, timestamp, uuid, disable_geoip)

    def screen(
        self,
        distinct_id: Any = None,
        screen_name: Optional[str] = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: Optional[bool] = None,
    ) -> EventResult:
        """Capture a ``$screen`` view of ``screen_name`` (absent from 3.25.0, where it raised)."""
        if context is not None:
            warn_context()
        screen_props = optional_mapping("properties", properties or None)
        require_id("distinct_id", distinct_id)
        require_str("screen_name", screen_name)
        if self.disabled:
            return False, "disabled"
        props: dict[str, Any] = {}
        copy_properties(screen_props, props)
        props["$screen_name"] = screen_name
        return self._enqueue("$screen", distinct_id, props, timestamp, uuid, disable_geoip)

    def capture_exception(
        self,
        exception: Any = None,
        distinct_id: Any = None,
        properties: Optional[Mapping[str, Any]] = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        groups: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> Optional[EventResult]:
        """Capture an exception as a ``$exception`` event; never raises.

        ``exception`` may be an exception, an ``exc_info`` triple, or ``None`` for the one being
        handled. Without a ``distinct_id`` the event is personless.
        """
        if context is not None:
            warn_context()
        try:
            from .exception_utils import exc_info_from, exception_properties

            exc_info = exc_info_from(exception)
            if exc_info is None:
                log.warning("No exception information available")
                return None
            require_optional_id("distinct_id", distinct_id)
            extra = optional_mapping("properties", properties or None)
            props = exception_properties(exc_info, self.project_root)
            if distinct_id is None:
                distinct_id = str(uuid4())
                props["$process_person_profile"] = False
            props["$exception_personURL"] = (
                f"{remove_trailing_slash(self.raw_host)}/project/{self.api_key}/person/{distinct_id}"
            )
            props.update(extra)
            if self.log_captured_exceptions:
                safe_extra = {k: v for k, v in kwargs.items() if k not in _LOG_RECORD_ATTRS}
                log.error("captured exception: %s", exc_info[1], exc_info=exc_info, extra=safe_extra)
            return self.capture(
                distinct_id, "$exception", props, timestamp=timestamp, uuid=uuid, groups=groups
            )
        except Exception:  # capture_exception is called from error paths: it must never raise
            log.exception("Failed to capture exception")
            return None

    def _enqueue(
        self,
        event: str,
        distinct_id: Any,
        properties: dict[str, Any],
        timestamp: Any,
        uuid: Any,
        disable_geoip: Optional[bool],
        extra: Optional[dict[str, Any]] = None,
        plain: Optional[PlainParts] = None,
    ) -> EventResult:
        # The wire text is made here, once: it is what is queued, sized and sent.
        geoip = self.disable_geoip if disable_geoip is None else disable_geoip
        msg = finish_message(event, distinct_id, properties, timestamp, uuid, geoip, self.super_properties)
        if extra:
            msg.update(extra)
        try:
            if plain is not None:
                text = capture_text(
                    event, msg["distinct_id"], plain[0], plain[1], geoip, msg["timestamp"], msg["uuid"]
                )
            else:
                text = encode_message_text(msg)
        except Exception as exc:  # no conversion could save it
            self._drops.record(DropReason.UNSERIALISABLE, [msg], cause=exc)
            return False, msg
        if len(text) > MAX_MSG_SIZE:
            self._drops.record(DropReason.TOO_LARGE, [msg], detail=f"{len(text)} bytes > {MAX_MSG_SIZE}")
            return False, msg
        return self._deliver(msg, text), msg

    def _deliver(self, msg: dict[str, Any], text: str) -> bool:
        """Hand a finished message and its JSON text on (overridden by ``RecordingClient``)."""
        if not self.send:
            return True
        return self._dispatcher.put(msg, text)

    # --- lifecycle -------------------------------------------------------------------------
    def flush(self, timeout: Optional[float] = None) -> int:
        """Send everything queued so far; waits at most ``timeout`` seconds (default 10).

        Returns the number of events still pending when it returned.
        """
        return self._dispatcher.flush(timeout)

    def join(self, timeout: Optional[float] = None) -> None:
        """Stop the background threads after delivering what is queued (bounded by ``timeout``)."""
        self._dispatcher.shutdown(timeout)
        self._flags.stop()

    def shutdown(self, timeout: Optional[float] = None) -> None:
        """Flush and stop, within ``timeout`` seconds (default 5); idempotent; never raises.

        Events still pending at the deadline are reported through ``on_error`` as dropped.
        """
        try:
            self._dispatcher.shutdown(timeout)
            self._flags.stop()
            if self.exception_capture is not None:
                self.exception_capture.close()
                self.exception_capture = None
        except Exception:  # shutdown runs on exit paths; it must not raise
            log.exception("error during shutdown")


class Posthog(Client):
    """The 3.x name of :class:`Client` (``from posthog import Posthog``)."""

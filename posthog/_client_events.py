"""The 3.x event calls (capture, identify, alias, groups, page, screen, exceptions), mixed into ``Client``.

Each checks its arguments at the call site, builds the message, makes its JSON text once and
hands both on; nothing here does I/O.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union
from uuid import uuid4

from ._context_events import _context_id, run_before_send, with_context
from ._messages import finish_message
from ._pipeline.drops import DropReason, DropRecorder
from ._pipeline.encode import MAX_MSG_SIZE
from ._serialize import copy_properties, encode_message_text
from ._system_context import system_properties_copy
from ._validation import (
    optional_mapping,
    require_id,
    require_mapping,
    require_str,
)
from ._wire import PlainParts, capture_text, plain_parts
from .contexts import _current as _current_context
from .feature_flags.resolver import FlagResolver

if TYPE_CHECKING:
    from ._pipeline.dispatcher import EventDispatcher as _Dispatcher

__all__ = ["EventMethods", "EventResult", "Sink", "check_capture", "warn_context"]

log = logging.getLogger("posthog")

EventResult = tuple[bool, Union[dict[str, Any], str]]
#: Where a finished message and its JSON text go instead of the queue (``capture_immediate``).
Sink = Callable[[dict[str, Any], str], bool]


def warn_context(stacklevel: int = 3) -> None:
    """The 3.x ``context`` argument is accepted, ignored, and warned about (once per call)."""
    warnings.warn("'context' parameter is deprecated and ignored", DeprecationWarning, stacklevel=stacklevel)


def check_capture(distinct_id: Any, event: Any, properties: Any, groups: Any) -> None:
    """The argument checks of ``capture`` (quick for the usual types)."""
    require_id("distinct_id", distinct_id)
    require_str("event", event)
    if properties and type(properties) is not dict:
        require_mapping("properties", properties)
    if groups and type(groups) is not dict:
        require_mapping("groups", groups)


class EventMethods:
    """The event calls; ``Client`` provides the state they use."""

    api_key: str
    raw_host: str
    _flags: FlagResolver
    _drops: DropRecorder
    _dispatcher: _Dispatcher
    disabled: bool
    send: bool
    disable_geoip: bool
    super_properties: Optional[dict[str, Any]]
    project_root: Optional[str]
    log_captured_exceptions: bool
    exception_autocapture_integrations: Any
    before_send: Optional[Callable[[dict[str, Any]], Any]]

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
        return self._capture(
            None, distinct_id, event, properties, timestamp, uuid, groups, send_feature_flags, disable_geoip
        )

    def _capture(
        self,
        sink: Optional[Sink],
        distinct_id: Any,
        event: Optional[str],
        properties: Optional[Mapping[str, Any]],
        timestamp: Any,
        uuid: Any,
        groups: Optional[Mapping[str, Any]],
        send_feature_flags: bool,
        disable_geoip: Optional[bool],
        limit: int = MAX_MSG_SIZE,
    ) -> EventResult:
        """``capture`` after its deprecation check; the finished message goes to ``sink``
        (``None``: the queue); a message's JSON may take ``limit`` bytes."""
        personless = False
        ctx = _current_context.get()
        if distinct_id is None and ctx is not None:
            distinct_id = ctx.distinct_id
            if distinct_id is None:  # nobody known in this context: a personless event
                distinct_id, personless = str(uuid4()), True
        check_capture(distinct_id, event, properties, groups)
        if self.disabled:
            return False, "disabled"
        flag_props: Optional[dict[str, Any]] = None
        if self._flags.source.may_enrich or send_feature_flags:
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
        if personless:
            props["$process_person_profile"] = False
        plain = None if self.super_properties or ctx else plain_parts(properties, groups, flag_props)
        if plain is not None:
            if properties:
                props.update(properties)  # already encoded: what is sent cannot change any more
        elif properties:
            copy_properties(properties, props)
        if groups:
            props["$groups"] = dict(groups)
        return self._enqueue(
            event,  # type: ignore[arg-type]  # checked by require_str above
            distinct_id,
            props,
            timestamp,
            uuid,
            disable_geoip,
            None,
            plain,
            sink,
            limit,
        )

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
        distinct_id = _context_id(distinct_id)
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
        distinct_id = _context_id(distinct_id)
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
        distinct_id = _context_id(distinct_id)
        require_id("distinct_id", distinct_id)
        require_str("screen_name", screen_name)
        if self.disabled:
            return False, "disabled"
        props: dict[str, Any] = {}
        copy_properties(screen_props, props)
        props["$screen_name"] = screen_name
        return self._enqueue("$screen", distinct_id, props, timestamp, uuid, disable_geoip)

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
        sink: Optional[Sink] = None,
        limit: int = MAX_MSG_SIZE,
    ) -> EventResult:
        # The wire text is made here, once: it is what is queued, sized and sent.
        geoip = self.disable_geoip if disable_geoip is None else disable_geoip
        ctx = _current_context.get()
        if ctx is not None:
            with_context(properties, ctx, distinct_id)
        msg = finish_message(event, distinct_id, properties, timestamp, uuid, geoip, self.super_properties)
        if extra:
            msg.update(extra)
        if self.before_send is not None:
            changed = self._before_send(msg)
            if changed is None:
                return False, msg
            msg, plain = changed, None
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
        if len(text) > limit:
            self._drops.record(DropReason.TOO_LARGE, [msg], detail=f"{len(text)} bytes > {limit}")
            return False, msg
        return (self._deliver(msg, text) if sink is None else sink(msg, text)), msg

    def _before_send(self, msg: dict[str, Any]) -> Optional[dict[str, Any]]:
        """The event as ``before_send`` returns it; None (counted and reported) when dropped."""
        assert self.before_send is not None
        return run_before_send(self.before_send, msg, self._drops)

    def _deliver(self, msg: dict[str, Any], text: str) -> bool:
        """Hand a finished message and its JSON text on (overridden by ``RecordingClient``)."""
        if not self.send:
            return True
        return self._dispatcher.put(msg, text)

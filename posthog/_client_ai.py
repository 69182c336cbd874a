"""``capture_ai``: LLM events to PostHog's AI endpoint (``/i/v0/ai/batch/``), mixed into the clients.

The events are built like ``capture``'s and go through a pipeline of their own (same settings,
same delivery guarantees), made by the first one; ``capture`` never reroutes ``$ai_*`` events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Optional

from ._client_events import EventMethods, EventResult, warn_context

if TYPE_CHECKING:
    from ._pipeline.dispatcher import EventDispatcher

__all__ = ["AI_MAX_MSG_SIZE", "AiEventMethods"]

log = logging.getLogger("posthog")

#: ``capture_ai`` takes events up to 8 MiB of JSON (``capture``: 900 KiB).
AI_MAX_MSG_SIZE: Final = 8 * 1024 * 1024


class AiEventMethods(EventMethods):
    """``capture_ai``; the client provides ``_ai_dispatcher``."""

    def capture_ai(
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
        """Capture an LLM event (``$ai_generation``, ...) to PostHog's AI endpoint, which takes
        events up to 8 MiB, through a queue of its own; same arguments and result as ``capture``."""
        if context is not None:
            warn_context()
        if isinstance(event, str) and not event.startswith("$ai_"):
            log.debug("capture_ai(%r): not an $ai_ event; sent to the AI endpoint anyway", event)
        return self._capture(
            self._deliver_ai,
            distinct_id,
            event,
            properties,
            timestamp,
            uuid,
            groups,
            send_feature_flags,
            disable_geoip,
            AI_MAX_MSG_SIZE,
        )

    def _deliver_ai(self, msg: dict[str, Any], text: str) -> bool:
        """Hand a finished ``capture_ai`` message to the AI endpoint's pipeline."""
        if not self.send:
            return True
        return self._ai_dispatcher().put(msg, text)

    def _ai_dispatcher(self) -> EventDispatcher:
        raise NotImplementedError  # provided by ClientBase

"""``capture_exception``: an exception as a ``$exception`` event, mixed into the clients."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Optional
from uuid import uuid4

from ._client_events import EventMethods, EventResult, warn_context
from ._context_events import _context_id
from ._validation import optional_mapping, require_optional_id
from .request import remove_trailing_slash

__all__ = ["ExceptionMethods"]

log = logging.getLogger("posthog")

_LOG_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


class ExceptionMethods(EventMethods):
    """``capture_exception`` (never raises)."""

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
            distinct_id = _context_id(distinct_id)
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

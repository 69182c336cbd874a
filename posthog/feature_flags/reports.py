"""``$feature_flag_called``: what a flag call reports, once per user, flag and value."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Optional

from ..types import FeatureFlag, FlagValue
from .called_events import CalledEvents, called_properties
from .remote import RemoteFlag
from .settings import Emit

__all__ = ["CalledReports"]

log = logging.getLogger("posthog")


class CalledReports:
    """The reporting part of :class:`.resolver.FlagResolver`."""

    called_events: CalledEvents
    _emit: Emit

    def report_flag(
        self,
        key: str,
        distinct_id: Any,
        local_value: Optional[FlagValue],
        answer: RemoteFlag,
        groups: Mapping[str, Any],
        disable_geoip: Optional[bool],
    ) -> None:
        """Send ``$feature_flag_called`` for a ``get_feature_flag`` answer (once per user and value)."""
        value = answer.value if local_value is None else local_value
        if value is None:
            return
        self._report_called(
            key,
            distinct_id,
            value,
            local_value is not None,
            groups,
            disable_geoip,
            remote_flag=answer.flag,
            request_id=answer.request_id,
        )

    def _report_called(
        self,
        key: str,
        distinct_id: Any,
        value: FlagValue,
        locally: bool,
        groups: Mapping[str, Any],
        disable_geoip: Optional[bool],
        *,
        remote_flag: Optional[FeatureFlag] = None,
        request_id: Optional[str] = None,
        payload: Any = None,
    ) -> None:
        if not self.called_events.first_time(distinct_id, key, value):
            return
        props = called_properties(
            key, value, locally, remote_flag=remote_flag, request_id=request_id, payload=payload
        )
        try:
            self._emit(distinct_id, "$feature_flag_called", props, groups or None, disable_geoip)
        except Exception:  # reporting exposure must never break a flag call
            log.debug("could not capture $feature_flag_called", exc_info=True)

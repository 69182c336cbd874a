"""Why events are dropped, how many, and the one place that tells ``on_error`` and the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Optional

from .._drop_reason import DropReason
from ..capture_v1 import CaptureV1Error
from ..exceptions import DroppedEventError

__all__ = ["DeliveryStats", "DropReason", "DropRecorder", "OnError"]

log = logging.getLogger("posthog")

#: How long one "episode" of drops for a reason lasts for logging purposes.
_LOG_WINDOW_SECONDS: Final = 60.0

OnError = Callable[[Exception, Sequence[Any]], Any]


class _Counts(dict[DropReason, int]):
    """Counts per reason: ``counts[reason]`` is 0 for a reason that never occurred."""

    def __missing__(self, key: DropReason) -> int:
        return 0


@dataclass(frozen=True)
class DeliveryStats:
    """A read-only snapshot of a client's delivery counters."""

    queued: int = 0
    sent: int = 0
    dropped: Mapping[DropReason, int] = field(default_factory=lambda: MappingProxyType(_Counts()))
    pending: int = 0

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.dropped.values())


class DropRecorder:
    """Counts drops per reason, calls ``on_error`` and logs once per reason per episode."""

    def __init__(self, on_error: Optional[OnError] = None) -> None:
        self.on_error = on_error
        self._lock = threading.Lock()
        self._counts: dict[DropReason, int] = {}
        self._unlogged: dict[DropReason, int] = {}
        self._last_logged: dict[DropReason, float] = {}

    def after_fork(self) -> None:
        """Forget the parent's lock state (it may have been held by a thread that is gone)."""
        self._lock = threading.Lock()

    def log_unreported(self) -> None:
        """Log drops still waiting for their summary line (called at shutdown and exit)."""
        with self._lock:
            pending = {reason: n for reason, n in self._unlogged.items() if n}
            self._unlogged.clear()
        for reason, count in pending.items():
            log.warning("dropped %d more event(s) (%s) since the last report", count, reason.value)

    def counts(self) -> Mapping[DropReason, int]:
        """A copy of the counters; a reason that never occurred reads 0."""
        with self._lock:
            return MappingProxyType(_Counts(self._counts))

    def record(
        self,
        reason: DropReason,
        batch: Sequence[Any],
        count: Optional[int] = None,
        cause: Optional[BaseException] = None,
        detail: str = "",
    ) -> None:
        """Record ``count`` (default ``len(batch)``) dropped events; never raises."""
        n = len(batch) if count is None else count
        if n <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + n
            pending = self._unlogged.get(reason, 0) + n
            last = self._last_logged.get(reason)
            should_log = last is None or now - last >= _LOG_WINDOW_SECONDS
            if should_log:
                self._last_logged[reason] = now
                self._unlogged[reason] = 0
            else:
                self._unlogged[reason] = pending
        if should_log:
            text = detail or (str(cause) if cause is not None else "")
            log.warning(
                "dropped %d event(s) (%s)%s%s; further drops for this reason are summarised for %ds",
                pending,
                reason.value,
                ": " if text else "",
                text,
                int(_LOG_WINDOW_SECONDS),
            )
        callback = self.on_error
        if callback is not None:
            status = getattr(cause, "status", None)
            kind = _CaptureV1Drop if isinstance(cause, CaptureV1Error) else DroppedEventError
            error = kind(
                reason,
                n,
                detail or (str(cause) if cause is not None else ""),
                status if isinstance(status, int) else None,
            )
            if isinstance(error, _CaptureV1Drop) and isinstance(cause, CaptureV1Error):
                error.take_details(cause)
            if cause is not None:
                error.__cause__ = cause
            try:
                callback(error, list(batch))
            except Exception:  # the application's callback must not break delivery
                log.debug("on_error callback raised", exc_info=True)


class _CaptureV1Drop(DroppedEventError, CaptureV1Error):
    """A drop caused by capture v1: both a :class:`DroppedEventError` (``reason``, ``count``) and
    a :class:`CaptureV1Error` (``request_id``, ``attempts``, ``drops``, ``retry_exhausted``)."""

    def take_details(self, cause: CaptureV1Error) -> None:
        self.request_id = cause.request_id
        self.attempts = cause.attempts
        self.drops = list(cause.drops)
        self.retry_exhausted = list(cause.retry_exhausted)
        self.retry_after = cause.retry_after

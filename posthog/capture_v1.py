"""Capture v1 (``POST /i/v1/analytics/events``): the error passed to ``on_error`` in that mode.

Choose the protocol with ``capture_mode="v1"`` (``posthog.CaptureMode``); see the README's
"Protocols" section.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from .exceptions import APIError

__all__ = ["CaptureV1Error"]


class CaptureV1Error(APIError):
    """Capture v1 did not accept every event of a batch.

    ``status`` is the last HTTP status; ``request_id`` the batch's ``PostHog-Request-Id``;
    ``attempts`` the requests made for it; ``drops`` every ``(uuid, details)`` the server
    answered ``drop``; ``retry_exhausted`` the uuids still ``retry`` after the last attempt.
    """

    def __init__(
        self,
        status: Union[int, str],
        message: str,
        *,
        retry_after: Optional[float] = None,
        request_id: str = "",
        attempts: int = 0,
        drops: Sequence[tuple[str, Optional[str]]] = (),
        retry_exhausted: Sequence[str] = (),
    ) -> None:
        super().__init__(status, message, retry_after=retry_after)
        self.request_id = request_id
        self.attempts = attempts
        self.drops: list[tuple[str, Optional[str]]] = list(drops)
        self.retry_exhausted: list[str] = list(retry_exhausted)

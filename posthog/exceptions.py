"""Exceptions raised by the SDK.

Hierarchy::

    PostHogError
    ├── APIError                 a PostHog endpoint answered with an error (``.status``, ``.message``)
    │   ├── QuotaLimitError      the project is over its quota for this feature
    │   └── DroppedEventError    events could not be delivered (``.reason``, ``.count``); passed to on_error
    └── InvalidArgumentError     (base of the two below; also an AssertionError for 3.x callers)
        ├── InvalidTypeError     (TypeError)  an argument has the wrong type
        └── InvalidValueError    (ValueError) an argument has the right type but a bad value

``InvalidArgumentError`` subclasses ``AssertionError`` because posthog 3.x raised
``AssertionError`` for bad arguments; code that catches it keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from ._drop_reason import DropReason

__all__ = [
    "APIError",
    "DroppedEventError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "InvalidValueError",
    "PostHogError",
    "QuotaLimitError",
]


class PostHogError(Exception):
    """Base class of every exception this SDK defines."""


class APIError(PostHogError):
    """A PostHog endpoint answered with an error status (or an unusable body)."""

    def __init__(self, status: Union[int, str], message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        #: seconds the server asked us to wait (``Retry-After``), if it said so
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"[PostHog] {self.message} ({self.status})"


class QuotaLimitError(APIError):
    """The project is quota limited for the requested feature (for example feature flags)."""


class DroppedEventError(APIError):
    """Events were dropped instead of delivered; passed to ``on_error`` with the messages.

    A subclass of :class:`APIError` so that ``on_error`` callbacks written for 3.x (which
    received an ``APIError`` for a failed upload) keep working: ``.status`` is the HTTP status
    when a server answer caused the drop, else the reason's text; ``.message`` says why.
    """

    def __init__(
        self, reason: DropReason, count: int, detail: str = "", status: Optional[int] = None
    ) -> None:
        super().__init__(status if status is not None else reason.value, detail or reason.value)
        self.args = (reason, count, detail)
        self.reason = reason
        self.count = count
        self.detail = detail
        #: the HTTP status that caused the drop, if a server answer did
        self.http_status = status

    def __str__(self) -> str:
        suffix = f": {self.detail}" if self.detail else ""
        return f"[PostHog] dropped {self.count} event(s) ({self.reason.value}){suffix}"


class InvalidArgumentError(AssertionError, PostHogError):
    """An argument failed validation at the call site."""


class InvalidTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type."""


class InvalidValueError(InvalidArgumentError, ValueError):
    """An argument has an unusable value."""

"""Why an event was not delivered: a leaf module, so the exceptions can name it."""

from __future__ import annotations

from enum import Enum

__all__ = ["DropReason"]


class DropReason(str, Enum):
    """The closed set of reasons an event is not delivered."""

    QUEUE_FULL = "queue_full"
    TOO_LARGE = "too_large"
    UNSERIALISABLE = "unserialisable"
    REJECTED = "rejected"  # the server answered 4xx (other than 408/413/429)
    RETRIES_EXHAUSTED = "retries_exhausted"
    AFTER_SHUTDOWN = "after_shutdown"
    EXIT_DEADLINE = "exit_deadline"  # still pending when a shutdown/exit deadline passed
    BUFFER_FULL = "buffer_full"  # pushed out of the retry buffer (oldest first) by its byte bound
    EXPIRED = "expired"  # still undelivered after retry_buffer_age seconds
    BEFORE_SEND = "before_send"  # the before_send hook returned None
    BEFORE_SEND_ERROR = "before_send_error"  # the before_send hook raised or returned a non-dict

"""Which failed requests are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Final, Optional

from ..exceptions import APIError

__all__ = [
    "MAX_RETRY_AFTER_SECONDS",
    "delay_for",
    "is_network_error",
    "is_retryable",
    "retry_delays",
    "v1_delays",
]

#: The first wait is never shorter than this: an immediate retry only hits the same trouble.
MIN_DELAY_SECONDS: Final = 0.1
#: No single wait grows past this.
MAX_DELAY_SECONDS: Final = 30.0
#: A server's Retry-After is honoured up to this many seconds.
MAX_RETRY_AFTER_SECONDS: Final = 60.0


def is_retryable(exc: BaseException) -> bool:
    """Network errors, 408, 429 and 5xx are worth another try; other 4xx never are."""
    if isinstance(exc, APIError):
        status = exc.status
        if not isinstance(status, int):
            return False
        # 429 means "slow down", not "give up"; 408 is the server timing out on us.
        return status in (408, 429) or status >= 500
    return is_network_error(exc)


def is_network_error(exc: BaseException) -> bool:
    """A request that failed below HTTP: connection, timeout, protocol (requests, httpx or aiohttp)."""
    if isinstance(exc, OSError):
        return True
    requests = sys.modules.get("requests")  # whichever client failed is imported by now
    if requests is not None and isinstance(exc, requests.exceptions.RequestException):
        return True
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return True
    aiohttp = sys.modules.get("aiohttp")
    return aiohttp is not None and isinstance(exc, aiohttp.ClientError)


def retry_delays() -> Iterator[float]:
    """Full-jitter exponential waits (about 0.1-0.5 s, then up to 1, 2, 4 ... 30 s)."""
    import backoff  # imported on first retry: `import posthog` stays fast

    for ceiling in backoff.expo(base=2, factor=0.5, max_value=MAX_DELAY_SECONDS):
        if ceiling is None:  # backoff's generators may start with a priming None
            continue
        yield max(MIN_DELAY_SECONDS, backoff.full_jitter(ceiling))


def v1_delays() -> Iterator[float]:
    """Capture v1's waits: 1, 2, 4 ... seconds, at most 30, no jitter (capture-v1.md §7)."""
    wait = 1.0
    while True:
        yield wait
        wait = min(wait * 2, MAX_DELAY_SECONDS)


def delay_for(exc: BaseException, planned: float) -> float:
    """The wait before the next attempt: the planned backoff, or longer if the server asked."""
    retry_after: Optional[float] = getattr(exc, "retry_after", None)
    if retry_after is not None and retry_after > planned:
        return min(retry_after, MAX_RETRY_AFTER_SECONDS)
    return planned

"""``Client`` (and its 3.x alias ``Posthog``): checks arguments, builds messages, hands them on.

It owns no HTTP, JSON, thread or fork code: the dispatcher delivers events, the flag resolver
answers flag questions.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

from ._client_base import ClientBase
from ._client_flags import FlagMethods
from ._pipeline.dispatcher import DEFAULT_FLUSH_TIMEOUT

__all__ = ["Client", "Posthog"]

log = logging.getLogger("posthog")


class Client(ClientBase, FlagMethods):
    """A PostHog client: events are queued and sent in the background; flags are evaluated locally
    when definitions are loaded (with a personal API key) and remotely otherwise."""

    # --- lifecycle -------------------------------------------------------------------------
    def flush(self, timeout: Optional[float] = None) -> int:
        """Send everything queued so far; waits at most ``timeout`` seconds (default 10).

        Returns the number of events still pending when it returned.
        """
        deadline = _deadline(timeout, DEFAULT_FLUSH_TIMEOUT)
        return sum(p.flush(_left(deadline)) for p in self._pipelines())

    def join(self, timeout: Optional[float] = None) -> None:
        """Stop the background threads after delivering what is queued (bounded by ``timeout``)."""
        deadline = _deadline(timeout, self._dispatcher.shutdown_timeout)
        for pipeline in self._pipelines():
            pipeline.shutdown(_left(deadline))
        self._flags.stop()

    def shutdown(self, timeout: Optional[float] = None) -> None:
        """Flush and stop, within ``timeout`` seconds (default 5); idempotent; never raises.

        Events still pending at the deadline are reported through ``on_error`` as dropped.
        """
        try:
            deadline = _deadline(timeout, self._dispatcher.shutdown_timeout)
            for pipeline in self._pipelines():
                pipeline.shutdown(_left(deadline))
            self._flags.stop()
            if self.exception_capture is not None:
                self.exception_capture.close()
                self.exception_capture = None
        except Exception:  # shutdown runs on exit paths; it must not raise
            log.exception("error during shutdown")


def _deadline(timeout: Optional[float], default: float) -> float:
    return time.monotonic() + (default if timeout is None else max(0.0, timeout))


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class Posthog(Client):
    """The 3.x name of :class:`Client` (``from posthog import Posthog``)."""

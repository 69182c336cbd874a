"""``client.consumers``: 3.x's list of encoder threads, now handles on the shared engine."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .interface import Pipeline

__all__ = ["Consumer"]


class Consumer:
    """One of ``client.consumers`` (3.x's encoder threads): a handle on the client's pipeline.

    Encoding runs on the process's delivery engine (:mod:`posthog._pipeline.engine`), shared by every
    client; ``thread`` is the engine's encoder thread. ``thread=N`` gives N handles.
    """

    def __init__(self, dispatcher: Pipeline, thread: Optional[threading.Thread] = None) -> None:
        self.dispatcher = dispatcher
        self.running = True
        self.thread = thread

    def pause(self) -> None:
        """Ask the pipeline to send what it holds and stop waiting for more (3.x name)."""
        self.running = False
        self.dispatcher.release()

    def is_alive(self) -> bool:
        """Whether the engine still serves this client's pipeline."""
        sender = self.dispatcher.sender
        if sender is None or not sender.is_alive():
            return False
        d = self.dispatcher
        return not (d.draining and not d.pending())

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait (bounded by ``timeout``) until the pipeline holds nothing more."""
        d = self.dispatcher
        deadline = None if timeout is None else time.monotonic() + timeout
        while d.pending() and (deadline is None or time.monotonic() < deadline):
            d.queue.wait_done(d.queue.last_seq(), 0.05)

"""A named daemon thread owned by an object of ours (consumers, the sender)."""

from __future__ import annotations

import threading
from typing import Optional

__all__ = ["Worker"]


class Worker:
    """Runs ``self.run`` in a daemon thread called ``name``; start, liveness and a bounded join."""

    def __init__(self, name: str) -> None:
        self.running = True
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def run(self) -> None:
        """The thread's work (overridden)."""

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def is_alive(self) -> bool:
        """Whether the thread is running."""
        return self.thread.is_alive()

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for the thread to end (bounded by ``timeout``)."""
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)

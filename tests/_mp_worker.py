"""Worker functions for tests/test_multiprocessing.py (importable by spawned processes)."""

from __future__ import annotations

import posthog


def capture_ten(url: str, label: str) -> None:
    """Capture ten events and return without flushing: the process exit must deliver them."""
    client = posthog.Client("phc_test_key", host=url, flush_interval=30)
    for i in range(10):
        client.capture(f"{label}-{i}", f"{label} event")


def facade_capture_ten(label: str) -> None:
    """Capture ten events through a default client created before the fork."""
    for i in range(10):
        posthog.capture(f"{label}-{i}", f"{label} event")

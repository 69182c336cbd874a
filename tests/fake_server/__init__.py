"""PostHog-compatible fake server for tests, ``make demo`` and ``make bench`` (127.0.0.1 only)."""

from __future__ import annotations

from .scenarios import Fault, FaultKind, FaultPlan
from .server import FakePostHog, Headers, RecordedRequest, SilentServer

__all__ = ["FakePostHog", "Fault", "FaultKind", "FaultPlan", "Headers", "RecordedRequest", "SilentServer"]

"""The tests' name for the fake PostHog, which ships as ``posthog.testing.fake_server``."""

from __future__ import annotations

from posthog.testing.fake_server import (
    FakePostHog,
    Fault,
    FaultKind,
    FaultPlan,
    Headers,
    RecordedRequest,
    SilentServer,
    V1Answer,
)

__all__ = [
    "FakePostHog",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Headers",
    "RecordedRequest",
    "SilentServer",
    "V1Answer",
]

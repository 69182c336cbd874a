"""A PostHog-compatible server on 127.0.0.1 for your integration tests (stdlib only).

``with FakePostHog() as server:`` then point a client at ``server.url``; read what it received
(``server.events()``, ``server.batches()``, ``server.requests``), serve flags
(``set_flag_definitions``, ``set_remote_flags``), and script faults (``fail_next``, ``fail_for``,
``drop_next``, ``delay_next``, ``hang``). Capture v1 (``/i/v1/analytics/events``) answers per-event
results scripted with ``script_v1(V1Answer(...))`` or ``set_v1_results``; read ``v1_events()``,
``v1_results_log()``, ``v1_violations``; AI endpoint batches land in ``ai_events()``.
``SilentServer`` accepts connections and never answers.
``python -m posthog.testing.fake_server`` runs one on its own.
"""

from __future__ import annotations

from ._capture_v1 import V1Answer
from ._records import Headers, RecordedRequest
from .scenarios import Fault, FaultKind, FaultPlan, SilentServer
from .server import FakePostHog

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

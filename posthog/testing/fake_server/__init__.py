"""A PostHog-compatible server on 127.0.0.1 for your integration tests (stdlib only).

``with FakePostHog() as server:`` then point a client at ``server.url``; read what it received
(``server.events()``, ``server.batches()``, ``server.requests``), serve flags
(``set_flag_definitions``, ``set_remote_flags``), and script faults (``fail_next``, ``fail_for``,
``drop_next``, ``delay_next``, ``hang``). ``SilentServer`` accepts connections and never answers.
``python -m posthog.testing.fake_server`` runs one on its own.
"""

from __future__ import annotations

from ._records import Headers, RecordedRequest
from .scenarios import Fault, FaultKind, FaultPlan, SilentServer
from .server import FakePostHog

__all__ = ["FakePostHog", "Fault", "FaultKind", "FaultPlan", "Headers", "RecordedRequest", "SilentServer"]

"""Fixtures for the integration tests: Django set up once, a recording stand-in for a client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@pytest.fixture(scope="session")
def django_setup() -> Iterator[None]:
    """Configure Django with tests/integrations/django_project (no database)."""
    django = pytest.importorskip("django")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.django_project.settings")
    django.setup()
    yield


@dataclass
class CapturedException:
    exception: Any
    distinct_id: Any
    properties: Any


@dataclass
class RecordingClient:
    """Stands in for ``posthog.Client`` where only ``capture_exception`` matters."""

    calls: list[CapturedException] = field(default_factory=list)
    fail: bool = False

    def capture_exception(
        self, exception: Any = None, distinct_id: Any = None, properties: Any = None, **kwargs: Any
    ) -> None:
        if self.fail:
            raise RuntimeError("capture failed")
        self.calls.append(CapturedException(exception, distinct_id, properties))


@pytest.fixture
def recording_client() -> RecordingClient:
    return RecordingClient()

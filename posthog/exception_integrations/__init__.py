"""Framework integrations for exception autocapture (enabled through ``Integrations``)."""

from __future__ import annotations

__all__ = ["IntegrationEnablingError"]


class IntegrationEnablingError(Exception):
    """An integration cannot be enabled (its framework is missing or too old)."""

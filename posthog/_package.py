"""The top-level package as installed (``posthog``, or ``posthoganalytics`` for the twin build)."""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["facade"]


def facade() -> ModuleType:
    """The package's module facade (its ``__init__``), whatever name the package was built under."""
    return sys.modules[__name__.rpartition(".")[0]]

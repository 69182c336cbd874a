"""Optional framework helpers; each submodule imports its framework only when imported itself."""

from __future__ import annotations

__all__: list[str] = []

"""The library version (read by setup.py without importing the package)."""

from __future__ import annotations

from typing import Final

VERSION: Final = "3.26.0"

if __name__ == "__main__":  # pragma: no cover - 3.x prints the version without a newline
    import sys

    sys.stdout.write(VERSION)

"""Run a Python script in a fresh interpreter from the repository root (bounded in time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["run_script"]

REPO = Path(__file__).resolve().parents[2]


def run_script(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with this interpreter; fail the test with its stderr unless it exits 0."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc

"""No import cycle in posthog/ (tools/import_cycles.py, also run by ``make lint``)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from import_cycles import cycles, import_graph  # noqa: E402


def test_no_import_cycle() -> None:
    assert cycles(import_graph(REPO / "posthog")) == []


def test_the_checker_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"
    )
    (package / "c.py").write_text("from .a import y\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.b"]]

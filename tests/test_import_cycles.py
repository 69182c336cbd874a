"""No new import cycle in posthog/ (tools/import_cycles.py); the one left is issue 25's to break."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from import_cycles import cycles, import_graph  # noqa: E402

#: The delivery pipeline's modules import each other; issue 25 moves them into a layered package.
KNOWN = [["posthog._delivery", "posthog._dispatcher", "posthog._exit", "posthog._sender", "posthog.consumer"]]


def test_no_import_cycle_but_the_known_one() -> None:
    assert cycles(import_graph(REPO / "posthog")) == KNOWN


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

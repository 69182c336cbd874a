"""No import cycle in posthog/ (tools/import_cycles.py, also run by ``make lint``)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from import_cycles import PIPELINE_LAYERS, cycles, import_graph, layer_violations  # noqa: E402


def test_no_import_cycle() -> None:
    assert cycles(import_graph(REPO / "posthog")) == []


def test_imports_run_down_the_layers() -> None:
    graph = import_graph(REPO / "posthog")
    assert layer_violations(graph) == []
    pipeline = {m.rpartition(".")[2] for m in graph if m.startswith("posthog._pipeline.")}
    assert pipeline == {leaf for layer in PIPELINE_LAYERS for leaf in layer}  # every module placed


def test_the_checker_finds_an_import_against_the_layers() -> None:
    graph = {
        "posthog._http.protocol": {"posthog._pipeline.queue"},
        "posthog._pipeline.policy": {"posthog._pipeline.engine", "posthog.client"},
    }
    assert layer_violations(graph) == [
        "posthog._http.protocol imports posthog._pipeline.queue",
        "posthog._pipeline.policy imports posthog._pipeline.engine, a layer above it",
        "posthog._pipeline.policy imports posthog.client",
    ]


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

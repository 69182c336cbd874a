"""List the import cycles among the modules of a package, and imports against its layers (exit 1
if there is one).

    python tools/import_cycles.py [posthog]

Every ``import`` / ``from ... import`` in a module counts, wherever it is (also inside functions
and ``if TYPE_CHECKING:`` blocks): a cycle a reader has to untangle is one, whether or not Python
happens to resolve it at run time. A ``from package import name`` edge goes to the submodule
``package.name`` when that is a module, else to ``package`` itself.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> modules of the package it imports``."""
    files = {_module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.append(submodule if submodule in files else base)
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]  # `import a.b.c` also imports a.b
                if target and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


#: What the bottom layers must never import (the layers above them).
_CLIENT_SIDE = (
    "posthog.client",
    "posthog._client_",
    "posthog.async_client",
    "posthog._default_client",
    "posthog.feature_flags",
    "posthog.integrations",
    "posthog.ai",
)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "posthog._http": ("posthog._pipeline", *_CLIENT_SIDE),
    "posthog._pipeline": _CLIENT_SIDE,
}
#: The pipeline's layers, bottom first: a module imports only from its own layer or below.
PIPELINE_LAYERS: tuple[tuple[str, ...], ...] = (
    ("queue", "outbox", "drops"),
    ("encode", "interface"),
    ("policy",),
    ("send",),
    ("engine", "consumers"),
    ("dispatcher", "exit_hook"),
    ("async_sender",),
    ("async_dispatcher",),
)


def _pipeline_rank(module: str) -> int:
    leaf = module.rpartition(".")[2]
    for rank, layer in enumerate(PIPELINE_LAYERS):
        if module.startswith("posthog._pipeline.") and leaf in layer:
            return rank
    return -1


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up: into the clients from a bottom package, or up the pipeline's layers."""
    found: list[str] = []
    for module in sorted(graph):
        for target in sorted(graph[module]):
            for package, banned in FORBIDDEN.items():
                inside = module == package or module.startswith(package + ".")
                if inside and target.startswith(banned):
                    found.append(f"{module} imports {target}")
            rank, target_rank = _pipeline_rank(module), _pipeline_rank(target)
            if rank >= 0 and target_rank > rank:
                found.append(f"{module} imports {target}, a layer above it")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "posthog").resolve()
    graph = import_graph(root)
    found = cycles(graph)
    for component in found:
        print("import cycle: " + " <-> ".join(component))
    if not found:
        print(f"no import cycle in {root.name}/")
    upward = layer_violations(graph)
    for line in upward:
        print("import against the layers: " + line)
    return 1 if found or upward else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

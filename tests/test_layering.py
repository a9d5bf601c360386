"""The package's layering: no import cycle between modules, no two top-level folders importing each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import unshuffle

ROOT = Path(unshuffle.__file__).parent


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = ["unshuffle", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its source (function-level imports too).

    ``from a.b import c`` counts as importing ``a.b`` (its ``__init__`` runs first) and also ``a.b.c``
    when that is a module.
    """
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.split(".")[0] == "unshuffle")
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                if base.split(".")[0] != "unshuffle":
                    continue
                deps.add(base)
                deps.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "unshuffle"


def folder_pairs(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Pairs (a, b) of top-level folders where a imports b and b imports a."""
    edges = {(_top(a), _top(b)) for a, deps in graph.items() for b in deps if _top(a) != _top(b)}
    return {tuple(sorted(e)) for e in edges if (e[1], e[0]) in edges}


def test_graph_sees_real_imports():
    graph = import_graph()
    assert "unshuffle.fragments.solver.compatibility" in graph["unshuffle.fragments.solver.fragment_solver"]
    assert "unshuffle.data.decode" in graph["unshuffle.data.files"]
    # a function-level import counts
    assert "unshuffle.features.distributed_extract" in graph["unshuffle.features.cache"]


def test_no_import_cycle_between_modules():
    assert find_cycles(import_graph()) == []


def test_no_two_top_level_folders_import_each_other():
    assert folder_pairs(import_graph()) == set()


@pytest.mark.parametrize("graph, cycles, pairs", [
    ({"unshuffle.a.x": {"unshuffle.b.y"}, "unshuffle.b.y": {"unshuffle.a.x"}},
     [["unshuffle.a.x", "unshuffle.b.y"]], {("a", "b")}),
    ({"unshuffle.a.x": {"unshuffle.b.y"}, "unshuffle.b.y": {"unshuffle.a.z"}, "unshuffle.a.z": set()},
     [], {("a", "b")}),
    ({"unshuffle.a.x": {"unshuffle.a.z"}, "unshuffle.a.z": {"unshuffle.b.y"}, "unshuffle.b.y": set()}, [], set()),
])
def test_checks_catch_hand_made_violations(graph, cycles, pairs):
    assert find_cycles(graph) == cycles
    assert folder_pairs(graph) == pairs

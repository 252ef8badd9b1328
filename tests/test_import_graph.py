"""The modules of pd_mcp import each other in one direction only: no import circle.

Every import counts, at module level or inside a function, because a lazy
import is still a dependency a reader has to follow. The graph is read from
the source with `ast`, so the test needs nothing installed and sees new
modules as soon as they exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pd_mcp"


def _module_name(path: Path) -> str:
    parts = ("pd_mcp", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The pd_mcp modules that `path` imports, resolved to module names that exist."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            # `from pd_mcp import x` names a submodule when x is one, else the package.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("pd_mcp"):
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) - {_module_name(p)} for p in paths}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A submodule importing its own package's __init__ is how Python loads it, not a circle.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if state.get(start) is None and (found := visit(start)):
            return found
    return None


def test_the_graph_is_read_from_every_module() -> None:
    graph = _graph()
    assert "pd_mcp.cli" in graph and "pd_mcp.server" in graph
    assert "pd_mcp.exit_codes" in graph["pd_mcp.cli"]


def test_no_module_of_pd_mcp_is_part_of_an_import_circle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    ("graph", "circular"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
        ({"a": {"b"}, "b": {"a"}}, True),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
        ({"p.x": {"p"}, "p": {"p.x"}}, False),
    ],
)
def test_the_circle_finder_itself(graph: dict[str, set[str]], circular: bool) -> None:
    assert (_cycle(graph) is not None) is circular

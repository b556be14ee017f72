"""The package's import structure, read from the source with ast (nothing is imported): no import cycle among
pipeline modules at import time, and no private (_underscore) name imported from another module."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time_nodes(body: list) -> list:
    """The import statements that run when the module is imported: module level, inside module-level if/try
    blocks, but not inside functions or classes' methods, nor under `if TYPE_CHECKING:`."""
    out = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            out += _import_time_nodes(node.body) + _import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            out += _import_time_nodes(node.body) + _import_time_nodes(node.orelse) + _import_time_nodes(
                node.finalbody) + [n for h in node.handlers for n in _import_time_nodes(h.body)]
        elif isinstance(node, ast.ClassDef):
            out += _import_time_nodes(node.body)
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node, modules: dict, is_package: bool) -> list[str]:
    """The pipeline modules an import statement loads (a package's __init__ included)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        source = _resolve(module, node, is_package)
        names = [source] + [f"{source}.{a.name}" for a in node.names]  # `from pkg import submodule`
    out = []
    for name in names:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):  # importing a.b.c runs a, then a.b, then a.b.c
            prefix = ".".join(parts[:k])
            # A module's own packages are already being imported when it runs: no edge back to them.
            if prefix in modules and prefix != module and not module.startswith(prefix + "."):
                out.append(prefix)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    packages = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        graph[name] = {t for node in _import_time_nodes(tree.body)
                       for t in _targets(name, node, modules, name in packages)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph as a list of modules (first = last), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return []


def private_imports() -> list[str]:
    """`from pipeline.x import _name` anywhere in the package (functions included), x being another module."""
    found = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline") or \
                    isinstance(node, ast.ImportFrom) and node.level:
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{name}: from {'.' * node.level}{node.module or ''} import {alias.name}")
    return found


def test_no_import_cycle_at_import_time():
    assert find_cycle(import_graph()) == []


def test_no_private_name_imported_across_modules():
    assert private_imports() == []


def test_the_checks_see_what_they_look_for():
    """The cycle finder finds a planted cycle, and the graph holds the imports it should (else the two tests
    above would pass on an empty graph)."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    assert "pipeline.config" in graph["pipeline.pipeline"] and "pipeline.ingest" in graph["pipeline.pipeline"]
    assert "pipeline.ingest.core" in graph["pipeline.ingest"]  # `from pipeline.ingest.core import …` in __init__

"""The package's shape: no import cycles, and data flows one way, specs → cells → records →
claims → report. Every import counts, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import suite

ROOT = Path(suite.__file__).parent
# What each stage must never import, directly or through another module: a stage may use the
# stages before it (cells write records, claims read them, the report shows claims), never one
# after it.
LATER = {
    "suite.reader": ("suite.specs", "suite.cells", "suite.records", "suite.claims", "suite.report"),
    "suite.specs": ("suite.cells", "suite.records", "suite.claims", "suite.report"),
    "suite.cells": ("suite.claims", "suite.report"),
    "suite.records": ("suite.cells", "suite.claims", "suite.report", "suite.runner"),
    "suite.claims": ("suite.cells", "suite.report", "suite.runner"),
}


def module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in root.rglob("*.py"):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    names = module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    kept = package[: len(package) - node.level + 1]
                    base = ".".join(kept + ([node.module] if node.module else []))
                # `from a import b` imports the module a.b where there is one, else from a
                targets = {f"{base}.{alias.name}" for alias in node.names} & names.keys() or {base}
            else:
                continue
            graph[name] |= (targets & names.keys()) - {name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def in_stage(module: str, stage: str) -> bool:
    return module == stage or module.startswith(stage + ".")


def test_the_graph_sees_known_imports_and_a_planted_cycle(tmp_path):
    graph = import_graph()
    assert "suite.records" in graph["suite.cells"]
    assert "suite.stats" in reachable(graph, "suite.claims")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")  # lazy imports count too
    planted = import_graph(pkg)
    assert planted["pkg.a"] == {"pkg.b"} and planted["pkg.b"] == {"pkg.a"}
    assert "pkg.a" in reachable(planted, "pkg.a")


def test_no_module_of_the_suite_imports_itself_back():
    graph = import_graph()
    looped = sorted(name for name in graph if name in reachable(graph, name))
    assert looped == []


def test_each_stage_imports_only_the_stages_before_it():
    graph = import_graph()
    crossings = []
    for stage, later in LATER.items():
        modules = [m for m in graph if in_stage(m, stage)]
        for module in modules:
            for target in reachable(graph, module):
                if any(in_stage(target, s) for s in later):
                    crossings.append(f"{module} -> {target}")
    assert crossings == []

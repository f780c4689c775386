"""The house's layout: one package per task family, perf with what it measures, no import circles,
and the core (``benchmark/``) never importing a built-in (``encoders/``, ``tasks/``).

The import graph is read from the source (``ast``), counting every import, those inside functions
too: a circle closed by a lazy import is still a circle for a reader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("benchmark", "encoders", "tasks")
FAMILIES = ("recognition", "reliance", "sli", "attribution", "validation")


def _modules() -> dict[str, Path]:
    out = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """``{module: project modules it imports}`` (``from P import name`` counts as an import of
    ``P.name`` where that is a module, else of ``P``)."""
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(kept + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_circle():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_imports_no_built_in_and_encoders_no_task():
    edges = import_graph()
    back = sorted((a, b) for a, targets in edges.items() for b in targets
                  if (a.startswith("benchmark") and b.split(".")[0] in ("encoders", "tasks"))
                  or (a.startswith("encoders") and b.startswith("tasks")))
    assert back == []


def test_tasks_are_one_package_per_family_and_perf_lives_with_its_code():
    for family in FAMILIES:
        init = ROOT / "tasks" / family / "__init__.py"
        assert init.is_file(), f"tasks/{family}/ is not a package"
        assert ast.get_docstring(ast.parse(init.read_text())), f"tasks/{family}/__init__.py says nothing"
    prefixed = [p.relative_to(ROOT).as_posix() for p in (ROOT / "tasks").rglob("*.py")
                if p.name.startswith(("sli_", "attribution_", "reliance_", "recognition_", "perf_"))]
    assert prefixed == []
    assert [p.relative_to(ROOT).as_posix() for p in (ROOT / "encoders").rglob("*perf*")] == []


@pytest.mark.parametrize("family", ["recognition", "reliance", "sli", "attribution"])
def test_each_family_registers_its_tasks_and_its_perf_targets(family):
    import importlib

    from benchmark.plugins import get_manager

    module = importlib.import_module(f"tasks.{family}")
    manager = get_manager()
    assert module.TASKS and all(manager.tasks[cls.name] is cls for cls in module.TASKS)
    targets = manager.perf_targets()
    for name, target_module, _ in module.PERF_TARGETS:
        assert targets[name][0] == target_module and target_module.startswith(f"tasks.{family}.")
        assert callable(importlib.import_module(target_module).main)

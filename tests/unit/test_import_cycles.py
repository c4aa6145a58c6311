"""The package has no import cycles, and the renderer depends on the spec, never the reverse.

Read from the source with ast, not by importing: every `import` and `from ... import` counts, at
module level and inside functions (a local import hides a cycle from the interpreter until the
function runs, it does not remove it). Importing `a.b.c` also runs `a/__init__` and `a/b/__init__`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import loadtest_monitor

PACKAGE = Path(loadtest_monitor.__file__).resolve().parent
NAME = "loadtest_monitor"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imported(module: str, path: Path, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of the package that `module` imports, anywhere in its source."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            targets |= {
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
            }
    edges = set()
    for target in targets:
        parts = target.split(".")
        # The target and every package above it run when it is imported.
        edges |= {".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in modules}
    return edges - {module} - {p for p in _parents(module)}


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, is_package, set(modules)) for name, (path, is_package) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_walk_finds_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_walk_sees_function_level_imports() -> None:
    graph = import_graph()
    # controller/reconcile imports the spec; spec/monitor_input imports crd_check inside a function.
    assert f"{NAME}.spec.crd_check" in graph[f"{NAME}.spec.monitor_input"]
    assert len(graph) > 50


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_spec_does_not_import_the_renderer_common_blocks() -> None:
    """The renderer depends on the spec; the spec's own checks read the floor (load_balancer.py)."""
    graph = import_graph()
    assert f"{NAME}.render.common" not in graph[f"{NAME}.spec.monitor"]
    assert f"{NAME}.spec.monitor" in graph[f"{NAME}.render.common"]

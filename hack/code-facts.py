#!/usr/bin/env python3
"""Prints the size facts of the package that issue 15 tracks, so a change can be measured before and after.

- modules over 400 lines and functions over 60 lines (the limits DESIGN.md calls "small");
- import cycles between the package's modules (every import counts, a local one too: a cycle hidden
  inside a function is still a cycle);
- the repeated-code count reported by `duplicates` (a developer command; skipped with a note when absent).

Usage: hack/code-facts.py [--package DIR] [--no-duplicates]
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "operator" / "loadtest_monitor"
MODULE_LIMIT = 400
FUNCTION_LIMIT = 60


def module_name(path: Path, package: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def long_functions(tree: ast.Module) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length) of every function longer than the limit."""
    out: list[tuple[str, int, int]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    length = (child.end_lineno or child.lineno) - child.lineno + 1
                    if length > FUNCTION_LIMIT:
                        out.append((name, child.lineno, length))
                walk(child, f"{name}.")

    walk(tree, "")
    return out


def imports_of(tree: ast.Module, this: str, modules: set[str]) -> set[str]:
    """The package's modules this one imports, anywhere in its body."""
    found: set[str] = set()
    package_of_this = this.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package_of_this.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module; `from mod import name` imports mod.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for name in names:
            # The longest known module that the name is or lies inside.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != this:
                found.add(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative enough for this size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def duplicates_count(root: Path) -> str:
    """The first line of `duplicates` over the tree: the number of repeated pairs and files read."""
    command = shutil.which("duplicates")
    if command is None:
        return "duplicates: command not on PATH (not counted)"
    done = subprocess.run(
        [command, "--repo", str(root), "--seconds", "120"], capture_output=True, text=True, check=False
    )
    lines = done.stdout.splitlines()
    extra = [line for line in lines if line.startswith(("incomplete:", "left out:"))]
    return "\n".join([lines[0] if lines else "duplicates: no output", *extra])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=PACKAGE)
    parser.add_argument("--no-duplicates", action="store_true", help="skip the repeated-code count")
    args = parser.parse_args()
    package: Path = args.package.resolve()

    files = sorted(package.rglob("*.py"))
    trees = {module_name(f, package): (f, ast.parse(f.read_text(), str(f))) for f in files}
    modules = set(trees)

    big = [(len(f.read_text().splitlines()), f) for f, _ in trees.values()]
    big = sorted((item for item in big if item[0] > MODULE_LIMIT), reverse=True)
    print(f"modules over {MODULE_LIMIT} lines: {len(big)} (of {len(files)})")
    for lines, f in big:
        print(f"  {lines:5d}  {f.relative_to(package.parent)}")

    long = [(length, f, name, line) for f, tree in trees.values() for name, line, length in long_functions(tree)]
    print(f"functions over {FUNCTION_LIMIT} lines: {len(long)}")
    for length, f, name, line in sorted(long, reverse=True):
        print(f"  {length:5d}  {f.relative_to(package.parent)}:{line} {name}")

    graph = {name: imports_of(tree, name, modules) for name, (_, tree) in trees.items()}
    found = cycles(graph)
    print(f"import cycles: {len(found)}")
    for component in found:
        print(f"  {' <-> '.join(component)}")

    if not args.no_duplicates:
        print(f"repeated code (duplicates over {ROOT.name}): {duplicates_count(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The package's layout is its data flow: no import cycles, each folder imports only upstream.

These tests read the source with `ast` (imports inside functions count; those under
`if TYPE_CHECKING:` do not) and run a plain pytest to see what it imports of ours.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest

import pytest_invariants

PACKAGE = Path(pytest_invariants.__file__).parent
CORE = "core"

# Which stages each stage may import (its own stage is always allowed).
ALLOWED: dict[str, set[str]] = {
    CORE: set(),
    "load": {CORE},
    "observe": {CORE, "load"},
    "review": {CORE, "load"},
    "prove": {CORE, "load"},
    "reports": {CORE, "review", "prove"},
    "detectors": {CORE, "observe"},
    "pytest_plugin": {CORE, "load", "observe", "review", "prove", "reports"},
    "cli": {CORE, "load", "review", "prove", "reports"},
    "__main__": {"cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return CORE
    if (PACKAGE / parts[1]).is_dir() or parts[1] in ("detectors", "__main__"):
        return parts[1]
    return CORE


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for child in ast.walk(node))
    return hidden


def _imports(path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known}


def _graph() -> nx.DiGraph:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for module, path in files.items():
        graph.add_edges_from((module, target) for target in _imports(path, set(files)))
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = _graph()
    graph.remove_edges_from(nx.selfloop_edges(graph))
    assert list(nx.simple_cycles(graph)) == []


def test_relative_imports_are_not_used() -> None:
    relative = [
        f"{p.relative_to(PACKAGE)}:{node.lineno}"
        for p in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level
    ]
    assert relative == []


def test_each_stage_imports_only_upstream_stages() -> None:
    wrong = []
    for source, target in _graph().edges:
        stage, other = _stage(source), _stage(target)
        if other != stage and other not in ALLOWED[stage]:
            wrong.append(f"{source} -> {target} ({stage} may import {sorted(ALLOWED[stage])})")
    assert wrong == []


def test_a_plain_run_imports_only_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    probe = textwrap.dedent(
        """
        import sys, pytest
        code = pytest.main(["-q", "-p", "no:cacheprovider", "test_plain.py"])
        ours = sorted(m for m in sys.modules if m.split(".")[0] == "pytest_invariants")
        print("OURS", ",".join(ours))
        sys.exit(int(code))
        """
    )
    # A plain run has no PYTEST_INVARIANTS_CHILD; the one this suite may run under
    # (`--invariants` observes child processes) would make it a child of ours.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_INVARIANTS_CHILD"}
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=pytester.path, capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stdout + run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("OURS"))
    assert line.split()[1].split(",") == [
        "pytest_invariants",
        "pytest_invariants.hookspecs",
        "pytest_invariants.pytest_plugin",
        "pytest_invariants.pytest_plugin.hooks",
        "pytest_invariants.pytest_plugin.marker",
    ]

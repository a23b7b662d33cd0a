"""Module-level names as code: what binds a name, so a change to it can be seen.

A scope reads module-level names (a constant, a helper, an imported client);
the loader lists them as dotted names (`ScopeEntry.reads`). A pull request
that changes `MAX_RETRIES = 3` to `30` changes what `charge_order` does
without touching its body, so `invariants diff` compares, for each name a
scope reads, every module-level statement that binds it, as normalised trees
(comments and layout do not count, as for the scope's own code).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from pytest_invariants.review.fingerprint import canonical

__all__ = ["Binding", "ModuleFile", "binding", "split_read"]

# Maps a dotted module name to its file relative to the rootdir (None: not ours or not found).
ModuleFile = Callable[[str], str | None]

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Binding:
    """The statements that bind one module-level name: their normalised text and lines."""

    code: str
    lines: tuple[int, int]


def _blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.While)):
        for name in ("body", "orelse", "finalbody"):
            yield getattr(stmt, name, [])
        for handler in getattr(stmt, "handlers", []):
            yield handler.body


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for stmt in body:
        yield stmt
        for block in _blocks(stmt):
            yield from _module_level(block)


def _target_names(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _target_names(elt)
    elif isinstance(node, ast.Starred):
        yield from _target_names(node.value)


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, _DEFINITIONS):
        return stmt.name == name
    if isinstance(stmt, ast.Assign):
        return any(name in _target_names(t) for t in stmt.targets)
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        return name in _target_names(stmt.target)
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return any((a.asname or a.name.split(".")[0]) == name for a in stmt.names)
    return False


@lru_cache(maxsize=64)
def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def binding(source: str | None, name: str) -> Binding | None:
    """Return how `source` binds module-level `name`, or None when it does not (or cannot parse)."""
    tree = _parse(source) if source is not None else None
    if tree is None:
        return None
    found = [s for s in _module_level(tree.body) if _binds(s, name)]
    if not found:
        return None
    code = json.dumps([canonical(s) for s in found])
    first = min(s.lineno for s in found)
    last = max(s.end_lineno or s.lineno for s in found)
    return Binding(code, (first, last))


def split_read(dotted: str, own_file: str, module_file: ModuleFile) -> tuple[str, str, str] | None:
    """Return (file, name, shown) of the module-level name a scope's read `dotted` starts with.

    `own_file` is the entry's file: a file outside the import path names its
    reads after its path (`scripts/job.py.LIMIT`). Otherwise the longest prefix
    that is a module of the project wins: `shop.billing.gateway.charge` is the
    name `gateway` of `shop.billing`. `shown` names it for a reader: `shop.billing.gateway`.
    """
    if dotted.startswith(own_file + "."):
        name = dotted[len(own_file) + 1 :].split(".")[0]
        return own_file, name, f"{own_file}:{name}"
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        file = module_file(".".join(parts[:cut]))
        if file is not None:
            return file, parts[cut], ".".join(parts[: cut + 1])
    return None

"""The `reviewed:` fingerprint (docs/diff.md): what an invariant means and the code it guards.

The fingerprint is `sha256:` over two parts:

- the meaning: title, why, the scope entries, `must_be_real` and
  `allow_doubles` (lists sorted, runs of white space collapsed, so reflowing a
  YAML string changes nothing);
- the scope code: each entry's definition as a normalised syntax tree, read
  statically (never imported). Comments, docstrings, formatting and line
  numbers do not count; for a whole module or file, moving a top-level
  definition up or down does not count either.

The tree is serialised by our own walker rather than `ast.dump`, whose output
changes between Python versions (3.13 hides empty fields): a team on mixed
Pythons must not see every invariant turn suspect.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from pytest_invariants.load.yamlsafe import decode_text
from pytest_invariants.model import Invariant, InvariantSet, ScopeEntry, ScopeKind
from pytest_invariants.text import words

__all__ = [
    "PREFIX",
    "SourceReader",
    "canonical",
    "disk_reader",
    "find_definition",
    "fingerprint",
    "scope_code",
    "suspect_ids",
]

PREFIX = "sha256:"
# Version history of what the hash covers (changing it makes every invariant suspect):
# 1: meaning (title, why, code, must_be_real, allow_doubles) + normalised scope trees.
_FORMAT = 1

# Reads a file given its path relative to the rootdir; None when it does not exist.
SourceReader = Callable[[str], str | None]

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Fields that are bookkeeping, not meaning (and differ between Python versions).
_SKIPPED_FIELDS = frozenset({"type_comment", "kind"})


# -- normalised trees ---------------------------------------------------------


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


def _value(value: object, in_body: bool = False) -> object:
    if isinstance(value, ast.AST):
        return _node(value)
    if isinstance(value, list):
        items = _without_docstring(value) if in_body else value
        return [_value(item) for item in items]
    if isinstance(value, (bytes, complex)):
        return repr(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return "nan"
    return value


def _node(node: ast.AST) -> object:
    """Return a JSON-ready form of `node` without positions, docstrings or empty fields."""
    fields: dict[str, object] = {"_": type(node).__name__}
    has_body = isinstance(node, (*_DEFINITIONS, ast.Module))
    for name, value in ast.iter_fields(node):
        if name in _SKIPPED_FIELDS or value is None or value == []:
            continue
        fields[name] = _value(value, in_body=has_body and name == "body")
    return fields


def canonical(node: ast.AST) -> str:
    """Return a stable text for `node`: equal for code that differs only in layout or comments."""
    if isinstance(node, ast.Module):
        return _module_text(node)
    return json.dumps(_node(node), sort_keys=True, default=str)


def _module_text(module: ast.Module) -> str:
    # Top-level definitions keyed by name, so moving one within the file is not
    # a change; other statements keep their order, which is meaningful.
    body = _without_docstring(module.body)
    statements = [_node(s) for s in body if not isinstance(s, _DEFINITIONS)]
    definitions = sorted(
        (s.name, json.dumps(_node(s), sort_keys=True, default=str))
        for s in body
        if isinstance(s, _DEFINITIONS)
    )
    return json.dumps(
        {"statements": statements, "definitions": definitions}, sort_keys=True, default=str
    )


# -- finding definitions --------------------------------------------------------


def _is_overload(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    return any(
        (isinstance(d, ast.Name) and d.id == "overload")
        or (isinstance(d, ast.Attribute) and d.attr == "overload")
        for d in decorators
    )


def _bound(body: Iterable[ast.stmt], name: str) -> ast.AST | None:
    """Return the definition of `name` bound last in `body` (the one alive at run time)."""
    found: ast.AST | None = None
    for stmt in body:
        if isinstance(stmt, _DEFINITIONS) and stmt.name == name and not _is_overload(stmt):
            found = stmt
        elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.AsyncWith)):
            # Definitions under `if TYPE_CHECKING:` / `try:` still bind the name.
            blocks = [getattr(stmt, f, []) for f in ("body", "orelse", "finalbody")]
            blocks += [h.body for h in getattr(stmt, "handlers", [])]
            for block in blocks:
                found = _bound(block, name) or found
    return found


def find_definition(tree: ast.Module, qualname: str) -> ast.AST | None:
    """Return the definition `qualname` (`Cls.method`, `outer.<locals>.inner`) names, or None."""
    node: ast.AST = tree
    for part in qualname.split("."):
        if part == "<locals>":
            continue
        found = _bound(getattr(node, "body", []), part)
        if found is None:
            return None
        node = found
    return node


def _qualname(entry: ScopeEntry) -> str | None:
    if entry.kind is not ScopeKind.QUALNAME:
        return None
    return entry.raw.partition(":")[2].strip() or None


def scope_code(source: str | None, qualname: str | None) -> str | None:
    """Return the canonical text of `qualname` in `source` (the whole module when None).

    None means there is nothing to compare: no file, a syntax error, or no such
    definition.
    """
    if source is None:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    node = tree if qualname is None else find_definition(tree, qualname)
    return None if node is None else canonical(node)


def entry_code(entry: ScopeEntry, read: SourceReader) -> str | None:
    """Return the canonical text of one scope entry's code, read through `read`."""
    return scope_code(read(entry.file), _qualname(entry))


# -- the fingerprint ------------------------------------------------------------


def _meaning(inv: Invariant) -> dict[str, object]:
    return {
        "format": _FORMAT,
        "title": words(inv.title),
        "why": words(inv.why),
        "code": sorted(entry.raw.strip() for entry in inv.code),
        "must_be_real": sorted(inv.must_be_real),
        "allow_doubles": sorted(inv.allow_doubles),
    }


def fingerprint(inv: Invariant, read: SourceReader) -> str:
    """Return `sha256:<hex>` over the invariant's meaning and its scope code."""
    code = {entry.raw.strip(): entry_code(entry, read) for entry in inv.code}
    payload = json.dumps({"meaning": _meaning(inv), "scope": code}, sort_keys=True)
    return PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()


def disk_reader(rootdir: Path) -> SourceReader:
    """Return a reader of files under `rootdir`, caching each file once."""
    cache: dict[str, str | None] = {}

    def read(relative: str) -> str | None:
        if relative not in cache:
            try:
                cache[relative] = decode_text((rootdir / relative).read_bytes())
            except OSError:
                cache[relative] = None
        return cache[relative]

    return read


def suspect_ids(invariant_set: InvariantSet, read: SourceReader) -> set[str]:
    """Return the ids whose stored `reviewed:` differs from their fingerprint now.

    An invariant never reviewed is not suspect: there is nothing to compare.
    `read` gives the sources as they are now: `disk_reader(rootdir)` for the
    work tree, a git reader for a revision.
    """
    return {
        inv.id
        for inv in invariant_set.invariants
        if inv.reviewed and inv.reviewed != fingerprint(inv, read)
    }

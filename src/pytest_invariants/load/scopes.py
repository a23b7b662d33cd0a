"""Resolve `code:` entries to source lines without importing anything.

An entry is `module:Qual.name`, `dotted.module` or `path/to/file.py`. The
module's file is found the way the import system would find it, one package
level at a time with `PathFinder` and explicit paths, so no `__init__.py` ever
runs (importing a package to look inside it would run the user's code, and
`importlib.util.find_spec` imports parent packages). The file is then read
with `ast`: a qualname names the definition bound at run time, the last one
in its namespace, so `@overload` stubs and earlier redefinitions are skipped.

For each entry this module also works out which lines a test can execute
(statements inside function bodies: class bodies and module-level code run at
import) and which module-level names the code reads, so a double that
replaces such a name can be recognised later.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import os
import shlex
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec, PathFinder
from importlib.util import decode_source
from pathlib import Path
from typing import Final, TypeAlias

from pytest_invariants.load import scopecache
from pytest_invariants.load.pytestini import pytest_settings
from pytest_invariants.load.scopecache import CACHE_FILE, FactsCache, analysis_version
from pytest_invariants.model import Location, Problem, ScopeEntry, ScopeKind

__all__ = [
    "ScopeResolver",
    "first_line",
    "search_path",
    "find_module_source",
    "module_name_for_file",
    "resolve_scope",
]

SearchPath: TypeAlias = "Sequence[str | Path]"
_FunctionNode: TypeAlias = "ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda"
_DefNode: TypeAlias = "ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef"
_SCOPE_FORMS: Final = (
    "write `module:Qual.name`, `dotted.module` or `path/to/file.py` (relative to the rootdir)"
)


# --------------------------------------------------------------------------
# Finding source files


def find_module_source(dotted: str, search_path: SearchPath) -> Path | None:
    """Return the source file of module `dotted` on `search_path`, or None.

    A package gives its `__init__.py`; a namespace package, a compiled module
    or a module outside `search_path` gives None. Nothing is imported.
    """
    spec = _find_spec(dotted, [os.fspath(p) for p in search_path])
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    origin = Path(spec.origin)
    return origin if origin.is_file() else None


def _find_spec(dotted: str, locations: list[str]) -> ModuleSpec | None:
    """Find `dotted` one level at a time, never running a parent package."""
    parts = dotted.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    spec: ModuleSpec | None = None
    for depth in range(1, len(parts) + 1):
        if spec is not None:
            if spec.submodule_search_locations is None:
                return None  # a plain module has no submodules
            locations = _child_locations(spec, parts[depth - 2], locations)
        spec = _path_spec(".".join(parts[:depth]), locations)
        if spec is None and depth == 1:
            spec = _editable_spec(parts[0])
        if spec is None:
            return None
    return spec


def _inside(path: Path, folder: Path) -> bool:
    resolved = path.resolve()
    return resolved == folder or folder in resolved.parents


def _path_spec(fullname: str, locations: list[str]) -> ModuleSpec | None:
    try:
        return PathFinder.find_spec(fullname, locations)
    except KeyError:
        # A namespace package inside a namespace package: importlib looks its parent
        # up in sys.modules, where it is not (we never import). Build the spec here.
        tail = fullname.rpartition(".")[2]
        portions = [path for loc in locations if os.path.isdir(path := os.path.join(loc, tail))]
        if not portions:
            return None
        spec = ModuleSpec(fullname, None, is_package=True)
        spec.submodule_search_locations = portions
        return spec


def _child_locations(spec: ModuleSpec, name: str, locations: list[str]) -> list[str]:
    """Return where the submodules of package `spec` (found as `name` in `locations`) live.

    A PEP 420 namespace package's search path recomputes itself from its parent's
    entry in `sys.modules`; the parent was never imported (that is the point), so
    reading it raises KeyError. Its portions are the `name` folders of `locations`.
    """
    if spec.origin is None or spec.origin == "namespace":
        return [path for loc in locations if os.path.isdir(path := os.path.join(loc, name))]
    return list(spec.submodule_search_locations or ())


def _editable_spec(name: str) -> ModuleSpec | None:
    """Find a top-level package installed in editable mode (`pip install -e .`).

    setuptools maps such packages with a finder on `sys.meta_path`, not a
    `sys.path` entry. Its `find_spec` only looks names up in a table, so asking
    it is safe; other meta-path finders may run code, so they are not asked.
    """
    for finder in sys.meta_path:
        kind = type(finder) if not isinstance(finder, type) else finder
        if "editable" not in f"{kind.__module__}.{kind.__qualname__}".lower():
            continue
        try:
            spec = finder.find_spec(name, None)
        except Exception:  # a broken third-party finder must not break validation
            continue
        if spec is not None:
            return spec
    return None


def module_name_for_file(path: Path, search_path: SearchPath) -> str | None:
    """Return the dotted name under which `path` is imported, or None.

    The most specific search-path folder wins (`src/shop/ledger.py` is
    `shop.ledger`, not `src.shop.ledger`), and the name must lead back to the
    same file, so a shadowed file has no name.
    """
    target = path.resolve()
    folders = sorted({Path(p).resolve() for p in search_path}, key=lambda p: -len(p.parts))
    for folder in folders:
        name = _dotted_below(target, folder)
        if name and _same_file(find_module_source(name, search_path), target):
            return name
    return None


def _dotted_below(target: Path, folder: Path) -> str | None:
    try:
        relative = target.relative_to(folder)
    except ValueError:
        return None
    if relative.suffix != ".py":
        return None
    parts = [*relative.parent.parts, relative.stem]
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _same_file(found: Path | None, target: Path) -> bool:
    return found is not None and found.resolve() == target


def search_path(
    rootdir: Path, pythonpath: Iterable[str | Path] | None = None, *, confined: bool = False
) -> list[Path]:
    """Return the import roots that scopes resolve against: the one definition.

    In order: pytest's `pythonpath` (given by a running pytest, else read from
    the first pytest configuration file at `rootdir`, in pytest's own order of
    precedence), the rootdir and its `src/`, then `sys.path`. `confined` keeps
    only roots inside `rootdir`: an exported git revision must not resolve its
    scopes in the work tree or site-packages (an editable install points there).
    """
    extra = _ini_pythonpath(rootdir) if pythonpath is None else pythonpath
    entries = [rootdir / entry for entry in extra]
    entries += [rootdir, rootdir / "src"]
    entries += [Path(entry) if entry else Path.cwd() for entry in sys.path]
    if confined:
        entries = [p for p in entries if p == rootdir or rootdir in p.parents]
    return list(dict.fromkeys(entries))


def _ini_pythonpath(rootdir: Path) -> list[str]:
    """Read `pythonpath` from pytest's configuration file at `rootdir`."""
    value = pytest_settings(rootdir).get("pythonpath", [])
    if isinstance(value, str):
        return _split_paths(value)
    return [str(item) for item in value] if isinstance(value, list) else []


def _split_paths(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:  # unbalanced quotes: fall back to whitespace, as a user would
        return value.split()


# --------------------------------------------------------------------------
# One parsed source file


@dataclass(frozen=True)
class _Read:
    """A name read inside a function, with the attributes taken from it.

    `origin` is set when an import inside an enclosing function bound the name:
    the dotted name it imported (`datetime` for `import datetime as dt`), from
    which the chain is spelled instead of the module's own namespace.
    """

    line: int
    name: str
    chain: tuple[str, ...]
    origin: str | None = None


@dataclass
class _Source:
    """What was learned from one Python file, computed once (and cached by content)."""

    path: Path
    module: str | None
    # qualname -> (first line with decorators, last line) of the definition bound last
    definitions: dict[str, tuple[int, int]] = field(default_factory=dict)
    statements: frozenset[int] = frozenset()  # statement lines inside function bodies
    reads: list[_Read] = field(default_factory=list)
    bound: frozenset[str] = frozenset()  # names bound at module level
    imports: dict[str, str] = field(default_factory=dict)  # local name -> imported dotted
    _ordered: list[int] | None = None

    def ordered(self) -> list[int]:
        """Return the statements sorted, to slice an entry's span out of them."""
        if self._ordered is None:
            self._ordered = sorted(self.statements)
        return self._ordered


def _facts(source: _Source) -> dict[str, object]:
    """Return the JSON form of what `source` holds, for the cache."""
    return {
        "definitions": source.definitions,
        "statements": sorted(source.statements),
        "reads": [[read.line, read.name, read.origin or "", *read.chain] for read in source.reads],
        "bound": sorted(source.bound),
        "imports": source.imports,
    }


def _from_facts(path: Path, module: str | None, facts: object) -> _Source | None:
    """Rebuild a `_Source` from cached facts; None when they are not well formed."""
    try:
        data = dict(facts)  # type: ignore[call-overload]
        definitions = {str(k): (int(a), int(b)) for k, (a, b) in data["definitions"].items()}
        reads = [
            _Read(int(r[0]), str(r[1]), tuple(map(str, r[3:])), str(r[2]) or None)
            for r in data["reads"]
        ]
        return _Source(
            path,
            module,
            definitions=definitions,
            statements=frozenset(int(n) for n in data["statements"]),
            reads=reads,
            bound=frozenset(map(str, data["bound"])),
            imports={str(k): str(v) for k, v in data["imports"].items()},
        )
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        return None


# Any change to the code that computes the facts is a new analysis: old entries miss.
_ANALYSIS: list[str] = []


def _analysis() -> str:
    if not _ANALYSIS:
        _ANALYSIS.append(analysis_version([__file__, scopecache.__file__]))
    return _ANALYSIS[0]


def _parse_source(
    path: Path, module: str | None, display: str, cache: FactsCache | None = None
) -> _Source | Problem:
    """Read and parse `path`; a file that cannot be parsed is a problem."""
    key = None
    try:
        data = path.read_bytes()
        if cache is not None:
            key = cache.key(data, module, path.name == "__init__.py")
            cached = _from_facts(path, module, cache.get(key) or {})
            if cached is not None:
                return cached
        text = decode_source(data)
        tree = ast.parse(text, filename=str(path))
    except (
        OSError,
        SyntaxError,
        ValueError,
        LookupError,
        UnicodeDecodeError,
        RecursionError,
    ) as exc:
        return Problem(
            Location(display),
            f"cannot parse {display}: {exc}",
            "fix the Python file, or point the entry at another one",
        )
    source = _Source(path, module)
    source.definitions = {
        name: (first_line(node), node.end_lineno or node.lineno)
        for name, node in _definitions(tree).items()
    }
    source.statements = _function_statements(text, str(path), tree)
    is_package = path.name == "__init__.py"
    source.reads = _ReadCollector(module, is_package).collect(tree)
    source.bound = _module_bindings(tree)
    source.imports = _module_imports(tree, module, is_package)
    if cache is not None and key is not None:
        cache.put(key, _facts(source))
    return source


# --------------------------------------------------------------------------
# Definitions: qualname -> the def or class bound last


def _child_blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """Return the statement lists nested in a compound statement, in source order.

    Definitions inside `if`/`try`/`with`/loops/`match` bind in the enclosing
    namespace, so they count as that namespace's definitions.
    """
    if isinstance(stmt, ast.If | ast.For | ast.AsyncFor | ast.While):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return [stmt.body]
    if isinstance(stmt, ast.Match):
        return [case.body for case in stmt.cases]
    handlers = getattr(stmt, "handlers", None)  # ast.Try, and ast.TryStar on 3.11+
    if isinstance(handlers, list):
        bodies = [h.body for h in handlers if isinstance(h, ast.ExceptHandler)]
        return [
            getattr(stmt, "body", []),
            *bodies,
            getattr(stmt, "orelse", []),
            getattr(stmt, "finalbody", []),
        ]
    return []


def _bound_defs(body: Iterable[ast.stmt]) -> Iterator[_DefNode]:
    """Yield the defs and classes bound in this namespace, in source order."""
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield stmt
        for block in _child_blocks(stmt):
            yield from _bound_defs(block)


def _definitions(tree: ast.Module) -> dict[str, _DefNode]:
    """Map every reachable qualname to the definition that is bound last.

    A redefinition replaces the whole subtree, so `A.m` of an earlier
    `class A` does not survive a later `class A` without `m`. Nested
    functions are reachable as `outer.<locals>.inner` (Python's own
    qualname) and as the shorter `outer.inner`.
    """
    found: dict[str, _DefNode] = {}

    def visit(body: Iterable[ast.stmt], prefix: str) -> None:
        for node in _bound_defs(body):
            qualname = prefix + node.name
            for stale in [key for key in found if key.startswith(qualname + ".")]:
                del found[stale]
            found[qualname] = node
            inner = ".<locals>." if not isinstance(node, ast.ClassDef) else "."
            visit(node.body, qualname + inner)

    visit(tree.body, "")
    return found


def _canonical(qualname: str, definitions: Mapping[str, object]) -> str | None:
    """Return Python's qualname for `qualname`, accepting `outer.inner` for nested defs."""
    if qualname in definitions:
        return qualname
    parts = qualname.split(".")
    built = ""
    for part in parts:
        candidate = f"{built}.{part}" if built else part
        if candidate not in definitions and built:
            candidate = f"{built}.<locals>.{part}"
        if candidate not in definitions:
            return None
        built = candidate
    return built


def first_line(node: _DefNode) -> int:
    """Return the first line of a definition, decorators included."""
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


# --------------------------------------------------------------------------
# Executable lines: statements inside function bodies


def _coverage_statements(text: str, filename: str) -> set[int] | None:
    """Return coverage.py's statement lines, with its default exclusions applied."""
    # Imported here: a run whose scope facts all come from the cache never needs coverage.
    from coverage.config import DEFAULT_EXCLUDE
    from coverage.parser import PythonParser

    try:
        exclude = "|".join(f"(?:{regex})" for regex in DEFAULT_EXCLUDE)
        parser = PythonParser(text=text, filename=filename, exclude=exclude)
        parser.parse_source()
        return set(parser.statements)
    except Exception:  # noqa: BLE001 - any failure of a third-party parser means: use ast
        return None


def _ast_statements(tree: ast.Module) -> set[int]:
    """Return the first line of every statement, docstrings excepted (coverage's fallback)."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            docstrings.add(id(body[0]))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and id(node) not in docstrings:
            lines.add(first_line(node) if isinstance(node, _DEF_TYPES) else node.lineno)
    return lines


_DEF_TYPES: Final = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _function_statements(text: str, filename: str, tree: ast.Module) -> frozenset[int]:
    """Keep the statements that lie in some function or lambda body: those run in tests."""
    statements = _coverage_statements(text, filename)
    if statements is None:
        statements = _ast_statements(tree)
    ordered = sorted(statements)
    inside: set[int] = set()
    for node in ast.walk(tree):
        span = _body_span(node)
        if span is not None:  # a slice of the sorted lines, not a scan per function
            inside.update(ordered[bisect_left(ordered, span[0]) : bisect_right(ordered, span[1])])
    return frozenset(inside)


def _body_span(node: ast.AST) -> tuple[int, int] | None:
    """Return the lines of a function's or lambda's body, or None for other nodes."""
    if isinstance(node, ast.Lambda):
        return node.body.lineno, node.body.end_lineno or node.body.lineno
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        first = node.body[0]
        start = first_line(first) if isinstance(first, _DEF_TYPES) else first.lineno
        return start, node.end_lineno or start
    return None


# --------------------------------------------------------------------------
# Reads: module-level names loaded inside functions


def _arg_names(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return {arg.arg for arg in every}


class _Binder(ast.NodeVisitor):
    """Collect the names one scope binds, without entering nested scopes.

    `imports` keeps, for each name an import binds, the dotted names it imports
    (a `try: import simplejson as json / except: import json` binds two).
    `module` and `is_package` place relative imports.
    """

    def __init__(self, module: str | None = None, is_package: bool = False) -> None:
        self.bound: set[str] = set()
        self.declared_global: set[str] = set()
        self.imports: dict[str, list[str]] = {}
        self._module = module
        self._is_package = is_package

    def scan(self, body: Iterable[ast.AST]) -> _Binder:
        for node in body:
            self.visit(node)
        return self

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            self.bound.add(node.id)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.bound.add(node.name)
        self.scan([*node.decorator_list, *node.args.defaults])
        self.scan([d for d in node.args.kw_defaults if d is not None])

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound.add(node.name)
        self.scan([*node.decorator_list, *node.bases, *node.keywords])

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.scan([*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)])

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        self.visit(node.generators[0].iter)
        # An assignment expression in a comprehension binds in the enclosing scope.
        for inner in ast.walk(node):
            if isinstance(inner, ast.NamedExpr) and isinstance(inner.target, ast.Name):
                self.bound.add(inner.target.id)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for local, dotted in _import_bindings(node, self._module, self._is_package):
            self.bound.add(local)
            if dotted is not None:
                self.imports.setdefault(local, []).append(dotted)

    visit_ImportFrom = visit_Import

    def visit_Global(self, node: ast.Global) -> None:
        self.declared_global.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.bound.update(node.names)  # an enclosing function's name, never a module's

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.bound.add(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.bound.add(node.rest)
        self.generic_visit(node)


@dataclass(frozen=True)
class _Frame:
    """One scope on the way from a name to the module: what it binds, and what by import."""

    local: frozenset[str]
    declared_global: frozenset[str] = frozenset()
    is_function: bool = True
    imports: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class _ReadCollector(ast.NodeVisitor):
    """Record every name a function reads that no enclosing function binds.

    A name an enclosing function binds by an import (`import datetime as dt`,
    `from shop import gateway`) is recorded too, with the dotted name it
    imports: at run time the code loads that module's object exactly as it
    would through a module-level import.
    """

    def __init__(self, module: str | None = None, is_package: bool = False) -> None:
        self._module = module
        self._is_package = is_package
        self._frames: list[_Frame] = []
        self.reads: list[_Read] = []

    def collect(self, tree: ast.Module) -> list[_Read]:
        self.visit(tree)
        return self.reads

    def _in_function(self) -> bool:
        return any(frame.is_function for frame in self._frames)

    def _function_frame(self, node: _FunctionNode) -> _Frame:
        body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
        binder = _Binder(self._module, self._is_package).scan(body)
        local = (_arg_names(node.args) | binder.bound) - binder.declared_global
        imports = {name: tuple(found) for name, found in binder.imports.items() if name in local}
        return _Frame(frozenset(local), frozenset(binder.declared_global), imports=imports)

    def _local_imports(self, name: str) -> tuple[str, ...] | None:
        """Return None for a module-level name, else what imports bind it locally (maybe none)."""
        for frame in reversed(self._frames):
            if name in frame.declared_global:
                return None
            if name in frame.local:
                return frame.imports.get(name, ())
        return None

    def _record(self, name: ast.Name, chain: tuple[str, ...]) -> None:
        if not self._in_function():
            return
        origins = self._local_imports(name.id)
        if origins is None:
            self.reads.append(_Read(name.lineno, name.id, chain))
            return
        for origin in origins:
            self.reads.append(_Read(name.lineno, name.id, chain, origin))

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._record(node, ())

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = [] if not isinstance(node.ctx, ast.Load) else [node.attr]
        base: ast.expr = node.value
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        if isinstance(base, ast.Name):
            self._record(base, tuple(chain))
        else:
            self.visit(base)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        # Python never evaluates a local variable's annotation (nor any annotation
        # under `from __future__ import annotations`): only the target and value run.
        self._visit_all([node.target, *([node.value] if node.value is not None else [])])

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Decorators and defaults run where the def is, not in the call; annotations
        # are never reads (SPEC 4), so a nested def's are skipped too.
        self._visit_all([*node.decorator_list, *node.args.defaults])
        self._visit_all([d for d in node.args.kw_defaults if d is not None])
        self._frames.append(self._function_frame(node))
        self._visit_all(node.body)
        self._frames.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_all([*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)])
        self._frames.append(self._function_frame(node))
        self.visit(node.body)
        self._frames.pop()

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        self.visit(node.generators[0].iter)
        targets = _Binder().scan(gen.target for gen in node.generators).bound
        self._frames.append(_Frame(frozenset(targets), is_function=False))
        for index, generator in enumerate(node.generators):
            if index:
                self.visit(generator.iter)
            self._visit_all(generator.ifs)
        parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self._visit_all(parts)
        self._frames.pop()

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def _visit_all(self, nodes: Iterable[ast.AST]) -> None:
        for node in nodes:
            self.visit(node)


def _is_type_checking(test: ast.expr) -> bool:
    """Return True for `TYPE_CHECKING` and `typing.TYPE_CHECKING` (false at run time)."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _ModuleBinder(_Binder):
    """A module's bindings at run time: what `if TYPE_CHECKING:` binds never exists."""

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.scan(node.orelse)


# What the import system sets in every module's namespace before its code runs:
# `__spec__` in a function is the module's own global, not `builtins.__spec__`.
_MODULE_ATTRIBUTES: Final = frozenset(
    {"__name__", "__file__", "__spec__", "__loader__", "__package__", "__doc__", "__cached__"}
    | {"__builtins__", "__path__"}
)
_BUILTINS: Final = frozenset(vars(builtins))


def _module_bindings(tree: ast.Module) -> frozenset[str]:
    """Return the names bound at module level, including those set through `global`."""
    binder = _ModuleBinder().scan(tree.body)
    declared = {
        name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names
    }
    return frozenset(binder.bound | declared | _MODULE_ATTRIBUTES)


def _module_imports(tree: ast.Module, module: str | None, is_package: bool) -> dict[str, str]:
    """Map each name an import binds at module level to the dotted name it imports."""
    imports: dict[str, str] = {}
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for local, dotted in _import_bindings(node, module, is_package):
                if dotted is not None:
                    imports[local] = dotted
    return imports


def _import_bindings(
    node: ast.Import | ast.ImportFrom, module: str | None, is_package: bool
) -> Iterator[tuple[str, str | None]]:
    """Yield (name bound, dotted name it imports) per alias; None when a relative base is unknown.

    `import a.b.c` binds `a` to the module `a`; `import a.b as x` binds `x` to `a.b`.
    """
    if isinstance(node, ast.Import):
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            yield local, alias.name if alias.asname else local
        return
    base = _import_base(node, module, is_package)
    for alias in node.names:
        if alias.name != "*":
            yield alias.asname or alias.name, f"{base}.{alias.name}" if base else None


def _module_level(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Yield module-level statements, looking inside `if`/`try`/`with` blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
            yield from _module_level(stmt.orelse)  # the body never runs
            continue
        for block in _child_blocks(stmt):
            yield from _module_level(block)


def _import_base(node: ast.ImportFrom, module: str | None, is_package: bool) -> str | None:
    """Return the absolute module a `from ... import` reads from, or None when unknown."""
    if not node.level:
        return node.module
    if module is None:
        return None
    package = module.split(".") if is_package else module.split(".")[:-1]
    if node.level - 1 > len(package) or (node.level - 1 == len(package) and not node.module):
        return None
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])]) or None


def _dotted_reads(
    source: _Source, prefix: str, lines: tuple[int, int] | None
) -> Iterator[tuple[str | None, str | None]]:
    """Yield each read inside `lines` as (chain in the module, the same chain where it lives).

    The first is spelled from the module's own name (`shop.notify.transport.Session`,
    which a patch of `shop.notify.transport` replaces); the second is the object
    where it comes from (`shop.transport.Session`), None for a name the module
    defines itself. A name a function imports itself lives only where it comes
    from (`datetime.date.today` for `import datetime as dt` / `dt.date.today`), and
    so does a builtin (`builtins.open`): a name neither local nor global is looked
    up in `builtins` when the code runs.
    """
    for read in source.reads:
        if lines is not None and not lines[0] <= read.line <= lines[1]:
            continue
        tail = "".join(f".{attr}" for attr in read.chain)
        if read.origin is not None:
            yield None, f"{read.origin}{tail}"
        elif read.name in source.bound:
            imported = source.imports.get(read.name)
            yield f"{prefix}.{read.name}{tail}", f"{imported}{tail}" if imported else None
        elif read.name in _BUILTINS:
            yield None, f"builtins.{read.name}{tail}"
        # else: a name nothing defines (a NameError, or a star import's): no read


# --------------------------------------------------------------------------
# Resolution


class ScopeResolver:
    """Resolve `code:` entries against one rootdir and search path, parsing each file once."""

    def __init__(self, rootdir: Path, search_path: SearchPath, *, cache: bool = True) -> None:
        self.rootdir = rootdir.resolve()
        self.search_path = [self._absolute(entry) for entry in search_path]
        self._sources: dict[Path, _Source | Problem] = {}
        self._modules: dict[str, bool] = {}
        self._displays: dict[Path, str] = {}
        self._resolves: dict[Path, Path] = {}
        self._module_files: dict[str, Path | None] = {}
        self._cache = FactsCache(self.rootdir / CACHE_FILE if cache else None, _analysis())

    def save_cache(self) -> None:
        """Keep what was parsed for the next run (`.invariants/scope-cache.json`)."""
        self._cache.save()

    def _absolute(self, entry: str | Path) -> Path:
        # '' in sys.path means the working directory; other relative entries
        # are the rootdir-relative ones of an ini `pythonpath`.
        if entry == "":
            return Path.cwd()
        path = Path(entry)
        return path if path.is_absolute() else self.rootdir / path

    def resolve(self, raw: str, location: Location) -> ScopeEntry | Problem:
        """Resolve one `code:` entry written at `location`."""
        text = raw.strip()
        if not text:
            return Problem(location, "an empty `code` entry", _SCOPE_FORMS)
        if text.endswith(".py") or "/" in text or "\\" in text:
            return self._file(raw, text, location)
        module, colon, qualname = text.partition(":")
        if not _is_dotted(module) or (colon and not _is_qualname(qualname)):
            return Problem(location, f"`{raw}` is not a valid code entry", _SCOPE_FORMS)
        if colon:
            return self._qualname(raw, module, qualname, location)
        return self._module(raw, module, location)

    def display(self, path: Path) -> str:
        """Return `path` relative to the rootdir with POSIX separators, else absolute."""
        found = self._displays.get(path)
        if found is None:
            resolved = self._resolved(path)
            try:
                found = resolved.relative_to(self.rootdir).as_posix()
            except ValueError:
                found = str(resolved)
            self._displays[path] = found
        return found

    def _resolved(self, path: Path) -> Path:
        # One resolve (an lstat per path component) per file, not per entry.
        found = self._resolves.get(path)
        if found is None:
            found = self._resolves[path] = path.resolve()
        return found

    def _find_module(self, module: str) -> Path | None:
        # Entries name the same modules again and again; the files do not move during a load.
        if module not in self._module_files:
            self._module_files[module] = find_module_source(module, self.search_path)
        return self._module_files[module]

    def _source(self, path: Path, module: str | None) -> _Source | Problem:
        key = self._resolved(path)
        if key not in self._sources:
            self._sources[key] = _parse_source(key, module, self.display(key), self._cache)
        return self._sources[key]

    def _module(self, raw: str, module: str, location: Location) -> ScopeEntry | Problem:
        path = self._find_module(module)
        if path is None:
            return self._missing_module(raw, module, location)
        source = self._source(path, module)
        if isinstance(source, Problem):
            return Problem(location, source.what, source.fix)
        return self._entry(raw, ScopeKind.MODULE, source, module, None, location)

    def _qualname(
        self, raw: str, module: str, qualname: str, location: Location
    ) -> ScopeEntry | Problem:
        path = self._find_module(module)
        if path is None:
            return self._missing_module(raw, module, location)
        source = self._source(path, module)
        if isinstance(source, Problem):
            return Problem(location, source.what, source.fix)
        canonical = _canonical(qualname, source.definitions)
        if canonical is None:
            return self._missing_qualname(raw, module, qualname, source, location)
        lines = source.definitions[canonical]
        dotted = f"{module}.{canonical}"
        return self._entry(raw, ScopeKind.QUALNAME, source, dotted, lines, location)

    def _file(self, raw: str, text: str, location: Location) -> ScopeEntry | Problem:
        path = Path(text)
        # A scope is code of this project: a path that leaves the rootdir (absolute
        # elsewhere, `../..`, a link out) would make us read and report on any file on the machine.
        if text.startswith("~") or not _inside(self.rootdir / path, self.rootdir):
            return Problem(
                location,
                f"`{raw}` is outside the project (the rootdir {self.rootdir})",
                "name a file relative to the rootdir, inside it",
            )
        path = self.rootdir / path
        if not path.is_file():
            return self._missing_file(raw, path, location)
        module = module_name_for_file(path, self.search_path)
        source = self._source(path, module)
        if isinstance(source, Problem):
            return Problem(location, source.what, source.fix)
        return self._entry(raw, ScopeKind.FILE, source, module, None, location)

    def _entry(
        self,
        raw: str,
        kind: ScopeKind,
        source: _Source,
        dotted: str | None,
        lines: tuple[int, int] | None,
        location: Location,
    ) -> ScopeEntry:
        within = source.statements
        if lines is not None:
            ordered = source.ordered()
            within = frozenset(
                ordered[bisect_left(ordered, lines[0]) : bisect_right(ordered, lines[1])]
            )
        file = self.display(source.path)
        reads, modules = self._reads(source, source.module or file, lines)
        return ScopeEntry(
            raw=raw,
            kind=kind,
            file=file,
            dotted=dotted,
            lines=lines,
            executable=within,
            reads=reads,
            module_reads=modules,
            location=location,
        )

    def _reads(
        self, source: _Source, prefix: str, lines: tuple[int, int] | None
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Return the read chains inside `lines`, and the subset that names a module."""
        reads: set[str] = set()
        modules: set[str] = set()
        for local, imported in _dotted_reads(source, prefix, lines):
            if local is not None:
                reads.add(local)
            if imported is None:
                continue
            reads.add(imported)
            if self._is_module(imported):
                modules.add(imported)
                if local is not None:
                    modules.add(local)
        return frozenset(reads), frozenset(modules)

    def _is_module(self, dotted: str) -> bool:
        """Return True when `dotted` names a module, found without importing anything."""
        found = self._modules.get(dotted)
        if found is None:
            found = dotted in sys.builtin_module_names or (
                _find_spec(dotted, [os.fspath(p) for p in self.search_path]) is not None
            )
            self._modules[dotted] = found
        return found

    # -- problems with a "did you mean" ------------------------------------

    def _missing_module(self, raw: str, module: str, location: Location) -> Problem:
        spec = _find_spec(module, [os.fspath(p) for p in self.search_path])
        if spec is not None and spec.origin is None:
            return Problem(
                location,
                f"`{module}` is a namespace package: it has no source file of its own",
                "name a module inside it, or a file path",
            )
        if spec is not None:
            return Problem(
                location,
                f"`{module}` has no Python source ({spec.origin})",
                "name a module that exists as a .py file",
            )
        hint = self._qualname_hint(module) or _did_you_mean(module, self._module_names(module))
        return Problem(
            location,
            f"`{raw}`: no module `{module}` on the import path",
            hint or "check the spelling, or add its folder to pytest's `pythonpath` setting",
        )

    def _qualname_hint(self, dotted: str) -> str | None:
        """Suggest `pkg.mod:func` when `pkg.mod.func` was written with a dot."""
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            path = find_module_source(".".join(parts[:cut]), self.search_path)
            if path is None:
                continue
            source = self._source(path, ".".join(parts[:cut]))
            rest = ".".join(parts[cut:])
            if not isinstance(source, Problem) and _canonical(rest, source.definitions):
                module = ".".join(parts[:cut])
                return f"did you mean `{module}:{rest}`? A colon separates module and name"
            return None
        return None

    def _module_names(self, module: str) -> list[str]:
        """List the modules next to where `module` would be, as dotted names."""
        parent, _, _ = module.rpartition(".")
        if parent:
            spec = _find_spec(parent, [os.fspath(p) for p in self.search_path])
            if spec is None or spec.submodule_search_locations is None:
                return self._module_names(parent)
            folders = [Path(p) for p in spec.submodule_search_locations]
            return [f"{parent}.{name}" for name in _modules_in(folders)]
        return list(_modules_in(self.search_path))

    def _missing_qualname(
        self, raw: str, module: str, qualname: str, source: _Source, location: Location
    ) -> Problem:
        names = [name for name in source.definitions if ".<locals>." not in name]
        hint = _did_you_mean(qualname, names)
        return Problem(
            location,
            f"`{raw}`: {module} ({self.display(source.path)}) defines no function or class "
            f"`{qualname}`",
            hint or "check the spelling; name a function, method or class defined in the module",
        )

    def _missing_file(self, raw: str, path: Path, location: Location) -> Problem:
        folder = path.parent
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        siblings = [self.display(p) for p in sorted(folder.glob("*.py"))] if folder.is_dir() else []
        what = f"`{raw}`: no such file" if not path.is_dir() else f"`{raw}` is a folder"
        hint = _did_you_mean(self.display(path), siblings)
        return Problem(location, what, hint or "give a .py file path relative to the rootdir")


def _modules_in(folders: Iterable[Path]) -> Iterator[str]:
    """Yield the importable names directly inside `folders`, without importing anything."""
    for folder in folders:
        try:
            children = list(os.scandir(folder))
        except OSError:
            continue
        for child in children:
            name = child.name[:-3] if child.name.endswith(".py") else child.name
            if name.isidentifier() and (child.name.endswith(".py") or child.is_dir()):
                yield name


def _did_you_mean(wrong: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(wrong, sorted(set(candidates)), n=2, cutoff=0.7)
    if not close:
        return None
    return "did you mean " + " or ".join(f"`{name}`" for name in close) + "?"


def _is_dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _is_qualname(text: str) -> bool:
    return bool(text) and all(p.isidentifier() or p == "<locals>" for p in text.split("."))


def resolve_scope(
    raw: str, rootdir: Path, search_path: SearchPath, location: Location
) -> ScopeEntry | Problem:
    """Resolve one `code:` entry; use `ScopeResolver` to resolve many with one parse per file."""
    return ScopeResolver(rootdir, search_path).resolve(raw, location)

"""Record which lines of the scope files each test executes.

Only the code of the files some invariant names is observed, so the rest of
the suite runs at full speed (docs/tracing.md). Two mechanisms sit behind one interface:

* ``sys.monitoring`` (Python 3.12+): a monitoring tool of our own with LINE
  events enabled only on the scope's code objects (``observe/sysmon.py``);
* ``probes`` (Python 3.10/3.11): a cheap statement compiled in front of every
  statement of the scope's functions, swapped in through ``func.__code__``
  (``observe/probes.py``).

Neither starts a ``coverage.Coverage`` nor calls ``sys.settrace``: either
would pause or replace pytest-cov's tracer and silently change its numbers.

Both mechanisms report lines as coverage.py reports them: a line inside a
multi-line statement counts as the statement's first line, so the data is
the same on every Python version and compares line for line with
coverage's per-test contexts.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib.machinery
import inspect
import operator
import os
import sys
import types
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property, partial, partialmethod
from pathlib import Path
from typing import Any, Final, Protocol

from pytest_invariants.model import LineSet
from pytest_invariants.observe.codecache import CodeCache
from pytest_invariants.observe.importwatch import PostImportHook

__all__ = [
    "PROBES",
    "SYSMON",
    "LineRecorder",
    "Regions",
    "ScopeRecorder",
    "statement_starts",
    "tree_statement_starts",
]

SYSMON: Final = "sys.monitoring"
PROBES: Final = "probes"

# The (first, last) line spans of a scope file that invariants name, or None for the
# whole file (a module or file entry).
Regions = tuple[tuple[int, int], ...] | None


class LineRecorder(Protocol):
    """What the pytest plugin drives: start, one begin/end pair per test, stop."""

    name: str

    def start(self) -> None:
        """Instrument the scope code already imported and hook later imports."""

    def begin_test(self) -> None:
        """Forget every hit so far; called before a test's setup."""

    def end_test(self) -> dict[str, LineSet]:
        """Return file -> lines executed since `begin_test` (files with hits only)."""
        ...

    def stop(self) -> None:
        """Remove every trace of the recorder from the process."""

    def problems(self) -> list[str]:
        """Return the observation disturbances detected so far, oldest first."""
        ...


class ScopeRecorder:
    """Share file matching, code discovery and the import hook between mechanisms.

    Subclasses implement `_instrument` (observe these live functions) and the
    per-test methods.
    """

    name: str = ""

    def __init__(self, files: Mapping[str, Regions]) -> None:
        # Only functions that overlap a file's regions are observed: the other code of a
        # scope file (a big module with one scope function) runs at full speed.
        self._regions: dict[str, Regions] = dict(files)
        self._scope: dict[str, str] = {os.path.realpath(f): f for f in files}
        self._file_of: dict[str, str | None] = {}
        self._problems: list[str] = []
        self._finder: PostImportHook | None = None
        self._starts: dict[str, dict[int, int]] = {}
        self._identities: set[tuple[int, int]] | None = None  # (device, inode) of each
        # Where statement_starts of each file are kept between runs (sys.monitoring maps
        # lines per test; probes have them compiled in), or None.
        self.starts_cache: CodeCache | None = None
        self._started = False
        self._stems = {_module_stem(path) for pair in self._scope.items() for path in pair}

    # -- the LineRecorder protocol (per-test methods live in subclasses) --

    def start(self) -> None:
        """Instrument the scope code already imported and hook later imports."""
        if self._started:
            return
        self._started = True
        self._instrument(self._live_functions())
        self._finder = PostImportHook(
            self._is_scope_module, self.instrument_module, names=self._may_be_scope_module
        )
        self._finder.install()

    def begin_test(self) -> None:
        """Forget every hit so far; called before a test's setup."""
        raise NotImplementedError

    def end_test(self) -> dict[str, LineSet]:
        """Return file -> lines executed since `begin_test` (files with hits only)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Remove the import hook; subclasses undo their instrumentation first."""
        if self._finder is not None:
            self._finder.remove()
        self._finder = None
        self._started = False

    def problems(self) -> list[str]:
        """Return the observation disturbances detected so far, oldest first."""
        return list(self._problems)

    # -- shared helpers --

    def note(self, problem: str) -> None:
        """Record one disturbance, once: a problem repeated per test is noise."""
        if problem not in self._problems:
            self._problems.append(problem)

    def _may_be_scope_module(self, fullname: str) -> bool:
        # A module loaded from `x.py` is named `....x`, a package from `x/__init__.py` `....x`.
        return fullname.rpartition(".")[2] in self._stems

    def _is_scope_module(self, _name: str, spec: importlib.machinery.ModuleSpec) -> bool:
        return spec.origin is not None and self.scope_file(spec.origin) is not None

    def scope_file(self, filename: str) -> str | None:
        """Return the scope path `filename` names, or None when out of scope."""
        try:
            return self._file_of[filename]
        except KeyError:
            found = self._scope.get(filename)
            if found is None and self._may_be_scope_file(filename):
                found = self._scope.get(os.path.realpath(filename))
            self._file_of[filename] = found
            return found

    def _may_be_scope_file(self, filename: str) -> bool:
        """Return False when `filename` is surely no scope file, from one stat().

        The heap scan asks this for the file of every function alive (thousands of
        files); realpath costs an lstat per path component, one stat() tells almost
        all of them apart. A file is a scope file only if it is the same file.
        """
        if self._identities is None:
            try:
                self._identities = {_identity(path) for path in self._scope}
            except OSError:  # a scope file is gone: compare real paths only
                self._identities = set()
        if not self._identities:
            return True
        try:
            return _identity(filename) in self._identities
        except (OSError, ValueError):
            return False

    def instrument_module(self, module: types.ModuleType) -> None:
        """Instrument the scope functions a freshly imported module defines."""
        try:
            found: dict[str, list[types.FunctionType]] = {}
            self._sort_in(_module_functions(module), found)
            self._instrument(found)
        except Exception as exc:  # noqa: BLE001 - an import must never fail because of us
            self.note(f"could not instrument {module.__name__}: {exc!r}")

    def _instrument(self, functions: dict[str, list[types.FunctionType]]) -> None:
        raise NotImplementedError

    def _live_functions(self) -> dict[str, list[types.FunctionType]]:
        """Return scope file -> its live functions, from modules and the heap."""
        found: dict[str, list[types.FunctionType]] = {}
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and self.scope_file(file) is not None:
                self._sort_in(_module_functions(module), found)
        # Functions kept only in registries, caches or instances are invisible
        # from module namespaces; the heap holds every live one. Thousands of them:
        # their files are read in C and each distinct file is asked about once.
        heap = _heap_functions()
        files = list(map(_FILE_OF, heap))
        ours = {name for name in set(files) if self.scope_file(name) is not None}
        self._sort_in([func for func, name in zip(heap, files, strict=True) if name in ours], found)
        return found

    def _sort_in(
        self, functions: Iterable[types.FunctionType], found: dict[str, list[types.FunctionType]]
    ) -> None:
        seen = {id(f) for fs in found.values() for f in fs}
        for func in functions:
            file = self.scope_file(func.__code__.co_filename)
            if file is not None and id(func) not in seen and self._overlaps(file, func):
                seen.add(id(func))
                found.setdefault(file, []).append(func)

    def _overlaps(self, file: str, func: types.FunctionType) -> bool:
        """Return True when `func`'s lines meet a region of `file` (or it has none)."""
        regions = self._regions.get(file)
        if regions is None:
            return True
        # Overlap, not containment: a scope function nested in `func` is reached only
        # through `func`'s code (its co_consts), so `func` is observed too.
        code = func.__code__
        first = code.co_firstlineno
        if any(low <= first <= high for low, high in regions):
            return True  # the usual hit, without walking the code's line table
        later = [low for low, _ in regions if low > first]
        if not later:
            return False
        last = max((line for *_, line in code.co_lines() if line is not None), default=first)
        return min(later) <= last

    def _by_statement(self, grouped: dict[str, list[int]]) -> dict[str, LineSet]:
        """Return file -> lines, each line mapped to its statement's first line."""
        result: dict[str, LineSet] = {}
        for file, lines in grouped.items():
            starts = self._starts.get(file)
            if starts is None:
                starts = self._starts[file] = self._statement_starts_of(file)
            result[file] = LineSet(map(starts.get, lines, lines))  # get(line, line), in C
        return result

    def _statement_starts_of(self, path: str) -> dict[int, int]:
        """Return `statement_starts` of a scope file, from the cache when its bytes match."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            return {}
        cache = self.starts_cache
        starts = cache.get_starts(data, path) if cache is not None else None
        if starts is None:
            try:
                starts = statement_starts(data.decode("utf-8"))
            except (SyntaxError, ValueError):  # UnicodeDecodeError is a ValueError
                starts = {}
            if cache is not None:
                cache.put_starts(data, path, starts)
        return starts


def _identity(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _module_stem(path: str) -> str:
    """Return the last part of the dotted name a module loaded from `path` has."""
    folder, name = os.path.split(path)
    stem = name.partition(".")[0]
    return os.path.basename(folder) if stem == "__init__" else stem


# -- finding the code of a module -------------------------------------------

_FILE_OF: Final = operator.attrgetter("__code__.co_filename")
# A class's namespace, read through type's own descriptor (no metaclass can intercept it).
_CLASS_DICT: Final[Any] = vars(type)["__dict__"]


def _module_functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    """Yield the functions reachable from a module's namespace.

    Follows decorators (``__wrapped__``, closures), classes defined in the
    module (methods, static/class methods, properties), partials and
    single-dispatch registries. Nested code needs no walk: it is reached
    through ``co_consts`` by the mechanism.
    """
    seen: set[int] = set()
    stack: list[object] = list(vars(module).values())
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        # type(), never isinstance() or getattr(): a module-level object's own
        # __getattribute__ (or its metaclass's) may raise, and must never run.
        kind = type(obj)
        if issubclass(kind, types.FunctionType):
            yield obj  # type: ignore[misc]
            stack.extend(_function_links(obj))  # type: ignore[arg-type]
        elif issubclass(kind, type):
            namespace = _CLASS_DICT.__get__(obj)
            if namespace.get("__module__") == module.__name__:
                stack.extend(namespace.values())
        else:
            stack.extend(_wrapper_links(obj))


def _function_links(func: types.FunctionType) -> list[object]:
    links: list[object] = []
    with contextlib.suppress(ValueError):  # a __wrapped__ cycle
        links.append(inspect.unwrap(func))
    wrapped = getattr(func, "__wrapped__", None)
    if wrapped is not None:
        links.append(wrapped)
    registry = getattr(func, "registry", None)  # functools.singledispatch
    if registry is not None and hasattr(registry, "values"):
        links.extend(registry.values())
    for cell in func.__closure__ or ():
        try:
            content = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(content, (types.FunctionType, staticmethod, classmethod)):
            links.append(content)
    return links


def _wrapper_links(obj: object) -> list[object]:
    kind = type(obj)
    if not issubclass(kind, (staticmethod, classmethod, property, partial, partialmethod)) and (
        not issubclass(kind, cached_property)
    ):
        return []  # checked on the type: never ask an arbitrary object
    if isinstance(obj, (staticmethod, classmethod)):
        return [obj.__func__]
    if isinstance(obj, property):
        return [obj.fget, obj.fset, obj.fdel]
    if isinstance(obj, (partial, partialmethod, cached_property)):
        return [obj.func]
    return []


def _heap_functions() -> list[types.FunctionType]:
    """Return every function object alive in the process."""
    function = types.FunctionType
    return [obj for obj in gc.get_objects() if type(obj) is function]


def code_tree(code: types.CodeType) -> Iterator[types.CodeType]:
    """Yield `code` and the code objects nested in it from the same file."""
    stack = [code]
    while stack:
        current = stack.pop()
        yield current
        for const in current.co_consts:
            if isinstance(const, types.CodeType) and const.co_filename == code.co_filename:
                stack.append(const)


# -- mapping lines to statements ---------------------------------------------


def statement_starts(source: str) -> dict[int, int]:
    """Map each line of a multi-line statement or clause header to its first line.

    The units are those of coverage.py's reports: simple statements,
    compound-statement headers, ``except`` clauses, ``case`` clauses and
    decorators. Lines that start a unit map to themselves; lines outside
    every unit are absent.
    """
    return tree_statement_starts(ast.parse(source))


def tree_statement_starts(tree: ast.AST) -> dict[int, int]:
    """Return `statement_starts` of an already parsed module (before anything rewrote it)."""
    starts: dict[int, int] = {}
    for first, last in _units(tree):
        for line in range(first, last + 1):
            starts[line] = first
    return starts


def _units(tree: ast.AST) -> Iterator[tuple[int, int]]:
    """Yield (first, last) line spans, outer units before the units inside them."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                yield decorator.lineno, _end(decorator)
        body = getattr(node, "body", None)
        if isinstance(node, (ast.stmt, ast.excepthandler)):
            last = body[0].lineno - 1 if isinstance(body, list) and body else _end(node)
            yield node.lineno, max(node.lineno, last)
        elif isinstance(node, ast.match_case):
            first = node.pattern.lineno
            yield first, max(first, node.body[0].lineno - 1)


def _end(node: ast.AST) -> int:
    end = getattr(node, "end_lineno", None)
    return int(end) if end is not None else int(getattr(node, "lineno", 0))

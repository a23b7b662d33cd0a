"""Record scope lines with probes compiled into the scope functions (3.10/3.11).

Each scope file is parsed and recompiled with a probe in front of every
statement of every function body: ``__pytest_invariants_probe__(KEY)``, where
the global is the ``add`` of one recorder-wide set and KEY packs the file's
index and the line. The new code objects keep the file name and the line
numbers, so tracebacks and coverage.py (whose tracer sees the same lines) are
unchanged. They replace ``func.__code__`` on the live functions; nested
functions, lambdas and comprehensions come along through ``co_consts``.
Measured at 1.03x on 3.11 (docs/performance.md).
"""

from __future__ import annotations

import ast
import bisect
import operator
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from _pytest.assertion.rewrite import rewrite_asserts

from pytest_invariants.model import LineSet
from pytest_invariants.observe import recorder as _recorder_module
from pytest_invariants.observe.codecache import CodeCache
from pytest_invariants.observe.recorder import (
    PROBES,
    Regions,
    ScopeRecorder,
    code_tree,
    tree_statement_starts,
)

__all__ = ["PROBE_NAME", "ProbeRecorder", "add_probes"]

# A dunder name no user code defines; it lives in the scope modules' globals.
PROBE_NAME: Final = "__pytest_invariants_probe__"
_LINE_BITS: Final = 24
_LINE_MASK: Final = (1 << _LINE_BITS) - 1
# What the probe global is left bound to after `stop`: code objects created
# from probed code while recording (closures kept in caches) may still run.
_NOOP: Final[Callable[[object], bool]] = frozenset().__contains__

# Where statement_starts lives: it shapes the probe keys, so the code cache keys on it.
_BUILDER: Final = str(_recorder_module.__file__)
_CODE_OF: Final = operator.attrgetter("__code__")
_CodeKey = tuple[str, int]
_CodeTable = dict[_CodeKey, list[tuple[types.CodeType, types.CodeType]]]


@dataclass
class _Patch:
    func: types.FunctionType
    original: types.CodeType
    probed: types.CodeType
    reported: bool = False


class ProbeRecorder(ScopeRecorder):
    """Observe the scope functions through probes swapped in as ``__code__``."""

    name = PROBES

    def __init__(self, files: Mapping[str, Regions], cache_dir: Path | None = None) -> None:
        super().__init__(files)
        builders = [__file__, _BUILDER]
        self._code_cache = CodeCache(cache_dir, builders) if cache_dir is not None else None
        self._hits: set[int] = set()
        self._add = self._hits.add
        self._index: dict[str, int] = {}
        self._files: list[str] = []
        self._tables: dict[str, _CodeTable | None] = {}
        self._patches: dict[int, _Patch] = {}
        self._patched: list[types.FunctionType] = []  # the patches' functions, in order
        self._expected: list[types.CodeType] = []  # the code each of them should have
        self._probed: set[int] = set()
        self._namespaces: dict[int, dict[str, Any]] = {}
        self._tests = 0

    def begin_test(self) -> None:
        """Forget earlier hits; put back a probe global someone removed."""
        self._tests += 1
        self._rearm()
        self._hits.clear()

    def end_test(self) -> dict[str, LineSet]:
        """Return file -> lines executed since `begin_test`."""
        self._rearm()
        self._check_patches()
        if not self._hits:
            return {}
        # A key already holds its statement's first line (see _ProbeInserter): only
        # split the sorted keys by file, in C loops (a test may run thousands of lines).
        keys = sorted(self._hits)
        self._hits.clear()
        executed: dict[str, LineSet] = {}
        start, count = 0, len(keys)
        while start < count:
            base = keys[start] & ~_LINE_MASK
            stop = bisect.bisect_left(keys, base + _LINE_MASK + 1, start)
            chunk = keys[start:stop]
            lines = map(base.__rsub__, chunk) if base else chunk
            executed[self._files[base >> _LINE_BITS]] = LineSet.from_sorted(lines)
            start = stop
        return executed

    def stop(self) -> None:
        """Put every original ``__code__`` back and defuse the probe globals."""
        for patch in self._patches.values():
            if patch.func.__code__ is patch.probed:
                patch.func.__code__ = patch.original
        for namespace in self._namespaces.values():
            namespace[PROBE_NAME] = _NOOP
        self._patches.clear()
        self._patched.clear()
        self._expected.clear()
        self._namespaces.clear()
        self._hits.clear()
        super().stop()

    def _check_patches(self) -> None:
        """Report functions whose probed code someone swapped out."""
        # At each test's end only: a swap between two tests shows at the end of the next.
        # One C-speed comparison of every function's code with what we put there (list
        # equality tries identity first); only a difference walks the patches.
        current = list(map(_CODE_OF, self._patched))
        if current == self._expected:
            return
        self._expected = current  # a swap is reported once; later tests compare to it
        for patch in self._patches.values():
            if patch.func.__code__ is not patch.probed and not patch.reported:
                patch.reported = True
                self.note(
                    f"the code of {patch.func.__qualname__} "
                    f"({patch.original.co_filename}:{patch.original.co_firstlineno}) was "
                    f"replaced by someone else by the end of test {self._tests}: "
                    "its lines are no longer recorded"
                )

    def _rearm(self) -> None:
        """Put back the probe global of a scope module whose namespace lost it."""
        for namespace in self._namespaces.values():
            if namespace.get(PROBE_NAME) is not self._add:
                # Without the global every probed function would raise NameError.
                namespace[PROBE_NAME] = self._add
                self.note(f"the probe global {PROBE_NAME} was removed from a scope module")

    def _instrument(self, functions: dict[str, list[types.FunctionType]]) -> None:
        for file, funcs in functions.items():
            rewritten = _ASSERT_REWRITER_GLOBAL in funcs[0].__globals__
            table = self._table(file, funcs[0].__code__.co_filename, rewritten)
            if table is None:
                continue
            for func in funcs:
                self._patch(func, table)

    def _table(self, file: str, filename: str, rewritten: bool = False) -> _CodeTable | None:
        """Return (name, first line) -> [(original code, probed code)] for one file."""
        if file in self._tables:
            return self._tables[file]
        table: _CodeTable | None = None
        try:
            index = self._index.setdefault(file, len(self._files))
            if index == len(self._files):
                self._files.append(file)
            data = Path(file).read_bytes()
            cache = self._code_cache
            pair = cache.get(data, filename, index, rewritten) if cache is not None else None
            if pair is None:
                pair = _compile_pair(data.decode("utf-8"), filename, index, rewritten)
                if cache is not None:
                    cache.put(data, filename, index, rewritten, pair)
            table = _pair_table(*pair)
            # Functions made from probed code later (closures, re-imports) are ours already.
            self._probed.update(id(new) for pairs in table.values() for _, new in pairs)
        except (OSError, SyntaxError, ValueError) as exc:
            self.note(f"could not add probes to {file}: {exc!r}; its lines are not recorded")
        self._tables[file] = table
        return table

    def _patch(self, func: types.FunctionType, table: _CodeTable) -> None:
        code = func.__code__
        if id(func) in self._patches or id(code) in self._probed:
            return  # already ours, or created from probed code
        where = f"{func.__qualname__} ({code.co_filename}:{code.co_firstlineno})"
        pairs = table.get((code.co_name, code.co_firstlineno), [])
        probed = next((new for old, new in pairs if old == code), None)
        if probed is None:
            self.note(
                f"the code of {where} differs from its source file (edited since import, "
                "or rewritten by another tool): its lines are not recorded"
            )
            return
        if probed.co_freevars != code.co_freevars:
            self.note(f"the closure of {where} does not match its source: not recorded")
            return
        namespace = func.__globals__
        namespace[PROBE_NAME] = self._add
        self._namespaces[id(namespace)] = namespace
        func.__code__ = probed
        self._patches[id(func)] = _Patch(func, code, probed)
        self._patched.append(func)
        self._expected.append(probed)


# pytest's assertion rewriter imports its helpers into every module it rewrites
# under this name: the module's code is then not what a plain compile gives.
_ASSERT_REWRITER_GLOBAL: Final = "@pytest_ar"


def _parse(source: str, filename: str, rewritten: bool, key_base: int | None) -> ast.Module:
    """Parse `source` as the running module was compiled, with probes when `key_base` is set.

    pytest rewrites the asserts of test modules, conftests and plugin packages;
    comparing such code with a plain compile would refuse to probe it. Probes
    go in first: the rewriter then treats them as the plain statements they are.
    """
    tree = ast.parse(source, filename)
    if key_base is not None:
        tree = add_probes(tree, key_base)
    if rewritten:
        rewrite_asserts(tree, source.encode("utf-8"), filename)
    return tree


def _compile_table(source: str, filename: str, index: int, rewritten: bool = False) -> _CodeTable:
    """Compile `source` with and without probes; pair up their function code objects."""
    return _pair_table(*_compile_pair(source, filename, index, rewritten))


def _compile_pair(
    source: str, filename: str, index: int, rewritten: bool = False
) -> tuple[types.CodeType, types.CodeType]:
    """Compile `source` as the running module was compiled, and again with probes."""
    tree = _parse(source, filename, rewritten, None)
    plain = compile(tree, filename, "exec", dont_inherit=True)
    if rewritten:  # probes must go in before the assert rewriter: parse again
        tree = _parse(source, filename, rewritten, index << _LINE_BITS)
    else:  # compile() leaves the tree as it was: probe the same one
        tree = add_probes(tree, index << _LINE_BITS)
    probed = compile(tree, filename, "exec", dont_inherit=True)
    return plain, probed


def _pair_table(plain: types.CodeType, probed: types.CodeType) -> _CodeTable:
    """Pair up the function code objects of the plain and the probed module code."""
    originals = _functions_in(plain)
    replacements = _functions_in(probed)
    if [_key(c) for c in originals] != [_key(c) for c in replacements]:
        raise ValueError("probes changed the structure of the code")
    table: _CodeTable = {}
    for old, new in zip(originals, replacements, strict=True):
        table.setdefault(_key(old), []).append((old, new))
    return table


def _functions_in(module_code: types.CodeType) -> list[types.CodeType]:
    # code_tree walks both compilations in the same order: probes add
    # constants and names, never code objects.
    return [c for c in code_tree(module_code) if c is not module_code]


def _key(code: types.CodeType) -> _CodeKey:
    return code.co_name, code.co_firstlineno


def add_probes(tree: ast.Module, key_base: int) -> ast.Module:
    """Insert probes into every function body of `tree`, in place; return it."""
    # Every node made here gets its position when made: no fix_missing_locations
    # walk over the whole tree (it was most of the instrumentation time).
    # Each key holds the first line of the statement its line belongs to (as coverage
    # reports lines), worked out here once instead of per test from a second parse.
    _ProbeInserter(key_base, tree_statement_starts(tree)).visit(tree)
    return tree


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_HAS_DOCSTRING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class _ProbeInserter(ast.NodeTransformer):
    """Add probes to code that runs when a function is called, not at import.

    Statements get a probe statement in front of them; the lines coverage.py
    also counts but that are not statements get a probe folded into an
    expression (``probe(K) or expr`` evaluates to ``expr``, as the probe
    returns None): ``except`` clauses, decorators of nested functions,
    lambda bodies.
    """

    def __init__(self, key_base: int, starts: dict[int, int]) -> None:
        self._base = key_base
        self._starts = starts
        self._depth = 0  # how many function scopes enclose the current node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.visit(node.args)
        self._depth += 1
        body = self.visit(node.body)
        self._depth -= 1
        node.body = self._wrap(body, node.body.lineno)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        self.generic_visit(node)
        if self._depth:
            if node.type is not None:
                node.type = self._wrap(node.type, node.lineno)
            else:
                node.body.insert(0, self._statement(node.lineno, node))
        return node

    def visit_match_case(self, node: Any) -> Any:
        self.generic_visit(node)
        if self._depth:
            # Only a case whose pattern matched is seen; coverage.py also
            # counts a case line whose pattern was tried and failed.
            node.body.insert(0, self._statement(node.pattern.lineno, node.pattern))
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        if self._depth:
            self._probe_bodies(node)
        return node

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        # Decorators, defaults and annotations run in the enclosing scope.
        if self._depth:
            node.decorator_list = [self._wrap(d, d.lineno) for d in node.decorator_list]
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self._depth += 1
        node.body = [self.visit(stmt) for stmt in node.body]
        self._probe_bodies(node)
        self._depth -= 1
        return node

    def _probe_bodies(self, node: ast.AST) -> None:
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                docstring = field == "body" and isinstance(node, _HAS_DOCSTRING)
                setattr(node, field, self._probed(stmts, docstring))

    def _probed(self, stmts: list[ast.stmt], docstring: bool) -> list[ast.stmt]:
        result: list[ast.stmt] = []
        for position, stmt in enumerate(stmts):
            if (
                _is_probe(stmt)
                or not _runs(stmt)
                or (docstring and position == 0 and _is_doc(stmt))
            ):
                result.append(stmt)
                continue
            result.append(self._statement(stmt.lineno, stmt))
            result.append(stmt)
        return result

    def _call(self, line: int, where: ast.AST) -> ast.Call:
        call = ast.Call(
            func=ast.Name(id=PROBE_NAME, ctx=ast.Load()),
            args=[ast.Constant(value=self._base | self._starts.get(line, line))],
            keywords=[],
        )
        # The probe sits at the start of `where`, on its first line only.
        col = int(getattr(where, "col_offset", 0))
        for part in (call, call.func, call.args[0]):
            part.lineno, part.end_lineno = line, line
            part.col_offset, part.end_col_offset = col, col
        return call

    def _statement(self, line: int, where: ast.AST) -> ast.stmt:
        stmt = ast.Expr(value=self._call(line, where))
        return ast.copy_location(stmt, stmt.value)

    def _wrap(self, expr: ast.expr, line: int) -> ast.expr:
        wrapped = ast.BoolOp(op=ast.Or(), values=[self._call(line, expr), expr])
        return ast.copy_location(wrapped, expr)


def _is_probe(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == PROBE_NAME
    )


def _runs(stmt: ast.stmt) -> bool:
    """Return False for statements that compile to no instructions."""
    if isinstance(stmt, (ast.Global, ast.Nonlocal)):
        return False
    return not (isinstance(stmt, ast.Assert) and sys.flags.optimize)


def _is_doc(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )

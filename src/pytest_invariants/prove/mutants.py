"""Small mutants of scope code, made from the source text alone (docs/prove.md).

Pure: source text goes in, `Mutant` values come out; nothing is imported,
executed or written (compiling is not running). A mutant names a function, a
*site* (the n-th mutable node of that function's body, in a fixed walk order)
and a *variant* (which change at that site), so the worker can rebuild exactly
the same mutated function from the same source.

Code inside function bodies is mutated through a `__code__` swap; constant
default values through the function's `__defaults__`/`__kwdefaults__`.
Decorators and annotations run at import time (or never), so changing them
would change nothing and every such mutant would survive for no fault of the
tests. A mutant that compiles to the original code (equivalent) or to the same
code as an earlier one (duplicate) is left out (`distinct`).
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any

__all__ = [
    "MUTATOR_VERSION",
    "WAIVER",
    "Mutant",
    "code_fingerprint",
    "distinct",
    "distinct_code",
    "function_code",
    "function_node",
    "generate",
    "mutant_code",
    "mutated_tree",
    "waived_lines",
]


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    """Return the first line of a definition, decorators included (as `load.scopes` does).

    Not imported from there: this module is all the proof worker imports of ours,
    and `load.scopes` would add 30 ms to every proof's start-up.
    """
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


# Bump when the operators or the site order change: cached proofs become stale.
MUTATOR_VERSION = 3
WAIVER = re.compile(r"#\s*invariants:\s*equivalent\b")

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_Span = tuple[int, int, int, int]  # first line, first col, last line, end col (byte offsets)


@dataclass(frozen=True)
class Mutant:
    """One small change to one function of a scope, with its diff."""

    id: str
    operator: str
    file: str  # as shown to the user (relative to the rootdir)
    line: int
    col: int
    function: str  # qualname of the function whose code object is swapped
    function_line: int  # that function's co_firstlineno (its first decorator, else `def`)
    site: int  # index among the function's sites (or its constant defaults)
    variant: int
    diff: str
    waived: bool = False
    end_line: int = 0  # the last line the change reaches (0: `line`; a default: its function's)
    default_of: str = ""  # a default-argument mutant: the parameter ...
    default_value: str = ""  # ... and its new value, as a Python literal

    @property
    def lines(self) -> range:
        """The source lines the change touches: a test that ran none of them cannot kill it."""
        return range(self.line, max(self.line, self.end_line) + 1)


@dataclass(frozen=True)
class _Site:
    node: ast.AST
    parent: ast.AST
    function: str
    function_line: int


@dataclass(frozen=True)
class _Variant:
    operator: str
    apply: Callable[[ast.AST, ast.AST], None]  # (node, parent) -> mutate the tree in place
    span: _Span
    text: Callable[[str], str]  # original text of `span` -> replacement text


# -- the functions a swap can reach -------------------------------------------------------


def _functions(body: Sequence[ast.stmt], prefix: str = "") -> dict[str, _FunctionNode]:
    """Return module-level functions and methods by qualname; a later definition wins."""
    found: dict[str, _FunctionNode] = {}
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            found[prefix + stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef):
            found.update(_functions(stmt.body, f"{prefix}{stmt.name}."))
        elif isinstance(stmt, ast.If | ast.Try):
            # `if sys.version_info ...: def f` binds f in the same namespace.
            for block in (stmt.body, stmt.orelse, *(h.body for h in getattr(stmt, "handlers", ()))):
                found.update(_functions(block, prefix))
    return found


def _in_scope(node: _FunctionNode, lines: tuple[int, int] | None) -> bool:
    if lines is None:
        return True
    last = node.end_lineno or node.lineno
    return _first_line(node) <= lines[1] and last >= lines[0]


# -- walking the mutable nodes in a fixed order ---------------------------------------------

_SKIP_FIELDS = frozenset({"annotation", "returns", "type_comment", "format_spec"})


def _children(node: ast.AST) -> Iterator[ast.AST]:
    """Yield child nodes in field order, leaving out what never runs as code."""
    for name, value in ast.iter_fields(node):
        if name in _SKIP_FIELDS:
            continue
        if isinstance(value, ast.AST):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, ast.AST))


def _walk(node: ast.AST, function: str, first: int) -> Iterator[_Site]:
    for child in _children(node):
        if isinstance(child, ast.JoinedStr):
            continue  # the parts of an f-string have no text of their own to diff
        yield _Site(child, node, function, first)
        yield from _walk(child, function, first)


def _sites(func: _FunctionNode, qualname: str) -> list[_Site]:
    """Return the mutable nodes of one function body, numbered the same for the same source."""
    body = ast.Module(body=func.body, type_ignores=[])
    return list(_walk(body, qualname, _first_line(func)))


def _defaults(func: _FunctionNode) -> list[tuple[str, ast.Constant]]:
    """Return (parameter, default) for each constant default value of `func`."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(
        zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
    )
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d]
    return [(a.arg, d) for a, d in pairs if isinstance(d, ast.Constant)]


# -- source text of spans --------------------------------------------------------------------


def _span(node: ast.AST) -> _Span:
    return (
        node.lineno,  # type: ignore[attr-defined]
        node.col_offset,  # type: ignore[attr-defined]
        node.end_lineno,  # type: ignore[attr-defined]
        node.end_col_offset,  # type: ignore[attr-defined]
    )


def _between(a: ast.AST, b: ast.AST) -> _Span:
    """Return the span from the end of `a` to the start of `b` (an operator's gap)."""
    return (a.end_lineno, a.end_col_offset, b.lineno, b.col_offset)  # type: ignore[attr-defined]


def _cut(lines: Sequence[bytes], span: _Span) -> str:
    l1, c1, l2, c2 = span
    if l1 == l2:
        return lines[l1 - 1][c1:c2].decode("utf-8")
    parts = [lines[l1 - 1][c1:], *lines[l1 : l2 - 1], lines[l2 - 1][:c2]]
    return b"".join(parts).decode("utf-8")


def _replaced(lines: Sequence[bytes], span: _Span, text: str) -> list[str]:
    """Return the lines `span` touches, with the span replaced by `text`."""
    l1, c1, l2, c2 = span
    head = lines[l1 - 1][:c1].decode("utf-8")
    tail = lines[l2 - 1][c2:].decode("utf-8")
    return (head + text + tail).splitlines()


def _diff(file: str, source_lines: Sequence[str], span: _Span, new: Sequence[str]) -> str:
    """Return a unified diff with one line of context around the changed lines."""
    first, last = span[0], span[2]
    before = source_lines[first - 2] if first > 1 else None
    after = source_lines[last] if last < len(source_lines) else None
    old = source_lines[first - 1 : last]
    start = first - 1 if before is not None else first
    context_count = (before is not None) + (after is not None)
    out = [
        f"--- a/{file}",
        f"+++ b/{file}",
        f"@@ -{start},{len(old) + context_count} +{start},{len(new) + context_count} @@",
    ]
    out += [f" {before}"] if before is not None else []
    out += [f"-{line}" for line in old] + [f"+{line}" for line in new]
    out += [f" {after}"] if after is not None else []
    return "\n".join(out) + "\n"


# -- the operators ----------------------------------------------------------------------------

_BOUNDARY: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
}
_NEGATE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_CMP_TEXT: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_CMP_TOKEN = re.compile(r"==|!=|<=|>=|<|>|is\s+not|is|not\s+in|in")
_REMOVABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Assert, ast.Delete)


def _sub_token(pattern: str, new: str) -> Callable[[str], str]:
    """Return a function that replaces the first `pattern` in an operator's gap by `new`."""
    return lambda gap: re.sub(pattern, new, gap, count=1)


def _compare_variants(node: ast.Compare) -> Iterator[_Variant]:
    operands = [node.left, *node.comparators]
    for index, op in enumerate(node.ops):
        gap = _between(operands[index], operands[index + 1])
        for operator, table in (("comparison-boundary", _BOUNDARY), ("comparison-negate", _NEGATE)):
            new_op = table.get(type(op))
            if new_op is None:
                continue

            def apply(n: ast.AST, _p: ast.AST, i: int = index, new: type = new_op) -> None:
                n.ops[i] = new()  # type: ignore[attr-defined]

            text = _sub_token(_CMP_TOKEN.pattern, _CMP_TEXT[new_op])
            yield _Variant(operator, apply, gap, text)


def _boolop_variants(node: ast.BoolOp) -> Iterator[_Variant]:
    new_op = ast.Or if isinstance(node.op, ast.And) else ast.And
    word = "or" if new_op is ast.Or else "and"

    def apply(n: ast.AST, _p: ast.AST) -> None:
        n.op = new_op()  # type: ignore[attr-defined]

    # The unparsed node keeps precedence right when `and` turns into `or`.
    yield _Variant("boolean-swap", apply, _span(node), lambda _t: _unparse_swapped(node, word))


def _unparse_swapped(node: ast.BoolOp, word: str) -> str:
    parts = [ast.unparse(v) for v in node.values]
    return f" {word} ".join(
        f"({p})" if isinstance(v, ast.BoolOp) else p
        for p, v in zip(parts, node.values, strict=True)
    )


# As mutmut: each operator into its most plausible slip.
_ARITH: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Div,
    ast.Pow: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitAnd,
}
_ARITH_TEXT: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
}


def _arith_variants(node: ast.BinOp | ast.AugAssign) -> Iterator[_Variant]:
    new_op = _ARITH.get(type(node.op))
    left = node.left if isinstance(node, ast.BinOp) else node.target
    right = node.right if isinstance(node, ast.BinOp) else node.value
    gap = _between(left, right)
    if new_op is not None:
        old_text, new_text = _ARITH_TEXT[type(node.op)], _ARITH_TEXT[new_op]

        def apply(n: ast.AST, _p: ast.AST, new: type = new_op) -> None:
            n.op = new()  # type: ignore[attr-defined]

        yield _Variant("arithmetic-swap", apply, gap, _sub_token(re.escape(old_text), new_text))
    if isinstance(node, ast.AugAssign):
        target, value = node.target, node.value

        def assign(n: ast.AST, p: ast.AST) -> None:
            _replace_child(p, n, ast.Assign(targets=[target], value=value))

        yield _Variant("augmented-assign", assign, gap, _sub_token(r"\S+=", "="))


def _constant_variants(node: ast.Constant, parent: ast.AST) -> Iterator[_Variant]:
    value = node.value
    if isinstance(value, bool) and not isinstance(parent, ast.Return):  # returns: return-flip
        flipped = repr(not value)
        yield _Variant("bool-flip", _set_value(not value), _span(node), lambda _t: flipped)
    elif isinstance(value, str) and not _is_docstring(parent, None):
        new = f"XX{value}XX"
        yield _Variant("string-change", _set_value(new), _span(node), lambda _t: repr(new))
    elif not isinstance(value, bool) and isinstance(value, int | float):
        yield from _number_variants(node, value)


def _set_value(value: object) -> Callable[[ast.AST, ast.AST], None]:
    def apply(n: ast.AST, _p: ast.AST) -> None:
        n.value = value  # type: ignore[attr-defined]

    return apply


def _number_variants(node: ast.Constant, value: int | float) -> Iterator[_Variant]:
    for operator, delta in (("number-plus-one", 1), ("number-minus-one", -1)):
        new = value + delta

        def apply(n: ast.AST, _p: ast.AST, v: int | float = new) -> None:
            n.value = v  # type: ignore[attr-defined]

        def text(_t: str, v: int | float = new) -> str:
            return repr(v)

        yield _Variant(operator, apply, _span(node), text)


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, ast.copy_location(new, old))
            return
        if isinstance(value, list) and any(item is old for item in value):
            value[[id(item) for item in value].index(id(old))] = ast.copy_location(new, old)
            return


def _negate_test(node: ast.If | ast.While | ast.IfExp) -> Iterator[_Variant]:
    test = node.test
    if isinstance(test, ast.Compare) or (
        isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    ):
        return  # the comparison and `not` operators already make this mutant

    def apply(n: ast.AST, _p: ast.AST) -> None:
        old = n.test  # type: ignore[attr-defined]
        n.test = ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=old), old)  # type: ignore[attr-defined]

    yield _Variant("condition-negate", apply, _span(test), lambda t: f"not ({t})")


def _not_variants(node: ast.UnaryOp) -> Iterator[_Variant]:
    if isinstance(node.op, ast.USub | ast.UAdd | ast.Invert):

        def drop(n: ast.AST, parent: ast.AST) -> None:
            _replace_child(parent, n, n.operand)  # type: ignore[attr-defined]

        operand_text = ast.unparse(node.operand)
        yield _Variant("unary-remove", drop, _span(node), lambda _t: operand_text)
        return
    if not isinstance(node.op, ast.Not):
        return

    def apply(n: ast.AST, parent: ast.AST) -> None:
        _replace_child(parent, n, n.operand)  # type: ignore[attr-defined]

    operand = node.operand

    def text(original: str) -> str:
        return (
            original[original.index("not") + 3 :].lstrip()
            if "not" in original
            else ast.unparse(operand)
        )

    yield _Variant("not-remove", apply, _span(node), text)


def _return_variants(node: ast.Return) -> Iterator[_Variant]:
    value = node.value
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        new: bool | None = not value.value
        operator = "return-flip"
    else:
        new, operator = None, "return-none"

    def apply(n: ast.AST, _p: ast.AST) -> None:
        old = n.value  # type: ignore[attr-defined]
        n.value = ast.copy_location(ast.Constant(value=new), old)  # type: ignore[attr-defined]

    yield _Variant(operator, apply, _span(value), lambda _t: repr(new))


def _is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    body = getattr(parent, "body", None)
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str | type(Ellipsis))
        and (not body or body[0] is node or isinstance(node.value.value, type(Ellipsis)))
    )


def _remove_variants(node: ast.stmt, parent: ast.AST) -> Iterator[_Variant]:
    if not isinstance(node, _REMOVABLE) or _is_docstring(node, parent):
        return
    if isinstance(node, ast.AnnAssign) and node.value is None:
        return
    operator = "raise-remove" if isinstance(node, ast.Raise) else "statement-remove"

    def apply(n: ast.AST, p: ast.AST) -> None:
        _replace_child(p, n, ast.Pass())

    yield _Variant(operator, apply, _span(node), lambda _t: "pass")


def _call_variants(node: ast.Call, parent: ast.AST) -> Iterator[_Variant]:
    if isinstance(parent, ast.Expr):
        return  # statement-remove already drops a call made for its effect

    def apply(n: ast.AST, p: ast.AST) -> None:
        _replace_child(p, n, ast.Constant(value=None))

    yield _Variant("call-remove", apply, _span(node), lambda _t: "None")


def _assign_variants(node: ast.Assign) -> Iterator[_Variant]:
    if isinstance(node.value, ast.Constant) and node.value.value is None:
        return

    def apply(n: ast.AST, _p: ast.AST) -> None:
        old = n.value  # type: ignore[attr-defined]
        n.value = ast.copy_location(ast.Constant(value=None), old)  # type: ignore[attr-defined]

    yield _Variant("assign-none", apply, _span(node.value), lambda _t: "None")


def _loop_variants(node: ast.Break | ast.Continue) -> Iterator[_Variant]:
    new: type[ast.stmt] = ast.Continue if isinstance(node, ast.Break) else ast.Break
    word = "continue" if new is ast.Continue else "break"

    def apply(n: ast.AST, p: ast.AST) -> None:
        _replace_child(p, n, new())

    yield _Variant("break-continue", apply, _span(node), lambda _t: word)


def _variants(node: ast.AST, parent: ast.AST) -> list[_Variant]:
    """Return every change this tool makes at `node`, in a fixed order."""
    found: list[_Variant] = []
    if isinstance(node, ast.Compare):
        found += _compare_variants(node)
    elif isinstance(node, ast.BoolOp):
        found += _boolop_variants(node)
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        found += _arith_variants(node)
    elif isinstance(node, ast.Constant):
        found += _constant_variants(node, parent)
    elif isinstance(node, ast.UnaryOp):
        found += _not_variants(node)
    elif isinstance(node, ast.Call):
        found += _call_variants(node, parent)
    elif isinstance(node, ast.Break | ast.Continue):
        found += _loop_variants(node)
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        found += _negate_test(node)
    if isinstance(node, ast.Return):
        found += _return_variants(node)
    if isinstance(node, ast.Assign):
        found += _assign_variants(node)
    if isinstance(node, ast.stmt):
        found += _remove_variants(node, parent)
    return found


def _default_variant(value: object) -> object | None:
    """Return the new value of a constant default, or None when it has none."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return f"XX{value}XX"
    return None


# -- public API ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)  # one file holds the scopes of many invariants
def waived_lines(source: str) -> frozenset[int]:
    """Return the lines that carry a `# invariants: equivalent` comment."""
    found: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and WAIVER.search(tok.string):
                found.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError):
        return frozenset()
    return frozenset(found)


def _mutant_id(file: str, span: _Span, operator: str, taken: set[str]) -> str:
    base = f"{file}:{span[0]}:{span[1] + 1}:{operator}"
    mutant_id, n = base, 1
    while mutant_id in taken:
        n += 1
        mutant_id = f"{base}#{n}"
    taken.add(mutant_id)
    return mutant_id


def _mutant(
    file: str,
    site: _Site,
    index: int,
    number: int,
    variant: _Variant,
    texts: tuple[Sequence[bytes], Sequence[str], frozenset[int]],
    taken: set[str],
) -> Mutant:
    raw, text_lines, waived = texts
    new = _replaced(raw, variant.span, variant.text(_cut(raw, variant.span)))
    line, col = _span(site.node)[:2]
    end = max(line, variant.span[2])
    return Mutant(
        id=_mutant_id(file, variant.span, variant.operator, taken),
        operator=variant.operator,
        file=file,
        line=line,
        col=col + 1,
        function=site.function,
        function_line=site.function_line,
        site=index,
        variant=number,
        diff=_diff(file, text_lines, variant.span, new),
        waived=bool(waived.intersection(range(variant.span[0], variant.span[2] + 1)))
        or line in waived,
        end_line=end,
    )


def _default_mutants(
    file: str,
    qualname: str,
    func: _FunctionNode,
    texts: tuple[Sequence[bytes], Sequence[str], frozenset[int]],
    taken: set[str],
) -> Iterator[Mutant]:
    raw, text_lines, waived = texts
    for index, (param, node) in enumerate(_defaults(func)):
        value = _default_variant(node.value)
        if value is None:
            continue
        span = _span(node)
        new = _replaced(raw, span, repr(value))
        yield Mutant(
            id=_mutant_id(file, span, "default-argument", taken),
            operator="default-argument",
            file=file,
            line=span[0],
            col=span[1] + 1,
            function=qualname,
            function_line=_first_line(func),
            site=index,
            variant=0,
            diff=_diff(file, text_lines, span, new),
            waived=span[0] in waived,
            # A default is used by every call: a test reaches it by running the body.
            end_line=func.end_lineno or span[2],
            default_of=param,
            default_value=repr(value),
        )


def generate(source: str, file: str, lines: tuple[int, int] | None = None) -> list[Mutant]:
    """Return the mutants of the functions of `source` that overlap `lines` (None: all).

    A source that does not parse gives no mutants; the caller must treat zero
    mutants as "nothing measured", never as a pass.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    texts = (source.encode("utf-8").splitlines(), source.splitlines(), waived_lines(source))
    taken: set[str] = set()
    mutants: list[Mutant] = []
    for qualname, func in _functions(tree.body).items():
        if not _in_scope(func, lines):
            continue
        mutants.extend(_default_mutants(file, qualname, func, texts, taken))
        for index, site in enumerate(_sites(func, qualname)):
            for number, variant in enumerate(_variants(site.node, site.parent)):
                mutants.append(_mutant(file, site, index, number, variant, texts, taken))
    return mutants


def function_node(tree: ast.Module, qualname: str) -> _FunctionNode:
    """Return the definition of `qualname` in `tree` (the last one, as bound at run time)."""
    func = _functions(tree.body).get(qualname)
    if func is None:
        raise ValueError(f"{qualname} is not defined in this source")
    return func


def _mutate(func: _FunctionNode, mutant: Mutant) -> None:
    """Apply `mutant` to `func` in place (a body mutant; defaults go through the worker)."""
    sites = _sites(func, mutant.function)
    site = sites[mutant.site] if 0 <= mutant.site < len(sites) else None
    variants = _variants(site.node, site.parent) if site is not None else []
    if site is None or not 0 <= mutant.variant < len(variants):
        raise ValueError(f"mutant {mutant.id} does not match this source")
    variants[mutant.variant].apply(site.node, site.parent)


def mutated_tree(source: str, mutant: Mutant) -> ast.Module:
    """Return the module tree of `source` with `mutant` applied (a fresh tree each call)."""
    tree = ast.parse(source)
    try:
        func = function_node(tree, mutant.function)
    except ValueError:
        raise ValueError(f"mutant {mutant.id} does not match this source") from None
    if _first_line(func) != mutant.function_line:
        raise ValueError(f"mutant {mutant.id} does not match this source")
    if mutant.default_of:
        _, node = _defaults(func)[mutant.site]
        node.value = ast.literal_eval(mutant.default_value)
    else:
        _mutate(func, mutant)
    return ast.fix_missing_locations(tree)


def _find_code(code: CodeType, name: str, qualname: str, first_line: int) -> CodeType | None:
    for const in code.co_consts:
        if not isinstance(const, CodeType):
            continue
        same_qualname = getattr(const, "co_qualname", qualname) == qualname
        if const.co_name == name and const.co_firstlineno == first_line and same_qualname:
            return const
        found = _find_code(const, name, qualname, first_line)
        if found is not None:
            return found
    return None


def function_code(tree: ast.Module, filename: str, function: str, first_line: int) -> CodeType:
    """Compile `tree` as `filename` and return the code object of `function`.

    Raises SyntaxError or ValueError when the mutated tree does not compile or
    the function is not in it.
    """
    module = compile(tree, filename, "exec", dont_inherit=True)
    code = _find_code(module, function.rpartition(".")[2], function, first_line)
    if code is None:
        raise ValueError(f"{function} (line {first_line}) is not in the compiled module")
    return code


def _skeleton(tree: ast.Module, func: _FunctionNode, qualname: str) -> ast.Module:
    """Return a module holding only `func`, inside classes named as in its qualname.

    The function's code object compiles the same as in the whole module: same
    `__future__` flags, same name mangling, same `__class__` cell, and the
    module's imports (3.11 compiles `module.f()` differently when `module` was
    imported). Compiling one function instead of the module keeps a mutant's
    cost independent of the file's size.
    """
    body: list[ast.stmt] = [func]
    for name in reversed(qualname.split(".")[:-1]):
        body = [ast.ClassDef(name=name, bases=[], keywords=[], body=body, decorator_list=[])]
    return ast.fix_missing_locations(ast.Module(body=[*_imports(tree), *body], type_ignores=[]))


def _imports(tree: ast.Module) -> list[ast.stmt]:
    """Return the module-level imports (in `if`/`try` blocks too), `__future__` first."""
    found: list[ast.stmt] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        stmt = todo.pop(0)
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            found.append(stmt)
        elif isinstance(stmt, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                todo.extend(getattr(stmt, block, []))
            for handler in getattr(stmt, "handlers", []):
                todo.extend(handler.body)
    future = [s for s in found if isinstance(s, ast.ImportFrom) and s.module == "__future__"]
    return [*future, *(s for s in found if s not in future)]


def _clone(value: Any) -> Any:
    """Return a deep copy of an AST node (or list of nodes): nodes and lists copied, leaves shared.

    `copy.deepcopy` does the same through its generic protocol (a memo, a
    reduce call per node), four times slower: half of making a suite's
    mutants. A leaf is an identifier or a constant, immutable, so sharing it
    is safe.
    """
    if isinstance(value, ast.AST):
        new = value.__class__.__new__(value.__class__)
        fields = new.__dict__
        for name, item in value.__dict__.items():
            fields[name] = _clone(item) if isinstance(item, ast.AST | list) else item
        return new
    return [_clone(item) if isinstance(item, ast.AST | list) else item for item in value]


def mutant_code(
    tree: ast.Module, mutant: Mutant | None, filename: str, qualname: str = "", first: int = 0
) -> CodeType:
    """Compile the function of `mutant` (None: the original `qualname`) from the parsed source.

    `tree` is not changed. A default-argument mutant compiles to the original code.
    Raises SyntaxError or ValueError when the result does not compile.
    """
    qualname = mutant.function if mutant is not None else qualname
    first = mutant.function_line if mutant is not None else first
    func = _clone(function_node(tree, qualname))
    if mutant is not None and not mutant.default_of:
        _mutate(func, mutant)
    module = _skeleton(tree, func, qualname)
    return function_code(module, filename, qualname, first)


def code_fingerprint(code: CodeType) -> tuple[object, ...]:
    """Return what a code object does, leaving out where it came from (file, positions)."""
    consts = tuple(
        code_fingerprint(c) if isinstance(c, CodeType) else (type(c).__name__, repr(c))
        for c in code.co_consts
    )
    return (
        code.co_code,
        consts,
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        code.co_flags,
        code.co_argcount,
        code.co_kwonlyargcount,
    )


def distinct(source: str, mutants: Sequence[Mutant]) -> tuple[list[Mutant], int]:
    """Return the mutants that change the compiled code, each change once; and how many went.

    A mutant whose function compiles to the original code is equivalent (it
    cannot be killed); one that compiles to the same code as an earlier one is
    a duplicate (it would be killed or survive the same way).
    """
    kept, skipped, _ = distinct_code(source, mutants)
    return kept, skipped


def distinct_code(
    source: str, mutants: Sequence[Mutant], filename: str = "<scope>"
) -> tuple[list[Mutant], int, dict[str, CodeType]]:
    """Like `distinct`, and return each kept body mutant's code, compiled as `filename`.

    Telling equivalent mutants apart needs their code anyway; handing it on
    spares every forked child compiling its own mutant.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return list(mutants), 0, {}
    seen: set[tuple[str, tuple[object, ...]]] = set()
    originals: dict[str, tuple[object, ...]] = {}
    kept: list[Mutant] = []
    codes: dict[str, CodeType] = {}
    for mutant in mutants:
        if mutant.default_of:
            kept.append(mutant)  # the code stays; the default value changes
            continue
        try:
            if mutant.function not in originals:
                code = mutant_code(tree, None, filename, mutant.function, mutant.function_line)
                originals[mutant.function] = code_fingerprint(code)
            code = mutant_code(tree, mutant, filename)
        except (SyntaxError, ValueError, RecursionError):
            kept.append(mutant)  # the worker reports why it cannot be applied
            continue
        changed = code_fingerprint(code)
        key = (mutant.function, changed)
        if originals[mutant.function] == changed or key in seen:
            continue
        seen.add(key)
        kept.append(mutant)
        codes[mutant.id] = code
    return kept, len(mutants) - len(kept), codes

"""Small mutants of scope code, made from the source text alone (docs/prove.md).

Pure: source text goes in, `Mutant` values come out; nothing is imported,
executed or written. A mutant names a *site* (the n-th mutable node of the
module, in a fixed walk order) and a *variant* (which change at that site), so
the worker can rebuild exactly the same mutated tree from the same source.

Only code inside function bodies is mutated: that is the code a `__code__` swap
can replace. Default values, decorators and annotations run at import time (or
never), so changing them in a swapped code object would change nothing and
every such mutant would survive for no fault of the tests.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import CodeType

from pytest_invariants.load.scopes import first_line

__all__ = [
    "MUTATOR_VERSION",
    "WAIVER",
    "Mutant",
    "function_code",
    "generate",
    "mutated_tree",
    "waived_lines",
]

# Bump when the operators or the site order change: cached proofs become stale.
MUTATOR_VERSION = 1
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
    site: int
    variant: int
    diff: str
    waived: bool = False


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
    return first_line(node) <= lines[1] and last >= lines[0]


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


def _sites(tree: ast.Module) -> list[_Site]:
    """Return the mutable nodes of every function, numbered the same for the same source."""
    sites: list[_Site] = []
    for qualname, func in _functions(tree.body).items():
        body = ast.Module(body=func.body, type_ignores=[])
        sites.extend(_walk(body, qualname, first_line(func)))
    return sites


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


def _arith_variants(node: ast.BinOp | ast.AugAssign) -> Iterator[_Variant]:
    if not isinstance(node.op, ast.Add | ast.Sub):
        return
    new_op = ast.Sub if isinstance(node.op, ast.Add) else ast.Add
    old_text, new_text = ("+", "-") if new_op is ast.Sub else ("-", "+")

    def apply(n: ast.AST, _p: ast.AST) -> None:
        n.op = new_op()  # type: ignore[attr-defined]

    left = node.left if isinstance(node, ast.BinOp) else node.target
    right = node.right if isinstance(node, ast.BinOp) else node.value
    yield _Variant(
        "arithmetic-swap", apply, _between(left, right), _sub_token(re.escape(old_text), new_text)
    )


def _number_variants(node: ast.Constant) -> Iterator[_Variant]:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
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


def _is_docstring(node: ast.AST, parent: ast.AST) -> bool:
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
        found += _number_variants(node)
    elif isinstance(node, ast.UnaryOp):
        found += _not_variants(node)
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        found += _negate_test(node)
    if isinstance(node, ast.Return):
        found += _return_variants(node)
    if isinstance(node, ast.stmt):
        found += _remove_variants(node, parent)
    return found


# -- public API ------------------------------------------------------------------------------


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


def generate(source: str, file: str, lines: tuple[int, int] | None = None) -> list[Mutant]:
    """Return the mutants of the functions of `source` that overlap `lines` (None: all).

    A source that does not parse gives no mutants; the caller must treat zero
    mutants as "nothing measured", never as a pass.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    raw = source.encode("utf-8").splitlines()
    text_lines = source.splitlines()
    waived = waived_lines(source)
    taken: set[str] = set()
    mutants: list[Mutant] = []
    in_scope = {name for name, func in _functions(tree.body).items() if _in_scope(func, lines)}
    for index, site in enumerate(_sites(tree)):
        if site.function not in in_scope:
            continue
        for number, variant in enumerate(_variants(site.node, site.parent)):
            new = _replaced(raw, variant.span, variant.text(_cut(raw, variant.span)))
            line, col = _span(site.node)[:2]
            stmt_lines = range(variant.span[0], variant.span[2] + 1)
            mutants.append(
                Mutant(
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
                    waived=bool(waived.intersection(stmt_lines)) or line in waived,
                )
            )
    return mutants


def mutated_tree(source: str, mutant: Mutant) -> ast.Module:
    """Return the module tree of `source` with `mutant` applied (a fresh tree each call)."""
    tree = ast.parse(source)
    sites = _sites(tree)
    site = sites[mutant.site] if 0 <= mutant.site < len(sites) else None
    if site is None or site.function != mutant.function:
        raise ValueError(f"mutant {mutant.id} does not match this source")
    _variants(site.node, site.parent)[mutant.variant].apply(site.node, site.parent)
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

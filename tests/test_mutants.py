"""Mutant generation: which changes are made, where, and that they apply and compile."""

from __future__ import annotations

import textwrap
import types

import pytest

from pytest_invariants.prove.mutants import (
    Mutant,
    code_fingerprint,
    distinct,
    function_code,
    generate,
    mutant_code,
    mutated_tree,
    waived_lines,
)

SOURCE = textwrap.dedent('''\
    """A module."""
    from __future__ import annotations

    LIMIT = 10


    def check(x: int = 3) -> bool:
        """Say whether x is within the limit."""
        if x >= LIMIT and x != 0:
            raise ValueError(x)
        total = x + 1
        return not total


    class Cart:
        @staticmethod
        def size(items: list[int]) -> int:
            return len(items) - 2

        def flag(self) -> bool:
            return True


    def other() -> int:
        return 99
''')


def _ops(mutants: list[Mutant]) -> list[tuple[int, str]]:
    return [(m.line, m.operator) for m in mutants]


def _apply(mutant: Mutant, source: str = SOURCE) -> types.FunctionType:
    """Compile the mutated module and return the mutated function, built in a namespace."""
    tree = mutated_tree(source, mutant)
    namespace: dict[str, object] = {}
    exec(compile(tree, "mod.py", "exec"), namespace)
    head, _, tail = mutant.function.partition(".")
    obj = namespace[head]
    return getattr(obj, tail) if tail else obj  # type: ignore[return-value]


def test_scope_lines_limit_mutants_to_one_function() -> None:
    mutants = generate(SOURCE, "mod.py", (7, 12))
    assert {m.function for m in mutants} == {"check"}
    assert _ops(mutants) == [
        (7, "default-argument"),
        (9, "condition-negate"),
        (9, "boolean-swap"),
        (9, "comparison-boundary"),
        (9, "comparison-negate"),
        (9, "comparison-negate"),
        (9, "number-plus-one"),
        (9, "number-minus-one"),
        (10, "raise-remove"),
        (10, "call-remove"),
        (11, "assign-none"),
        (11, "statement-remove"),
        (11, "arithmetic-swap"),
        (11, "number-plus-one"),
        (11, "number-minus-one"),
        (12, "return-none"),
        (12, "not-remove"),
    ]


def test_annotations_and_docstrings_are_never_mutated_defaults_are() -> None:
    mutants = generate(SOURCE, "mod.py", (7, 12))
    assert 8 not in {m.line for m in mutants}  # the docstring
    (default,) = [m for m in mutants if m.line == 7]  # `x: int = 3`, never the annotation
    assert (default.operator, default.default_of, default.default_value) == (
        "default-argument",
        "x",
        "4",
    )
    assert "+def check(x: int = 4) -> bool:" in default.diff
    assert _apply(default).__defaults__ == (4,)


def test_whole_module_covers_methods_with_their_qualnames() -> None:
    functions = {m.function for m in generate(SOURCE, "mod.py")}
    assert functions == {"check", "Cart.size", "Cart.flag", "other"}


def test_diff_is_a_unified_diff_of_the_changed_line() -> None:
    boundary = next(m for m in generate(SOURCE, "mod.py") if m.operator == "comparison-boundary")
    assert boundary.diff.splitlines() == [
        "--- a/mod.py",
        "+++ b/mod.py",
        "@@ -8,3 +8,3 @@",
        '     """Say whether x is within the limit."""',
        "-    if x >= LIMIT and x != 0:",
        "+    if x > LIMIT and x != 0:",
        "         raise ValueError(x)",
    ]
    assert boundary.id == "mod.py:9:9:comparison-boundary"  # where the operator's gap starts


@pytest.mark.parametrize(
    ("operator", "argument", "expected"),
    [
        ("comparison-boundary", 10, False),  # 10 > 10 is False: no raise, returns not 11
        ("raise-remove", 12, False),
        ("return-none", 1, None),
        ("not-remove", 1, 2),
    ],
)
def test_mutants_apply_and_change_behaviour(operator: str, argument: int, expected: object) -> None:
    mutant = next(m for m in generate(SOURCE, "mod.py") if m.operator == operator)
    assert _apply(mutant)(argument) == expected


def test_bool_return_is_flipped_and_method_code_is_found() -> None:
    flip = next(m for m in generate(SOURCE, "mod.py") if m.operator == "return-flip")
    assert flip.function == "Cart.flag"
    code = function_code(mutated_tree(SOURCE, flip), "mod.py", flip.function, flip.function_line)
    assert code.co_name == "flag" and code.co_filename == "mod.py"
    assert code.co_firstlineno == flip.function_line
    assert _apply(flip)(None) is False


def test_static_method_code_object_keeps_line_numbers() -> None:
    size = next(m for m in generate(SOURCE, "mod.py") if m.function == "Cart.size")
    assert size.function_line == 16  # the decorator's line, as in co_firstlineno
    code = function_code(mutated_tree(SOURCE, size), "mod.py", size.function, size.function_line)
    assert code.co_firstlineno == 16


def test_a_redefined_function_mutates_only_the_last_definition() -> None:
    source = "def f(x):\n    return x + 1\n\n\ndef f(x):\n    return x - 1\n"
    assert {m.line for m in generate(source, "f.py")} == {6}


def test_waiver_comment_marks_the_mutant_as_waived() -> None:
    source = "def f(x):\n    return x * 1  # invariants: equivalent\n\n\ndef g(x):\n    return x\n"
    assert waived_lines(source) == frozenset({2})
    waived = {m.function: m.waived for m in generate(source, "f.py")}
    assert waived == {"f": True, "g": False}


def test_a_waiver_inside_a_string_is_not_a_waiver() -> None:
    source = 'def f():\n    return "# invariants: equivalent"\n'
    assert waived_lines(source) == frozenset()


def test_nothing_to_mutate_gives_no_mutants() -> None:
    assert generate("def f():\n    return None\n", "f.py") == []
    assert generate("def f(:\n", "broken.py") == []


def test_a_mutant_from_other_source_is_refused() -> None:
    mutant = generate(SOURCE, "mod.py")[0]
    with pytest.raises(ValueError, match="does not match"):
        mutated_tree("def zzz():\n    return 1\n", mutant)


def test_mutant_ids_are_unique() -> None:
    ids = [m.id for m in generate(SOURCE, "mod.py")]
    assert len(ids) == len(set(ids))


OPERATORS = textwrap.dedent("""\
    def f(items, n, flag=True, *, label="a"):
        total = 0
        for item in items:
            if item is None:
                continue
            if item in n:
                break
            total += item * 2
        name = str(total)
        value = -total
        return name, value, flag & False, label + "!"
""")


def test_mutmut_operators_are_made() -> None:
    operators = {m.operator for m in generate(OPERATORS, "f.py")}
    assert {
        "default-argument",
        "comparison-negate",  # is -> is not, in -> not in
        "break-continue",
        "arithmetic-swap",  # * -> /, & -> |
        "augmented-assign",  # += -> =
        "call-remove",
        "assign-none",
        "unary-remove",
        "bool-flip",
        "string-change",
        "statement-remove",
        "return-none",
    } <= operators


@pytest.mark.parametrize(
    ("operator", "line", "expected_line"),
    [
        ("break-continue", 5, "            break"),
        ("break-continue", 7, "            continue"),
        ("augmented-assign", 8, "        total = item * 2"),
        ("arithmetic-swap", 8, "        total -= item * 2"),
        ("call-remove", 9, "    name = None"),
        ("unary-remove", 10, "    value = total"),
    ],
)
def test_each_operator_diff_shows_the_change(operator: str, line: int, expected_line: str) -> None:
    mutants = generate(OPERATORS, "f.py")
    diffs = [m.diff for m in mutants if (m.operator, m.line) == (operator, line)]
    assert any(f"+{expected_line}\n" in d for d in diffs), diffs


def test_augmented_assignment_becomes_plain_assignment() -> None:
    mutant = next(m for m in generate(OPERATORS, "f.py") if m.operator == "augmented-assign")
    # only the last item counts
    assert _apply(mutant, OPERATORS)([1, 2], []) == ("4", -4, False, "a!")


IMPORTS = """\
import collections
try:
    import json
except ImportError:
    json = None


def f(x):
    return collections.defaultdict(list), json.dumps(x)
"""


@pytest.mark.parametrize(
    ("source", "functions"),
    [(SOURCE, (("check", 7), ("Cart.size", 16), ("Cart.flag", 20))), (IMPORTS, (("f", 8),))],
)
def test_one_function_compiles_like_the_whole_module(
    source: str, functions: tuple[tuple[str, int], ...]
) -> None:
    import ast

    tree = ast.parse(source)  # 3.11 compiles `module.attr()` by whether `module` was imported
    for name, first in functions:
        alone = mutant_code(tree, None, "mod.py", name, first)
        whole = function_code(tree, "mod.py", name, first)
        assert code_fingerprint(alone) == code_fingerprint(whole)
        assert alone.co_firstlineno == first


def test_a_duplicate_mutant_is_skipped() -> None:
    # return-none on `return f(x)` and call-remove of `f(x)` give the same code.
    source = "def g(x):\n    return h(x)\n"
    mutants = generate(source, "g.py")
    assert {m.operator for m in mutants} == {"return-none", "call-remove"}
    kept, skipped = distinct(source, mutants)
    assert [m.operator for m in kept] == ["return-none"] and skipped == 1


def test_an_equivalent_mutant_is_skipped() -> None:
    # Removing the only statement of a body gives `pass`, which compiles like `x = x` removed
    # ... nothing; but `return -0` -> unary-remove gives `return 0`: the same constant.
    source = "def g():\n    return -0\n"
    mutants = generate(source, "g.py")
    assert "unary-remove" in {m.operator for m in mutants}
    kept, skipped = distinct(source, mutants)
    assert "unary-remove" not in {m.operator for m in kept} and skipped >= 1

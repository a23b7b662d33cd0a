"""Tests for static scope resolution: no import, last definition wins, lines and reads."""

from __future__ import annotations

import ast
import os
import sys
import textwrap
from pathlib import Path

import pytest
from coverage.config import DEFAULT_EXCLUDE
from coverage.parser import PythonParser

from pytest_invariants.load.scopes import (
    ScopeResolver,
    find_module_source,
    module_name_for_file,
    resolve_scope,
    search_path,
)
from pytest_invariants.model import Location, Problem, ScopeEntry, ScopeKind

AT = Location("invariants.yaml", 7, 9)

BILLING = '''\
"""Billing."""
import time
import shop.clock as clock
from shop.gateway import CardGateway
from typing import overload

gateway = CardGateway()
RETRIES = 3


def retry(f):
    return f


@retry
@retry
def charge_order(order):
    """Charge once."""
    if order.paid:
        raise ValueError(order)
    time.sleep(0.1)
    receipt = gateway.charge(order.card, RETRIES)
    clock.now()
    return receipt


def shadowing(gateway):
    RETRIES = 1
    return gateway.charge(RETRIES)


def uses_global():
    global RETRIES
    RETRIES = RETRIES + 1
    return [CardGateway for _ in range(RETRIES)]


@overload
def parse(x: int) -> int: ...
@overload
def parse(x: str) -> str: ...
def parse(x):
    return x


def again():
    return 1


def again():
    return 2


class Ledger:
    """A ledger."""
    entries = []

    def post(self, amount):
        return amount

    class Page:
        size = 10

        @staticmethod
        def turn(n):
            return lambda: n + 1


class Ledger:
    def close(self):
        return None


def outer():
    def inner():
        return gateway
    return inner
'''


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Return a rootdir with `src/shop` (billing, ledger, clock) and a namespace package."""
    shop = tmp_path / "src" / "shop"
    shop.mkdir(parents=True)
    (shop / "__init__.py").write_text("VERSION = 1\n")
    (shop / "billing.py").write_text(BILLING)
    (shop / "clock.py").write_text("def now():\n    return 0\n")
    (shop / "ledger.py").write_text("def post(x):\n    return x\n")
    (shop / "gateway.py").write_text(
        "class CardGateway:\n    def charge(self, *a):\n        pass\n"
    )
    space = tmp_path / "src" / "space"
    space.mkdir()
    (space / "thing.py").write_text("def run():\n    return 1\n")
    return tmp_path


def resolve(root: Path, raw: str) -> ScopeEntry:
    entry = resolve_scope(raw, root, [root / "src"], AT)
    assert isinstance(entry, ScopeEntry), entry
    return entry


def failure(root: Path, raw: str) -> Problem:
    entry = resolve_scope(raw, root, [root / "src"], AT)
    assert isinstance(entry, Problem), entry
    assert entry.location == AT
    return entry


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_function_range_includes_decorators(root: Path) -> None:
    entry = resolve(root, "shop.billing:charge_order")
    assert entry.kind is ScopeKind.QUALNAME
    assert entry.file == "src/shop/billing.py"
    assert entry.dotted == "shop.billing.charge_order"
    assert entry.lines == (
        line_of(BILLING, "def charge_order") - 2,
        line_of(BILLING, "return receipt"),
    )
    assert entry.location == AT


def test_overload_and_redefinition_pick_the_last_definition(root: Path) -> None:
    parse = resolve(root, "shop.billing:parse")
    assert parse.lines == (line_of(BILLING, "def parse(x):"), line_of(BILLING, "def parse(x):") + 1)
    again = resolve(root, "shop.billing:again")
    assert again.lines is not None and again.lines[0] == line_of(BILLING, "return 2") - 1


def test_a_redefined_class_replaces_its_members(root: Path) -> None:
    assert resolve(root, "shop.billing:Ledger.close").dotted == "shop.billing.Ledger.close"
    problem = failure(root, "shop.billing:Ledger.post")
    assert "defines no function or class `Ledger.post`" in problem.what


def test_nested_class_method_and_nested_function(root: Path) -> None:
    problem = failure(root, "shop.billing:Ledger.Page.turn")  # the first Ledger is gone
    assert "Ledger.Page.turn" in problem.what
    inner = resolve(root, "shop.billing:outer.inner")
    assert inner.dotted == "shop.billing.outer.<locals>.inner"
    assert resolve(root, "shop.billing:outer.<locals>.inner").lines == inner.lines


def test_nested_class_method(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "class A:\n    class B:\n        @staticmethod\n        def f():\n            return 1\n"
    )
    entry = resolve_scope("m:A.B.f", tmp_path, [tmp_path], AT)
    assert isinstance(entry, ScopeEntry)
    assert entry.lines == (3, 5) and entry.executable == frozenset({5})


def test_whole_module_package_and_namespace_package(root: Path) -> None:
    module = resolve(root, "shop.billing")
    assert (module.kind, module.lines, module.dotted) == (ScopeKind.MODULE, None, "shop.billing")
    package = resolve(root, "shop")
    assert package.file == "src/shop/__init__.py" and package.dotted == "shop"
    inside = resolve(root, "space.thing:run")
    assert inside.file == "src/space/thing.py" and inside.executable == frozenset({2})
    assert "namespace package" in failure(root, "space").what


def test_file_entries(root: Path) -> None:
    entry = resolve(root, "src/shop/ledger.py")
    assert (entry.kind, entry.file, entry.dotted, entry.lines) == (
        ScopeKind.FILE,
        "src/shop/ledger.py",
        "shop.ledger",
        None,
    )
    scripts = root / "scripts"
    scripts.mkdir()
    (scripts / "tool.py").write_text("import os\ndef main():\n    return os.getcwd()\n")
    tool = resolve(root, "scripts/tool.py")
    assert tool.dotted is None
    assert tool.reads == frozenset({"scripts/tool.py.os.getcwd", "os.getcwd"})


def test_a_file_outside_the_rootdir_is_refused(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.py"
    elsewhere.write_text("def f():\n    return 1\n")
    for raw in (str(elsewhere), os.path.relpath(elsewhere, root)):
        problem = failure(root, raw)
        assert problem.what == f"`{raw}` is outside the project (the rootdir {root.resolve()})"


def test_executable_is_coverage_statements_inside_function_bodies(root: Path) -> None:
    path = root / "src" / "shop" / "billing.py"
    # coverage's default exclusions apply: `# pragma: no cover` and `...` stub bodies.
    exclude = "|".join(f"(?:{regex})" for regex in DEFAULT_EXCLUDE)
    parser = PythonParser(text=BILLING, filename=str(path), exclude=exclude)
    parser.parse_source()
    tree = ast.parse(BILLING)
    bodies = [
        (node.body[0].lineno, node.end_lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
    ]
    lambdas = [
        (node.lineno, node.end_lineno) for node in ast.walk(tree) if isinstance(node, ast.Lambda)
    ]
    expected = {
        line
        for line in parser.statements
        if any(a <= line <= (b or a) for a, b in bodies + lambdas)
    }
    module = resolve(root, "shop.billing")
    assert module.executable == expected
    # Spelled out for charge_order: the docstring, the def and decorators are not there.
    charge = resolve(root, "shop.billing:charge_order")
    first = line_of(BILLING, "if order.paid")
    assert charge.executable == frozenset(range(first, first + 6))
    # A class: only its methods' bodies, never its class-body statements.
    assert resolve(root, "shop.billing:Ledger").executable == {line_of(BILLING, "return None")}


def test_pragma_no_cover_lines_are_not_executable(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "def f(x):\n    if x:  # pragma: no cover\n        return 1\n    return 2\n"
    )
    entry = resolve_scope("m:f", tmp_path, [tmp_path], AT)
    assert isinstance(entry, ScopeEntry) and entry.executable == frozenset({4})


@pytest.mark.invariant("LOAD-006")
def test_reads_of_module_level_names(root: Path) -> None:
    charge = resolve(root, "shop.billing:charge_order")
    # Whole attribute chains only, as the module spells them and through the import.
    assert charge.reads == {
        "shop.billing.gateway.charge",  # the MagicMock target a test would patch
        "shop.billing.time.sleep",
        "time.sleep",  # `import time` + `time.sleep(...)`
        "shop.billing.clock.now",
        "shop.clock.now",  # `import shop.clock as clock`
        "shop.billing.RETRIES",
        "builtins.ValueError",  # neither local nor global: looked up in builtins at run time
    }
    assert charge.module_reads == frozenset()  # no chain ends at a module
    assert "shop.billing.retry" not in charge.reads  # decorators run at import
    assert "shop.billing.order" not in charge.reads  # a parameter


def test_a_local_shadowing_a_global_is_not_a_read(root: Path) -> None:
    shadowing = resolve(root, "shop.billing:shadowing")
    assert shadowing.reads == frozenset()


def test_global_declaration_and_from_import(root: Path) -> None:
    reads = resolve(root, "shop.billing:uses_global").reads
    assert "shop.billing.RETRIES" in reads
    assert "shop.billing.range" not in reads  # a builtin: read where it lives
    assert "builtins.range" in reads
    assert {"shop.billing.CardGateway", "shop.gateway.CardGateway"} <= reads
    assert not any(name.endswith("._") for name in reads)  # the comprehension variable


def test_closures_read_through_to_module_names(root: Path) -> None:
    assert "shop.billing.gateway" in resolve(root, "shop.billing:outer.inner").reads


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from . import b\nfrom .b import g\ndef f():\n    return b.h(g)\n"
    )
    (package / "b.py").write_text("def g():\n    pass\ndef h(x):\n    pass\n")
    entry = resolve_scope("pkg.a:f", tmp_path, [tmp_path], AT)
    assert isinstance(entry, ScopeEntry)
    assert entry.reads == {"pkg.b.h", "pkg.b.g", "pkg.a.b.h", "pkg.a.g"}


NOTIFY = '''\
"""Notifications."""
from __future__ import annotations

import typing
from typing import TYPE_CHECKING

import shop.gateway
from shop import clock
from shop.gateway import CardGateway

if TYPE_CHECKING:
    from shop.ledger import post
else:
    from shop.ledger import post as runtime_post

if typing.TYPE_CHECKING:
    import shop.billing as billing


def send(order: CardGateway, when: clock.Clock | None = None) -> CardGateway:
    """Reads CardGateway only in annotations; post only exists for type checkers."""
    stamp: CardGateway | None = None
    wanted: typing.Optional[int] = order.total
    def inner(x: CardGateway) -> billing.Ledger:
        return x
    if stamp is None:
        return shop.gateway.CardGateway.charge(order, post, billing, runtime_post, wanted)
    return inner(clock)
'''


@pytest.mark.invariant("LOAD-006")
def test_annotations_docstrings_and_type_checking_names_are_not_reads(root: Path) -> None:
    (root / "src" / "shop" / "notify.py").write_text(NOTIFY)
    entry = resolve(root, "shop.notify:send")
    assert entry.reads == {
        "shop.notify.shop.gateway.CardGateway.charge",
        "shop.gateway.CardGateway.charge",
        "shop.notify.runtime_post",  # bound in the `else` of `if TYPE_CHECKING`
        "shop.ledger.post",
        "shop.notify.clock",  # the module itself, passed as a value
        "shop.clock",
    }
    assert entry.module_reads == {"shop.notify.clock", "shop.clock"}


@pytest.mark.invariant("LOAD-006")
def test_reads_without_future_annotations_skip_local_annotations(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import decimal\n"
        "def f(x: decimal.Decimal) -> decimal.Decimal:\n"
        "    y: decimal.Context = None\n"
        "    return y\n"
    )
    entry = resolve_scope("m:f", tmp_path, [tmp_path], AT)
    assert isinstance(entry, ScopeEntry) and entry.reads == frozenset()


def test_problems_say_what_was_meant(root: Path) -> None:
    assert "did you mean `charge_order`?" in failure(root, "shop.billing:charge_ordr").fix
    assert "did you mean `shop.ledger`?" in failure(root, "shop.ledgr").fix
    assert "`shop.billing:charge_order`" in failure(root, "shop.billing.charge_order").fix
    assert "did you mean `src/shop/ledger.py`" in failure(root, "src/shop/ledgr.py").fix
    assert "is a folder" in failure(root, "src/shop/").what
    assert "not a valid code entry" in failure(root, "shop:charge order").what
    assert "no module `nosuch`" in failure(root, "nosuch:f").what


def test_a_syntax_error_in_the_scope_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    problem = resolve_scope("broken:f", tmp_path, [tmp_path], AT)
    assert isinstance(problem, Problem) and "cannot parse broken.py" in problem.what


@pytest.mark.invariant("LOAD-004")
def test_resolving_never_imports_user_code(tmp_path: Path) -> None:
    sentinel = tmp_path / "imported.txt"
    package = tmp_path / "src" / "sentinelshop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f"from pathlib import Path\nPath({str(sentinel)!r}).write_text('imported')\n"
    )
    (package / "billing.py").write_text("def charge():\n    return 1\n")
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    resolver = ScopeResolver(tmp_path, [tmp_path / "src"])
    raws = [
        "sentinelshop",
        "sentinelshop.billing",
        "sentinelshop.billing:charge",
        "sentinelshop.billing:nope",
        "sentinelshop.sub.missing",
        "sentinelshop.billing.charge",
        "src/sentinelshop/billing.py",
    ]
    for raw in raws:
        resolver.resolve(raw, AT)
    assert find_module_source("sentinelshop.sub", [tmp_path / "src"]) is not None
    assert not sentinel.exists()
    assert "sentinelshop" not in sys.modules


def test_module_name_for_file_prefers_the_most_specific_root(root: Path) -> None:
    ledger = root / "src" / "shop" / "ledger.py"
    assert module_name_for_file(ledger, [root, root / "src"]) == "shop.ledger"
    assert module_name_for_file(root / "src" / "shop" / "__init__.py", [root / "src"]) == "shop"
    assert module_name_for_file(ledger, [root / "elsewhere"]) is None


@pytest.mark.invariant("LOAD-004")
def test_find_module_source(root: Path) -> None:
    src = root / "src"
    assert find_module_source("shop.billing", [src]) == src / "shop" / "billing.py"
    assert find_module_source("shop.billing.deeper", [src]) is None
    assert find_module_source("space", [src]) is None  # namespace package: no file
    assert find_module_source("not valid", [src]) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\npythonpath = lib other\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["lib", "other"]\n'),
        ("pyproject.toml", '[tool.pytest]\npythonpath = ["lib", "other"]\n'),
        ("setup.cfg", "[tool:pytest]\npythonpath = lib\n  other\n"),
        ("tox.ini", "[pytest]\npythonpath = lib other\n"),
    ],
)
def test_search_path_reads_pytest_pythonpath(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(textwrap.dedent(text))
    found = search_path(tmp_path)
    assert found[:4] == [tmp_path / "lib", tmp_path / "other", tmp_path, tmp_path / "src"]
    assert len(found) > 4  # sys.path follows


def test_an_empty_pytest_ini_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("")
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["lib"]\n')
    assert search_path(tmp_path)[:2] == [tmp_path, tmp_path / "src"]

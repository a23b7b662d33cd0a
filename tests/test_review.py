"""`invariants review` and the `reviewed:` fingerprint: what makes an invariant suspect."""

from __future__ import annotations

import ast
import difflib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.cli.main import main as cli_main
from pytest_invariants.load.loading import load_invariants
from pytest_invariants.load.scopes import search_path
from pytest_invariants.model import Invariant, InvariantSet, ScopeEntry, ScopeKind, Severity
from pytest_invariants.review.edit import ReviewError, set_reviewed
from pytest_invariants.review.fingerprint import (
    PREFIX,
    canonical,
    disk_reader,
    find_definition,
    fingerprint,
    scope_code,
    suspect_ids,
)

from .test_diff import BILLING, Project, run


@pytest.fixture
def project(tmp_path: Path) -> Project:
    repo = Project(tmp_path / "repo")
    repo.seed()
    return repo


def load(root: Path) -> InvariantSet:
    invariant_set, problems = load_invariants([root / "invariants.yaml"], root, search_path(root))
    assert invariant_set is not None, problems
    return invariant_set


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# -- the normalised tree ------------------------------------------------------------------


def test_layout_comments_and_docstrings_do_not_count() -> None:
    plain = "def f(a, b):\n    return a + b\n"
    dressed = (
        'def f(a,\n      b):  # adds\n    """Add."""\n    # really\n    return (a +\n'
        "            b)\n"
    )
    assert scope_code(plain, "f") == scope_code(dressed, "f")
    assert scope_code(plain, "f") != scope_code(plain.replace("+", "-"), "f")


def test_moving_a_definition_within_a_module_does_not_count() -> None:
    one = "X = 1\n\ndef a():\n    return 1\n\ndef b():\n    return 2\n"
    two = "X = 1\n\ndef b():\n    return 2\n\n\n\ndef a():\n    return 1\n"
    assert scope_code(one, None) == scope_code(two, None)
    assert scope_code(one, None) != scope_code(one.replace("X = 1", "X = 2"), None)


def test_the_definition_bound_last_is_the_scope() -> None:
    source = (
        "from typing import overload\n"
        "class C:\n"
        "    @overload\n    def m(self, x: int) -> int: ...\n"
        "    def m(self, x):\n        return x\n"
        "def g():\n    return 1\n"
        "def g():\n    return 2\n"
    )
    tree = ast.parse(source)
    method = find_definition(tree, "C.m")
    assert isinstance(method, ast.FunctionDef) and method.lineno == 5
    again = find_definition(tree, "g")
    assert isinstance(again, ast.FunctionDef) and again.lineno == 9
    assert find_definition(tree, "C.nope") is None
    assert scope_code("def (:", "f") is None


def test_nested_qualnames_and_canonical_of_a_node() -> None:
    tree = ast.parse("def outer():\n    def inner():\n        return 1\n    return inner\n")
    inner = find_definition(tree, "outer.<locals>.inner")
    assert isinstance(inner, ast.FunctionDef)
    assert '"name": "inner"' in canonical(inner)


# -- the fingerprint ----------------------------------------------------------------------


def _entry() -> ScopeEntry:
    return ScopeEntry(
        "shop.billing:refund",
        ScopeKind.QUALNAME,
        "src/shop/billing.py",
        "shop.billing.refund",
        (11, 13),
    )


def _invariant(**fields: Any) -> Invariant:
    inv = Invariant(
        "PAY-002",
        "Refunds",
        "Money back.",
        "team",
        Severity.HIGH,
        code=(_entry(),),
        must_be_real=("shop.db",),
        allow_doubles=("shop.clock",),
    )
    return replace(inv, **fields)


def _read(path: str) -> str | None:
    return BILLING if path == "src/shop/billing.py" else None


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "Refunds!"},
        {"why": "Law."},
        {"code": ()},
        {"must_be_real": ()},
        {"allow_doubles": ("shop.clock", "shop.db")},
    ],
)
def test_meaning_changes_the_fingerprint(fields: dict[str, Any]) -> None:
    assert fingerprint(_invariant(**fields), _read) != fingerprint(_invariant(), _read)


@pytest.mark.parametrize(
    "fields",
    [
        {"owner": "other"},
        {"severity": Severity.LOW},
        {"tags": ("x",)},
        {"tests": ("t::*",)},
        {"why": "  Money\n back. "},
        {"must_be_real": ("shop.db",)},
        {"reviewed": "sha256:0"},
    ],
)
def test_other_fields_and_reflowed_text_do_not(fields: dict[str, Any]) -> None:
    assert fingerprint(_invariant(**fields), _read) == fingerprint(_invariant(), _read)


def test_fingerprint_form() -> None:
    value = fingerprint(_invariant(), _read)
    assert value.startswith(PREFIX) and len(value) == len(PREFIX) + 64


def test_missing_code_still_fingerprints() -> None:
    assert fingerprint(_invariant(), lambda _path: None) != fingerprint(_invariant(), _read)


# -- review, then suspect ---------------------------------------------------------------------


def test_review_edits_only_the_reviewed_lines(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    before = project.read("invariants.yaml")
    code, out, err = run(capsys, project.root, "review", "PAY-001", "PAY-002")
    assert code == 0, err
    assert "invariants review: PAY-001 reviewed (sha256:" in out
    after = project.read("invariants.yaml")
    fps = {inv.id: inv.reviewed for inv in load(project.root).invariants}
    assert changed_lines(before, after) == [
        f'+    reviewed: "{fps["PAY-001"]}"',
        f'+    reviewed: "{fps["PAY-002"]}"',
    ]
    # The new key sits inside its own invariant, before the blank line that ends it.
    assert f'"tests/test_charge.py::test_retry_*"]\n    reviewed: "{fps["PAY-001"]}"\n\n' in after
    assert fps["DB-001"] is None
    assert suspect_ids(load(project.root), disk_reader(project.root)) == set()


def test_check_fail_on_suspect_does_not_end_with_valid(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, project.root, "review", "PAY-002")[0] == 0
    project.edit("src/shop/billing.py", "order.paid = False", "order.paid = None")
    root = str(project.root)
    assert cli_main(["check", "--rootdir", root]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("are valid")
    assert cli_main(["check", "--rootdir", root, "--fail-on-suspect"]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(
        "invariants check failed: 1 invariant(s) need `invariants review` (--fail-on-suspect)"
    )
    assert not last.endswith("are valid")


def test_re_review_rewrites_the_value_in_place(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit(
        "invariants.yaml",
        "code: [shop.billing:refund]",
        "code: [shop.billing:refund]\n    reviewed: 'sha256:old'  # keep me",
    )
    before = project.read("invariants.yaml")
    assert suspect_ids(load(project.root), disk_reader(project.root)) == {"PAY-002"}
    assert run(capsys, project.root, "review", "PAY-002")[0] == 0
    after = project.read("invariants.yaml")
    (value,) = [inv.reviewed for inv in load(project.root).invariants if inv.id == "PAY-002"]
    assert changed_lines(before, after) == [
        "-    reviewed: 'sha256:old'  # keep me",
        f'+    reviewed: "{value}"  # keep me',
    ]
    code, out, _ = run(capsys, project.root, "review", "PAY-002")
    assert (code, out) == (0, "invariants review: 1 already up to date\n")


def test_formatting_only_changes_are_not_suspect(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, project.root, "review", "--all")[0] == 0
    project.edit(
        "src/shop/billing.py",
        "def charge_order(order):\n",
        'def charge_order(\n    order,\n):  # main entry\n    """Charge once."""\n',
    )
    project.edit("src/shop/billing.py", '"""Billing."""\n', '"""Billing."""\n# moved down\n\n')
    project.edit(
        "invariants.yaml",
        "title: A card is never charged twice for one order",
        "title: >-\n      A card is never charged\n      twice for one order",
    )
    project.edit("invariants.yaml", "severity: critical", "severity: high")
    assert suspect_ids(load(project.root), disk_reader(project.root)) == set()
    project.edit("src/shop/billing.py", "        return False\n", "        return True\n")
    assert suspect_ids(load(project.root), disk_reader(project.root)) == {"PAY-001"}


def test_meaning_change_makes_it_suspect(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, project.root, "review", "--all")[0] == 0
    project.edit("invariants.yaml", "must_be_real: [shop.db]", "must_be_real: []")
    project.edit("src/shop/db.py", "return row", "return [row]")
    assert suspect_ids(load(project.root), disk_reader(project.root)) == {"PAY-001", "DB-001"}


def test_review_in_an_invariants_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "p"
    (root / "invariants").mkdir(parents=True)
    (root / "mod.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    for name in ("a", "b"):
        (root / "invariants" / f"{name}.yaml").write_text(
            f"version: 1\ninvariants:\n- id: {name.upper()}-1\n  title: t\n  why: w\n"
            f"  owner: o\n  code:\n  - mod:f\n",
            encoding="utf-8",
        )
    assert run(capsys, root, "review", "--all")[0] == 0
    for name in ("a", "b"):
        text = (root / "invariants" / f"{name}.yaml").read_text(encoding="utf-8")
        assert '  - mod:f\n  reviewed: "sha256:' in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("PAY-01",), "unknown invariant id 'PAY-01' -- did you mean PAY-001?"),
        ((), "name the invariants to review (IDs), or pass --all"),
        (("--invariants", "nope.yaml", "PAY-001"), "--invariants names nope.yaml, which does not"),
    ],
)
def test_review_usage_errors(
    project: Project, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    before = project.read("invariants.yaml")
    code, out, err = run(capsys, project.root, "review", *argv)
    assert (code, out) == (2, "")
    assert message in err
    assert project.read("invariants.yaml") == before


def test_review_refuses_invalid_files(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.edit("invariants.yaml", "severity: high", "severity: huge")
    code, _, err = run(capsys, project.root, "review", "PAY-001")
    assert code == 2
    assert "invariants.yaml:22:" in err and "fix these before reviewing" in err


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    with open(Path(__file__).parents[1] / "pyproject.toml", "rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)["project"]
    return data


def test_review_needs_no_extra() -> None:
    # A plain `pip install pytest-invariants` must give a working `invariants review`:
    # ruamel.yaml is an ordinary dependency, and the old `[review]` extra still installs.
    project = _pyproject()
    names = [req.split(">")[0].split("=")[0].strip() for req in project["dependencies"]]
    assert "ruamel.yaml" in names
    assert project["optional-dependencies"]["review"] == []


def test_review_edit_imports_ruamel_at_the_top() -> None:
    # No lazy import left that could turn a missing library into a late, odd error.
    edit = Path(__file__).parents[1] / "src/pytest_invariants/review/edit.py"
    tree = ast.parse(edit.read_text(encoding="utf-8"))
    top = [n.module for n in tree.body if isinstance(n, ast.ImportFrom)]
    nested = [
        n.module
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for n in ast.walk(fn)
        if isinstance(n, ast.ImportFrom)
    ]
    assert "ruamel.yaml" in top and "ruamel.yaml" not in nested


# -- the text edit itself -------------------------------------------------------------------


def test_set_reviewed_keeps_crlf_and_compact_sequences() -> None:
    text = (
        "version: 1\r\ninvariants:\r\n- id: A\r\n  code:\r\n  - m:f\r\n  # trailing\r\n"
        "- id: B\r\n  title: x\r\n"
    )
    assert set_reviewed(text, {"A": "sha256:1"}) == (
        "version: 1\r\ninvariants:\r\n- id: A\r\n  code:\r\n  - m:f\r\n"
        '  reviewed: "sha256:1"\r\n  # trailing\r\n- id: B\r\n  title: x\r\n'
    )


def test_set_reviewed_after_a_block_scalar_and_at_end_without_newline() -> None:
    text = "invariants:\n  - id: A\n    why: |\n      line one\n\n      line two\n  - id: B"
    edited = set_reviewed(text, {"A": "sha256:1", "B": "sha256:2"})
    assert edited == (
        "invariants:\n  - id: A\n    why: |\n      line one\n\n      line two\n"
        '    reviewed: "sha256:1"\n  - id: B\n    reviewed: "sha256:2"\n'
    )


def test_set_reviewed_falls_back_for_flow_style() -> None:
    edited = set_reviewed("invariants:\n- {id: A, title: t}\n", {"A": "sha256:1"})
    assert "sha256:1" in edited and "title: t" in edited


def test_set_reviewed_unknown_id() -> None:
    with pytest.raises(ReviewError, match="no invariant with id Z"):
        set_reviewed("invariants:\n- id: A\n", {"Z": "sha256:1"})


def test_review_keeps_the_file_mode(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    path = project.root / "invariants.yaml"
    path.chmod(0o644)
    assert run(capsys, project.root, "review", "PAY-001")[0] == 0
    assert path.stat().st_mode & 0o777 == 0o644

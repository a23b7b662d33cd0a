"""`invariants diff`: invariant and guarded-code changes between real git revisions."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.cli import review as cli_review
from pytest_invariants.model import (
    GatePolicy,
    Invariant,
    InvariantResult,
    InvariantSet,
    Lifecycle,
    Link,
    LinkKind,
    Location,
    Outcome,
    RunResults,
    Severity,
    Status,
)
from pytest_invariants.reports.diff import render_github
from pytest_invariants.results import write_results
from pytest_invariants.review.compare import Effect, compare_gate, compare_invariants
from pytest_invariants.review.gitfiles import parse_unified_diff

BILLING = '''\
"""Billing."""


def charge_order(order):
    if order.paid:
        return False
    order.paid = True
    return True


def refund(order):
    order.paid = False
    return order


def helper():
    return 1
'''

DB = """\
def save(row):
    return row
"""

INVARIANTS = """\
# The rules that must never break.
version: 1
defaults:
  owner: payments-team
gate:
  fail_on:
    critical: [failing, unverified]
invariants:
  - id: PAY-001
    title: A card is never charged twice for one order
    why: Double charges cause chargebacks.
    severity: critical
    code:
      - shop.billing:charge_order
    must_be_real: [shop.db]
    allow_doubles: [shop.clock]
    tests: ["tests/test_charge.py::test_retry_*"]

  - id: PAY-002  # refunds
    title: A refund marks the order unpaid
    why: Customers get their money back.
    severity: high
    code: [shop.billing:refund]

  - id: DB-001
    title: Rows are saved as given
    why: Data loss.
    severity: medium
    code: [shop.db]
"""


class Project:
    """A git repository in tmp_path with a tiny shop package and an invariants file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            [
                "git",
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
                *args,
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def read(self, relative: str) -> str:
        return (self.root / relative).read_text(encoding="utf-8")

    def edit(self, relative: str, old: str, new: str) -> None:
        text = self.read(relative)
        assert old in text, f"{old!r} not in {relative}"
        self.write(relative, text.replace(old, new, 1))

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def seed(self) -> str:
        self.write("src/shop/__init__.py", "")
        self.write("src/shop/billing.py", BILLING)
        self.write("src/shop/db.py", DB)
        self.write("invariants.yaml", INVARIANTS)
        return self.commit("base")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    repo = Project(tmp_path / "repo")
    repo.seed()
    return repo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invariants")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_review.add_diff_parser(sub)
    cli_review.add_review_parser(sub)
    return parser


def run(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str, str]:
    """Run `invariants ARGV` through the *_main functions; return (code, stdout, stderr)."""
    args = _parser().parse_args([argv[0], "--rootdir", str(root), *argv[1:]])
    code = int(args.func(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def diff_json(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, root, "diff", *argv, "--format", "json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def changes_of(data: dict[str, Any], iid: str) -> list[dict[str, Any]]:
    changes = data["changes"]
    assert isinstance(changes, list)
    return [c for c in changes if c["id"] == iid]


def only_field(data: dict[str, Any], iid: str) -> dict[str, Any]:
    (change,) = changes_of(data, iid)
    fields = change["fields"]
    assert isinstance(fields, list) and len(fields) == 1, fields
    field: dict[str, Any] = fields[0]
    return field


# -- labels: every weakened / strengthened case, through git -----------------------------


LABEL_CASES = [
    # (id, old text, new text, field, effect)
    ("PAY-001", "severity: critical", "severity: high", "severity", Effect.WEAKENED),
    ("PAY-002", "severity: high", "severity: critical", "severity", Effect.STRENGTHENED),
    ("DB-001", "code: [shop.db]", "code: ['shop.db:save']", "code", Effect.WEAKENED),
    ("PAY-002", "code: [shop.billing:refund]", "code: [shop.billing]", "code", Effect.STRENGTHENED),
    ("PAY-002", "code: [shop.billing:refund]", "code: []", "code", Effect.WEAKENED),
    (
        "PAY-002",
        "code: [shop.billing:refund]",
        "code: [shop.billing:refund, shop.db]",
        "code",
        Effect.STRENGTHENED,
    ),
    (
        "PAY-002",
        "code: [shop.billing:refund]",
        "code: ['src/shop/billing.py']",
        "code",
        Effect.STRENGTHENED,
    ),
    ("PAY-001", "must_be_real: [shop.db]", "must_be_real: []", "must_be_real", Effect.WEAKENED),
    (
        "PAY-001",
        "must_be_real: [shop.db]",
        "must_be_real: [shop]",
        "must_be_real",
        Effect.STRENGTHENED,
    ),
    (
        "PAY-001",
        "must_be_real: [shop.db]",
        "must_be_real: [shop.db.session]",
        "must_be_real",
        Effect.WEAKENED,
    ),
    (
        "PAY-001",
        "allow_doubles: [shop.clock]",
        "allow_doubles: [shop.clock, shop.db]",
        "allow_doubles",
        Effect.WEAKENED,
    ),
    (
        "PAY-001",
        "allow_doubles: [shop.clock]",
        "allow_doubles: []",
        "allow_doubles",
        Effect.STRENGTHENED,
    ),
    (
        "PAY-001",
        'tests: ["tests/test_charge.py::test_retry_*"]',
        "tests: []",
        "tests",
        Effect.WEAKENED,
    ),
    (
        "PAY-001",
        'tests: ["tests/test_charge.py::test_retry_*"]',
        'tests: ["tests/test_charge.py::test_retry_*", "tests/test_x.py::*"]',
        "tests",
        Effect.STRENGTHENED,
    ),
    (
        "PAY-002",
        "severity: high",
        "severity: high\n    status: deprecated",
        "status",
        Effect.WEAKENED,
    ),
    (
        "PAY-002",
        "title: A refund marks the order unpaid",
        "title: A refund always marks the order unpaid",
        "title",
        Effect.NEUTRAL,
    ),
    (
        "PAY-002",
        "    severity: high\n",
        "    severity: high\n    owner: refunds-team\n",
        "owner",
        Effect.NEUTRAL,
    ),
    (
        "PAY-002",
        "why: Customers get their money back.",
        "why: Refunds are the law.",
        "why",
        Effect.NEUTRAL,
    ),
]


@pytest.mark.parametrize(
    ("iid", "old", "new", "name", "effect"),
    LABEL_CASES,
    ids=[f"{c[3]}-{c[4]}-{i}" for i, c in enumerate(LABEL_CASES)],
)
def test_each_change_is_labelled(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    iid: str,
    old: str,
    new: str,
    name: str,
    effect: str,
) -> None:
    project.edit("invariants.yaml", old, new)
    data = diff_json(capsys, project.root, "HEAD")
    field = only_field(data, iid)
    assert (field["field"], field["effect"]) == (name, effect), field
    (change,) = changes_of(data, iid)
    assert change["effect"] == effect


def test_undeprecating_strengthens(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.edit("invariants.yaml", "severity: high\n", "severity: high\n    status: deprecated\n")
    project.commit()
    project.edit("invariants.yaml", "    status: deprecated\n", "")
    field = only_field(diff_json(capsys, project.root, "HEAD"), "PAY-002")
    assert (field["field"], field["old"], field["new"]) == ("status", "deprecated", "active")
    assert field["effect"] == Effect.STRENGTHENED


@pytest.mark.parametrize(
    ("new", "effect", "reason"),
    [
        ("critical: [failing]", Effect.WEAKENED, "critical no longer fails on unverified"),
        (
            "critical: [failing, unverified, mock-only]",
            Effect.STRENGTHENED,
            "critical now fails on mock-only",
        ),
    ],
)
def test_gate_policy_changes_are_labelled(
    project: Project, capsys: pytest.CaptureFixture[str], new: str, effect: str, reason: str
) -> None:
    project.edit("invariants.yaml", "critical: [failing, unverified]", new)
    data = diff_json(capsys, project.root, "HEAD")
    assert data["gate_changes"] == [
        {
            "field": "gate.fail_on.critical",
            "old": ["failing", "unverified"],
            "new": sorted(new.partition("[")[2].rstrip("]").replace(" ", "").split(",")),
            "effect": effect,
            "reason": reason,
        }
    ]


def _inv(**fields: object) -> Invariant:
    base: dict[str, Any] = {
        "id": "X-1",
        "title": "t",
        "why": "w",
        "owner": "o",
        "severity": Severity.HIGH,
    }
    base.update(fields)
    return Invariant(**base)


@pytest.mark.parametrize(
    ("old", "new", "name", "effect"),
    [
        (_inv(owner="team"), _inv(owner=""), "owner", Effect.WEAKENED),
        (_inv(owner=""), _inv(owner="team"), "owner", Effect.STRENGTHENED),
        (_inv(why="because"), _inv(why=" "), "why", Effect.WEAKENED),
        (_inv(why=""), _inv(why="because"), "why", Effect.STRENGTHENED),
        (_inv(prove_threshold=1.0), _inv(prove_threshold=0.8), "prove_threshold", Effect.WEAKENED),
        (
            _inv(prove_threshold=0.8),
            _inv(prove_threshold=1.0),
            "prove_threshold",
            Effect.STRENGTHENED,
        ),
        (
            _inv(lifecycle=Lifecycle.DEPRECATED),
            _inv(lifecycle=Lifecycle.ACTIVE),
            "status",
            Effect.STRENGTHENED,
        ),
        (_inv(why="a  b\n c"), _inv(why="a b c"), None, None),  # reflowed text is no change
    ],
)
def test_field_rules_on_plain_values(
    old: Invariant, new: Invariant, name: str | None, effect: str | None
) -> None:
    changes = compare_invariants([old], [new])
    if name is None:
        assert changes == []
        return
    (change,) = changes
    assert [(f.field, f.effect) for f in change.fields] == [(name, effect)]


def test_gate_rules_on_plain_values() -> None:
    old = GatePolicy({"high": frozenset({"failing"})})
    new = GatePolicy({"critical": frozenset({"unverified"})})
    assert [(c.field, c.effect) for c in compare_gate(old, new)] == [
        ("gate.fail_on.critical", Effect.STRENGTHENED),
        ("gate.fail_on.high", Effect.WEAKENED),
    ]


# -- added / removed / renamed ------------------------------------------------------------


def test_added_removed_and_renamed(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    text = project.read("invariants.yaml")
    text = text.replace("id: PAY-002", "id: REFUND-001")  # same title and scope: a rename
    text = text[: text.index("  - id: DB-001")]  # removed
    text += (
        "  - id: PAY-003\n    title: New rule\n    why: New reason.\n"
        "    code: [shop.billing:helper]\n"
    )
    project.write("invariants.yaml", text)
    data = diff_json(capsys, project.root, "HEAD")
    kinds = {(c["kind"], c["id"], c["old_id"]) for c in data["changes"]}
    assert kinds == {
        ("renamed", "REFUND-001", "PAY-002"),
        ("removed", "DB-001", None),
        ("added", "PAY-003", None),
    }
    summary = data["summary"]
    assert isinstance(summary, dict)
    assert (summary["added"], summary["removed"], summary["renamed"]) == (1, 1, 1)


def test_a_rename_with_other_edits_lists_them(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit(
        "invariants.yaml",
        "id: PAY-002  # refunds\n    title: A refund marks the order "
        "unpaid\n    why: Customers get their money back.\n    severity: high",
        "id: REF-9\n    title: A refund marks the order unpaid\n"
        "    why: Customers get their money back.\n    severity: low",
    )
    code, out, _ = run(capsys, project.root, "diff", "HEAD")
    assert code == 0
    assert "`PAY-002` → `REF-9`" in out
    assert "severity lowered" in out


# -- code impact -----------------------------------------------------------------------------


def impacts(data: dict[str, Any]) -> dict[str, list[str]]:
    found = data["impacts"]
    assert isinstance(found, list)
    return {i["id"]: [e["entry"] for e in i["entries"]] for i in found}


def test_edited_function_inside_a_module_scope(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("src/shop/db.py", DB.replace("return row", "return dict(row)"))
    project.commit()
    data = diff_json(capsys, project.root, "HEAD~1", "HEAD")
    assert impacts(data) == {"DB-001": ["shop.db"]}
    (impact,) = data["impacts"]
    assert impact["entries"][0]["lines"] == [2]
    assert impact["entries"][0]["how"] == "changed"


def test_edited_function_is_impacted_and_neighbours_are_not(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit("src/shop/billing.py", "    order.paid = True\n", "    order.paid = 1\n")
    assert impacts(diff_json(capsys, project.root, "HEAD")) == {
        "PAY-001": ["shop.billing:charge_order"]
    }


def test_moved_function_with_an_equal_tree_is_not_impacted(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # refund moves below helper (cut and paste: hunks touch it) and charge_order
    # shifts down under a new function (line numbers change): neither is changed.
    refund = "def refund(order):\n    order.paid = False\n    return order\n\n\n"
    text = BILLING.replace(refund, "")
    text = text.replace('"""Billing."""\n', '"""Billing."""\n\n\ndef fresh():\n    return 2\n')
    project.write("src/shop/billing.py", text + "\n\n" + refund.rstrip("\n") + "\n")
    data = diff_json(capsys, project.root, "HEAD")
    assert impacts(data) == {}


def test_comment_and_docstring_edits_are_not_impacts(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit(
        "src/shop/billing.py",
        "def refund(order):\n",
        'def refund(order):  # noqa\n    """Give the money back."""\n',
    )
    project.edit("src/shop/billing.py", "    if order.paid:", "    if (order.paid):  # paid?")
    assert impacts(diff_json(capsys, project.root, "HEAD")) == {}


def test_a_new_untracked_scope_file_counts_as_added(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("src/shop/ledger.py", "def book(x):\n    return x\n")
    project.edit("invariants.yaml", "code: [shop.db]", "code: [shop.db, 'shop.ledger:book']")
    data = diff_json(capsys, project.root, "HEAD")
    (impact,) = data["impacts"]
    assert impact["id"] == "DB-001"
    assert impact["entries"] == [
        {"entry": "shop.ledger:book", "file": "src/shop/ledger.py", "lines": [1, 2], "how": "added"}
    ]


def test_renamed_source_file_is_followed(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.git("mv", "src/shop/db.py", "src/shop/store.py")
    project.edit("invariants.yaml", "code: [shop.db]", "code: [shop.store]")
    project.commit()
    data = diff_json(capsys, project.root, "HEAD~1", "HEAD")
    assert impacts(data) == {}  # same code under a new name: only the scope entry changed
    assert only_field(data, "DB-001")["field"] == "code"


def _results_file(tmp_path: Path, statuses: dict[str, Status]) -> Path:
    results = tuple(
        InvariantResult(
            invariant=Invariant(iid, "t", "w", "o", Severity.HIGH),
            status=status,
            links=(Link(f"tests/test_x.py::test_{iid}", LinkKind.REAL, Outcome.PASSED),),
        )
        for iid, status in statuses.items()
    )
    invariants = tuple(r.invariant for r in results)
    path = tmp_path / "results.json"
    write_results(RunResults(InvariantSet(invariants), results, ()), path)
    return path


def _touch_both(project: Project) -> None:
    project.edit("src/shop/billing.py", "    order.paid = True\n", "    order.paid = 1\n")
    project.edit("src/shop/billing.py", "    order.paid = False\n", "    order.paid = 0\n")


def test_results_give_status_tests_and_the_summary_sentence(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _touch_both(project)
    results = _results_file(tmp_path, {"PAY-001": Status.VERIFIED, "PAY-002": Status.MOCK_ONLY})
    code, out, _ = run(capsys, project.root, "diff", "HEAD", "--results", str(results))
    assert code == 0
    assert "2 invariants guard code this PR changes; 1 of them are not verified." in out
    assert "| mock-only |" in out
    assert "`tests/test_x.py::test_PAY-001` real, passed" in out


def test_impacted_unverified_fails_only_with_unverified(
    project: Project, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _touch_both(project)
    good = _results_file(tmp_path, {"PAY-001": Status.VERIFIED, "PAY-002": Status.PROVEN})
    assert (
        run(
            capsys,
            project.root,
            "diff",
            "HEAD",
            "--results",
            str(good),
            "--fail-on",
            "impacted-unverified",
        )[0]
        == 0
    )
    bad = _results_file(tmp_path, {"PAY-001": Status.VERIFIED})  # PAY-002 absent: not verified
    code, _, err = run(
        capsys,
        project.root,
        "diff",
        "HEAD",
        "--results",
        str(bad),
        "--fail-on",
        "impacted-unverified",
    )
    assert code == 1
    assert "1 invariant(s) guard changed code but are not verified" in err


def test_impacted_unverified_needs_results(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, project.root, "diff", "HEAD", "--fail-on", "impacted-unverified")
    assert (code, out) == (2, "")
    assert "needs --results" in err


def test_unreadable_results_is_a_usage_error(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    code, _, err = run(capsys, project.root, "diff", "HEAD", "--results", str(bad))
    assert code == 2
    assert "not a pytest-invariants results file" in err or "schema" in err


# -- suspects in the diff -------------------------------------------------------------------


def test_suspect_invariants_are_marked_and_can_fail(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, project.root, "review", "PAY-001")[0] == 0
    project.commit("reviewed")
    assert run(capsys, project.root, "diff", "HEAD", "--fail-on", "suspect")[0] == 0
    project.edit("src/shop/billing.py", "        return False\n", "        return None\n")
    code, out, err = run(capsys, project.root, "diff", "HEAD", "--fail-on", "suspect")
    assert code == 1
    assert "🔎" in out and "### Suspect" in out
    assert "1 suspect invariant(s) need review" in err


# -- validity of each side, git errors -----------------------------------------------------------


def test_invalid_base_still_diffs(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.edit(
        "invariants.yaml", "    severity: medium\n", "    severity: medium\n    colour: red\n"
    )
    project.commit("broken")
    project.edit("invariants.yaml", "    colour: red\n", "")
    project.edit("invariants.yaml", "severity: critical", "severity: low")
    code, out, _ = run(capsys, project.root, "diff", "HEAD")
    assert code == 0
    assert "are invalid (1 problem(s))" in out
    assert "severity lowered" in out
    data = diff_json(capsys, project.root, "HEAD")
    assert data["base_valid"] is False
    (problem,) = data["base_problems"]
    assert problem.startswith("HEAD:invariants.yaml:")


def test_a_named_file_new_in_head_is_all_added(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("rules/pay.yaml", project.read("invariants.yaml"))
    data = diff_json(capsys, project.root, "HEAD", "--invariants", "rules/pay.yaml")
    assert data["base_valid"] is True
    assert {c["kind"] for c in data["changes"]} == {"added"}
    code, _, err = run(capsys, project.root, "diff", "HEAD", "--invariants", "nope.yaml")
    assert code == 2 and "nope.yaml, which does not exist" in err


def test_invalid_head_fails_with_located_errors(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit("invariants.yaml", "code: [shop.billing:refund]", "code: [shop.billing:refnd]")
    code, out, err = run(capsys, project.root, "diff", "HEAD")
    assert (code, out) == (2, "")
    assert re.search(r"^invariants\.yaml:\d+:\d+: \[PAY-002\]", err, re.M), err
    assert "invariants diff: the invariants at HEAD are invalid" in err
    assert "Traceback" not in err


def test_not_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "invariants.yaml").write_text(INVARIANTS, encoding="utf-8")
    code, out, err = run(capsys, tmp_path, "diff", "main")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "is not inside a git repository" in err


def test_unknown_revision(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, project.root, "diff", "no-such-branch")
    assert (code, out) == (2, "")
    assert err == (
        "invariants diff: unknown revision 'no-such-branch' -- check the name, or "
        "`git fetch` it first\n"
    )
    assert run(capsys, project.root, "diff", "HEAD", "nope")[0] == 2
    assert run(capsys, project.root, "diff", "--", "--exec=x")[0] == 2


def test_shallow_clone_missing_base(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit("src/shop/db.py", "return row", "return dict(row)")
    project.commit()
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", project.root.as_uri(), str(clone)],
        check=True,
        capture_output=True,
    )
    code, _, err = run(capsys, clone, "diff", "HEAD~1")
    assert code == 2
    assert "shallow clone" in err and "fetch-depth: 0" in err


def test_rootdir_below_the_repository_top(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = Project(tmp_path / "mono")
    sub = Project.__new__(Project)
    sub.root = repo.root / "services" / "pay"
    for relative, text in (
        ("src/shop/__init__.py", ""),
        ("src/shop/billing.py", BILLING),
        ("src/shop/db.py", DB),
        ("invariants.yaml", INVARIANTS),
    ):
        sub.write(relative, text)
    repo.commit("base")
    sub.edit("src/shop/db.py", "return row", "return dict(row)")
    code, out, _ = run(capsys, sub.root, "diff", "HEAD", "--format", "github")
    assert code == 0
    assert "::notice file=services/pay/src/shop/db.py,line=2,title=Guarded by DB-001::" in out


def test_merge_base_ignores_changes_made_on_the_base_branch(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.git("checkout", "-q", "-b", "feature")
    project.edit("invariants.yaml", "severity: high", "severity: critical")
    project.commit("feature")
    project.git("checkout", "-q", "main")
    project.edit("src/shop/db.py", "return row", "return dict(row)")
    project.commit("main moves on")
    project.git("checkout", "-q", "feature")
    plain = diff_json(capsys, project.root, "main")
    assert impacts(plain) == {"DB-001": ["shop.db"]}  # main's change, seen in reverse
    merge = diff_json(capsys, project.root, "main", "--merge-base")
    assert impacts(merge) == {}
    assert [c["id"] for c in merge["changes"]] == ["PAY-002"]


# -- output formats and exit codes ---------------------------------------------------------------


def _weaken_and_remove(project: Project) -> None:
    text = project.read("invariants.yaml").replace("severity: critical", "severity: low")
    project.write("invariants.yaml", text[: text.index("  - id: DB-001")])


def test_markdown_output(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _weaken_and_remove(project)
    project.edit("src/shop/billing.py", "    return order\n", "    return None\n")
    code, out, _ = run(capsys, project.root, "diff", "HEAD")
    assert code == 0
    assert out.startswith("## Invariants: `HEAD` → `working tree`\n")
    assert "0 added, 1 removed, 0 renamed, 1 changed; **1 weakened**." in out
    assert "1 invariant guards code this PR changes." in out
    assert "### Removed\n\n- `DB-001` (medium) Rows are saved as given — was at " in out
    assert "| severity | critical | low | ⚠️ weakened: severity lowered |" in out
    assert "| `PAY-002` A refund marks the order unpaid | high | — |" in out


def test_markdown_escapes_user_text(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.edit(
        "invariants.yaml",
        "title: A refund marks the order unpaid",
        "title: 'A <b>refund</b> | marks'",
    )
    _, out, _ = run(capsys, project.root, "diff", "HEAD")
    assert "A \\<b\\>refund\\</b\\> \\| marks" in out  # as the Markdown report escapes it
    assert "<b>" not in out


def test_nothing_changed(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, project.root, "diff", "HEAD")
    assert code == 0
    assert "No invariant changed, and no guarded code changed." in out
    assert diff_json(capsys, project.root, "HEAD")["changes"] == []


def test_json_output(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    _weaken_and_remove(project)
    data = diff_json(capsys, project.root, "HEAD")
    assert data["schema"] == "pytest-invariants/diff/1"
    assert (data["base"], data["head"]) == ("HEAD", "working tree")
    assert data["summary"] == {
        "added": 0,
        "removed": 1,
        "renamed": 0,
        "changed": 1,
        "weakened": 1,
        "impacted": 0,
        "impacted_unverified": None,
        "suspect": 0,
        "sentence": "0 invariants guard code this PR changes.",
    }
    (removed,) = [c for c in data["changes"] if c["kind"] == "removed"]
    assert (removed["file"], removed["line"]) == ("invariants.yaml", 25)


def test_github_annotations_worst_first(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _weaken_and_remove(project)
    project.edit("src/shop/billing.py", "    return order\n", "    return None\n")
    code, out, _ = run(
        capsys, project.root, "diff", "HEAD", "--format", "github", "--fail-on", "removed"
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(
        "::error file=invariants.yaml,line=25,title=Invariant DB-001 "
        "removed::DB-001 (medium) was removed"
    )
    assert lines[1].startswith(
        "::warning file=invariants.yaml,line=9,title=Invariant PAY-001 weakened::severity lowered"
    )
    assert lines[2] == (
        "::notice file=src/shop/billing.py,line=13,title=Guarded by PAY-002::"
        "This change touches code guarded by PAY-002 (high): A refund marks the "
        "order unpaid [shop.billing:refund]."
    )
    assert len(lines) == 3


def test_github_escaping() -> None:
    from pytest_invariants.review.compare import Change, DiffReport, FieldChange

    change = Change(
        "changed",
        "A-1",
        "t",
        "high",
        Location("dir,x/inv:1.yaml", 3),
        fields=(FieldChange("why", "a", "", Effect.WEAKENED, "50%\r\nnew: line"),),
    )
    report = DiffReport("b", "h", (change,), (), (), ())
    assert render_github(report) == (
        "::warning file=dir%2Cx/inv%3A1.yaml,line=3,title=Invariant A-1 weakened::"
        "50%25%0D%0Anew: line\n"
    )


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [
        ("", 0),
        ("removed", 1),
        ("weakened", 1),
        ("suspect", 0),
        ("removed,weakened", 1),
    ],
)
def test_fail_on_exit_codes(
    project: Project, capsys: pytest.CaptureFixture[str], fail_on: str, expected: int
) -> None:
    _weaken_and_remove(project)
    argv: Sequence[str] = ("--fail-on", fail_on) if fail_on else ()
    assert run(capsys, project.root, "diff", "HEAD", *argv)[0] == expected


def test_fail_on_strengthened_only_passes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit("invariants.yaml", "severity: high", "severity: critical")
    assert run(capsys, project.root, "diff", "HEAD", "--fail-on", "removed,weakened")[0] == 0


def test_weakened_gate_fails_weakened(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.edit("invariants.yaml", "critical: [failing, unverified]", "critical: [failing]")
    assert run(capsys, project.root, "diff", "HEAD", "--fail-on", "weakened")[0] == 1


def test_unknown_fail_on_is_a_usage_error(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, project.root, "diff", "HEAD", "--fail-on", "removed,bogus")
    assert code == 2
    assert "unknown bogus" in err


# -- the unified-diff parser ---------------------------------------------------------------------


def test_parse_unified_diff() -> None:
    text = (
        "diff --git a/x.py b/y.py\nsimilarity index 90%\nrename from x.py\nrename to y.py\n"
        "--- a/x.py\n+++ b/y.py\n@@ -3 +3,2 @@\n-a\n+b\n+c\n@@ -10,2 +11,0 @@\n-d\n-e\n"
        'diff --git "a/sp\\303\\251cial\\tname.py" "b/sp\\303\\251cial\\tname.py"\nnew file mode '
        '100644\n--- /dev/null\n+++ "b/sp\\303\\251cial\\tname.py"\n@@ -0,0 +1 @@\n+x\n'
    )
    first, second = parse_unified_diff(text)
    assert (first.old_path, first.new_path) == ("x.py", "y.py")
    assert first.old_lines == {3, 10, 11}
    assert first.new_lines == {3, 4, 12}  # 12: where the deleted lines were
    assert (second.old_path, second.new_path) == (None, "spécial\tname.py")
    assert second.new_lines == {1}


@pytest.mark.invariant("OWN-002")
def test_markdown_names_the_owners_to_notify(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit(
        "invariants.yaml",
        "    severity: critical\n",
        "    severity: critical\n    owner: '@shop/payments'\n",
    )
    project.edit(
        "invariants.yaml",
        "    severity: medium\n",
        "    severity: medium\n    owner: '@everyone <b>x</b>'\n",
    )
    project.commit("handles")
    _weaken_and_remove(project)  # PAY-001 weakened, DB-001 removed
    project.edit("src/shop/billing.py", "    return order\n", "    return None\n")  # PAY-002's code
    _, out, _ = run(capsys, project.root, "diff", "HEAD")
    owners = out[out.index("### Owners to notify") :].split("\n\n")[1].splitlines()
    assert owners == [
        "- @shop/payments: `PAY-001` weakened",
        "- payments-team: `PAY-002` code changed",
        "- \\@everyone \\<b\\>x\\</b\\>: `DB-001` removed",
    ]
    data = diff_json(capsys, project.root, "HEAD")
    assert {c["id"]: c["owner"] for c in data["changes"]}["PAY-001"] == "@shop/payments"

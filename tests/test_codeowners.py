"""CODEOWNERS parsing, against the semantics GitHub documents ("About code owners")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pytest_invariants.cli.main import main as cli_main
from pytest_invariants.load.codeowners import (
    find_codeowners,
    is_handle,
    parse_codeowners,
    read_codeowners,
)
from pytest_invariants.results import write_results
from tests.report_builders import sample_results


def owners(text: str, path: str) -> tuple[str, ...]:
    return parse_codeowners(text).owners_of(path)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        # `*` alone: the default owners of everything
        ("*", "README.md", True),
        ("*", "src/deep/x.py", True),
        # no slash: matches at any depth
        ("*.js", "app.js", True),
        ("*.js", "src/web/app.js", True),
        ("*.js", "src/web/app.jsx", False),
        ("*.JS", "app.js", False),  # case sensitive
        ("ledger.py", "src/shop/ledger.py", True),
        # a slash at the start anchors at the root; a directory owns everything under it
        ("/build/logs/", "build/logs/a.log", True),
        ("/build/logs/", "build/logs/2024/a.log", True),
        ("/build/logs/", "src/build/logs/a.log", False),
        ("/apps/github", "apps/github/x.py", True),
        ("/apps/github", "apps/github", True),
        # a slash in the middle anchors too; `*` as the last segment: direct children only
        ("docs/*", "docs/getting-started.md", True),
        ("docs/*", "docs/build-app/troubleshooting.md", False),
        ("docs/*", "src/docs/a.md", False),
        ("src/shop", "src/shop/orders.py", True),
        ("src/shop", "lib/src/shop/orders.py", False),
        # only a trailing slash: a directory named so, at any depth
        ("apps/", "apps/a.py", True),
        ("apps/", "src/apps/b/c.py", True),
        ("apps/", "apps", False),
        # `**` crosses directories, `*` and `?` do not
        ("**/logs", "logs/a", True),
        ("**/logs", "deeply/nested/logs/a", True),
        ("/src/**/test_*.py", "src/a/b/test_x.py", True),
        ("/src/**/test_*.py", "src/test_x.py", True),
        ("/src/*.py", "src/a/x.py", False),
        ("/src/?.py", "src/a.py", True),
        ("/src/?.py", "src/ab.py", False),
        ("/docs/**", "docs/a/b.md", True),
    ],
)
def test_patterns_follow_the_documented_semantics(pattern: str, path: str, matches: bool) -> None:
    text = f"{pattern} @owner\n"
    assert owners(text, path) == (("@owner",) if matches else ())


@pytest.mark.invariant("OWN-001")
def test_the_last_matching_rule_wins() -> None:
    text = "*.py @python\n/src/shop/ @shop/orders\n/src/shop/payments.py @shop/payments\n"
    assert owners(text, "src/shop/payments.py") == ("@shop/payments",)
    assert owners(text, "src/shop/orders.py") == ("@shop/orders",)
    assert owners(text, "tools/x.py") == ("@python",)
    flipped = "/src/shop/ @shop/orders\n*.py @python\n"
    assert owners(flipped, "src/shop/orders.py") == ("@python",)


@pytest.mark.invariant("OWN-001")
def test_a_rule_without_owners_leaves_the_files_unowned() -> None:
    text = "/apps/ @octocat\n/apps/github\n"
    assert owners(text, "apps/x.py") == ("@octocat",)
    assert owners(text, "apps/github/y.py") == ()


def test_several_owners_comments_and_escapes() -> None:
    text = (
        "# a comment\n"
        "\n"
        "  # an indented comment\n"
        "/scripts/ @doctocat @octocat docs@example.com  # trailing comment\n"
        "\\#notes.md @hash\n"
        "/my\\ folder/ @spaced\n"
    )
    parsed = parse_codeowners(text)
    assert [r.line for r in parsed.rules] == [4, 5, 6]
    assert parsed.owners_of("scripts/run.sh") == ("@doctocat", "@octocat", "docs@example.com")
    assert parsed.owners_of("#notes.md") == ("@hash",)
    assert parsed.owners_of("my folder/a.txt") == ("@spaced",)
    assert parsed.skipped == ()


def test_unsupported_lines_are_skipped_and_said() -> None:
    parsed = parse_codeowners("* @all\n!/vendor/ @nobody\n/src/[ab].py @x\n/y.py not-an-owner\n")
    assert parsed.owners_of("vendor/a.py") == ("@all",)
    assert parsed.owners_of("src/a.py") == ("@all",)
    assert [(p.location.line, p.what.split(":")[0]) for p in parsed.skipped] == [
        (2, "negation (`!`) is not supported in CODEOWNERS"),
        (3, "character ranges (`[ ]`) are not supported in CODEOWNERS"),
        (4, "not-an-owner"),
    ]
    assert parsed.rule_for("y.py") is not None and parsed.rule_for("y.py").line == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("owner", "handle"),
    [
        ("@octocat", True),
        ("@shop/payments", True),
        ("@my-org/team.name", True),
        ("payments-team", False),
        ("pay@example.com", False),
        ("@", False),
        ("@-bad", False),
        ("@org/team/extra", False),
        ("@org team", False),
    ],
)
def test_handles(owner: str, handle: bool) -> None:
    assert is_handle(owner) is handle


# -- `invariants check`: ownership drift against CODEOWNERS --------------------------------

DRIFT_INVARIANTS = """\
version: 1
defaults: {severity: high}
invariants:
  - {id: PAY-001, title: Owned, why: W., owner: "@shop/payments", code: [src/shop/pay.py]}
  - {id: PAY-002, title: Drifted, why: W., owner: "@shop/orders", code: ["shop.pay:charge"]}
  - {id: PAY-003, title: Not a handle, why: W., owner: plain-team, code: [src/shop/pay.py]}
  - {id: PAY-004, title: Case, why: W., owner: "@Shop/Payments", code: [src/shop/pay.py]}
"""


def drift_project(root: Path, codeowners: str, where: str = ".github/CODEOWNERS") -> Path:
    (root / "src" / "shop").mkdir(parents=True)
    (root / "src" / "shop" / "__init__.py").write_text("")
    (root / "src" / "shop" / "pay.py").write_text("def charge():\n    return 1\n")
    (root / "invariants.yaml").write_text(DRIFT_INVARIANTS)
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    (root / where).write_text(codeowners)
    return root


def check(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, str]:
    code = cli_main(["check", "--rootdir", str(root), *extra])
    return code, capsys.readouterr().err


@pytest.mark.invariant("OWN-001")
def test_check_warns_when_a_handle_owns_none_of_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = drift_project(tmp_path, "* @shop/platform\n/src/shop/pay.py @shop/payments @shop/sec\n")
    code, err = check(capsys, root)
    assert code == 0
    assert err.splitlines() == [
        "warning: invariants.yaml:5:6: [PAY-002] owner @shop/orders owns none of its scope files "
        "per .github/CODEOWNERS: src/shop/pay.py is owned by @shop/payments @shop/sec "
        "(.github/CODEOWNERS:2) -- add @shop/orders to those files in .github/CODEOWNERS, "
        "or make the invariant's owner one of theirs"
    ]
    assert check(capsys, root, "--strict-owners")[0] == 1


def test_check_says_which_codeowners_lines_the_host_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = drift_project(tmp_path, "* @shop/payments @shop/orders\n!/src/ @x\n")
    code, err = check(capsys, root)
    assert code == 0
    assert err.splitlines() == [
        "warning: .github/CODEOWNERS:2: negation (`!`) is not supported in CODEOWNERS: "
        "the code host skips this line -- remove it"
    ]


def test_no_codeowners_means_no_ownership_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = drift_project(tmp_path, "* @nobody\n", where="elsewhere/CODEOWNERS")
    assert check(capsys, root, "--strict-owners") == (0, "")


def test_codeowners_is_looked_up_where_github_looks_in_its_order(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "CODEOWNERS").write_text("* @docs\n")
    assert find_codeowners(tmp_path) == (tmp_path / "docs" / "CODEOWNERS", tmp_path)
    (tmp_path / "CODEOWNERS").write_text("* @root\n")
    assert find_codeowners(tmp_path) == (tmp_path / "CODEOWNERS", tmp_path)
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text("* @github\n")
    assert find_codeowners(tmp_path) == (tmp_path / ".github" / "CODEOWNERS", tmp_path)


def test_a_project_inside_a_repository_uses_the_repository_codeowners(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "CODEOWNERS").write_text("/services/pay/src/ @shop/payments @shop/orders\n")
    root = drift_project(tmp_path / "services" / "pay", "", where="unused/x")
    found = read_codeowners(root)
    assert found is not None and found.base == tmp_path.resolve()
    assert check(capsys, root) == (0, "")  # every handle owns src/shop/pay.py from the repo root


# -- `invariants owners` -----------------------------------------------------------------


@pytest.mark.invariant("OWN-002")
def test_owners_lists_each_owner_with_statuses_and_what_breaks_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = sample_results()
    first = results.invariants[0]
    other = replace(first, invariant=replace(first.invariant, owner="@shop/orders"))
    results = replace(results, invariants=(other, *results.invariants[1:]))
    path = tmp_path / "results.json"
    write_results(results, path)
    assert cli_main(["owners", "--results", str(path)]) == 0
    out = capsys.readouterr().out
    blocks = out.split("\n\n")
    assert blocks[0].splitlines()[0] == "payments-team: 7 invariant(s), 3 break the gate"
    assert (
        "PAY-002  critical  mock-only   Charges go through the gateway  <- breaks the gate: "
        "mock-only" in blocks[0]
    )
    assert (
        # partial: gated only for the flag (SPEC v1.1 section 5), not for unverified
        "PART-1   high      unverified  Title of PART-1  <- breaks the gate: partial" in blocks[0]
    )
    assert "@shop/orders: 1 invariant(s), 0 break the gate\n  PAY-001 " in out
    assert cli_main(["owners", "--results", str(tmp_path / "none.json")]) == 2
    assert "no such results file" in capsys.readouterr().err

"""Hostile output: user text reaching a terminal, Markdown, HTML or SARIF is escaped for it.

A catalogue, table-driven: each case names where a hostile string enters (a
field of an invariant, a test id, a mock's name, a link) and which medium it
leaves through; the assertion is the exact escaping that medium needs. Inputs
and faults (bad files, crashes) live in test_hostile.py; this file is output.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_invariants.cli.main import main
from pytest_invariants.gate import GATE_STATUSES, evaluate, parse_policy
from pytest_invariants.model import DoubleKind, DoubleRecord, InvariantSet, RunResults, Severity
from pytest_invariants.reports import html, markdown, sarif, terminal
from pytest_invariants.status import classify
from pytest_invariants.text import printable
from tests.report_builders import CHARGE, ev, inv, sample_results

# What a terminal acts on: an OSC 8 hyperlink, clear-screen, an 8-bit CSI, a carriage
# return that would overwrite the line with a forged verdict, a NUL.
EVIL = "\x1b]8;;https://evil.example\x07x\x1b]8;;\x07\x1b[2J\x9b31m\rinvariants gate: passed\x00"
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # everything but a line break

# -- the terminal ----------------------------------------------------------------


def _hostile_results(field: str) -> RunResults:
    """One invariant, claimed by one mock-only test, with EVIL in `field`."""
    text = {key: f"{key} {EVIL}" for key in ("title", "why", "owner", "id", "nodeid", "mock")}
    evil = {k: v for k, v in text.items() if k == field}
    iid = evil.get("id", "PAY-1")
    nodeid = evil.get("nodeid", "tests/test_pay.py::test_pay")
    target = evil.get("mock", "shop.billing.charge_order")
    fields = {k: v for k, v in evil.items() if k in ("title", "why", "owner")}
    invariant = inv(iid, 3, Severity.CRITICAL, code=(CHARGE,), tags=(EVIL,), **fields)
    double = DoubleRecord(
        target, DoubleKind.DOUBLE, f"MagicMock {EVIL}", "unittest.mock.patch", "tests/t.py:3"
    )
    tests = (ev(nodeid, [iid], doubles=[double]),)
    policy = parse_policy("critical:mock-only")
    iset = InvariantSet((invariant,), ("invariants.yaml",), policy)
    base = sample_results()
    info = replace(base.info, warnings=(f"warning text {EVIL}",) if field == "warning" else ())
    return RunResults(iset, classify(iset, tests), tests, info)


def _terminal(results: RunResults, verbosity: int, width: int = 100) -> str:
    out = io.StringIO()
    console = terminal.make_console(file=out, width=width)
    violations = evaluate(results.invariants, results.invariant_set.gate)
    terminal.render(results, violations, console, verbosity)
    return out.getvalue()


TERMINAL_CASES = [
    (field, verbosity)
    for field in ("title", "owner", "id", "nodeid", "mock", "warning")
    for verbosity in (-1, 0, 1)
]


@pytest.mark.parametrize(("field", "verbosity"), TERMINAL_CASES)
def test_terminal_never_prints_a_control_character(field: str, verbosity: int) -> None:
    text = _terminal(_hostile_results(field), verbosity, width=400)
    assert RAW_CONTROL.findall(text) == []
    forged = [line for line in text.splitlines() if line.startswith("invariants gate: passed\\")]
    assert forged == []  # the carriage return did not start a line of its own


@pytest.mark.parametrize("field", ["title", "owner", "id"])
def test_terminal_shows_what_was_escaped(field: str) -> None:
    text = _terminal(_hostile_results(field), 0, width=400)
    assert "\\x1b[2J\\x9b31m invariants gate: passed\\x00" in text.replace("\n", "")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\tb\nc\rd", "a b c d"),
        ("\x9b2J", "\\x9b2J"),
        ("\x7f", "\\x7f"),
        ("é — ✓", "é — ✓"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


# -- the real plugin and the CLI ------------------------------------------------------

PROJECT_YAML = """\
version: 1
gate:
  fail_on:
    critical: [mock-only]
invariants:
  - id: PAY-001
    title: "Charged once \\e[2J\\rinvariants gate: passed"
    why: "why \\e]8;;https://evil.example\\a"
    owner: "team \\x9b31m"
    severity: critical
    code: ["shop.billing:charge"]
"""

PROJECT_TEST = """\
from unittest.mock import patch

import pytest

from shop import billing


@pytest.mark.invariant("PAY-001")
@pytest.mark.parametrize("case", ["\\x1b[31mred"])
def test_charge(case):
    with patch("shop.billing.charge") as fake:
        fake.return_value = case
        assert billing.charge() == case
"""


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", invariants=PROJECT_YAML)
    pytester.mkpydir("shop")
    pytester.path.joinpath("shop", "billing.py").write_text("def charge():\n    return 1\n")
    pytester.makepyfile(test_pay=PROJECT_TEST)
    return pytester


@pytest.mark.parametrize("flag", ["-q", "-rN", "-v"])
def test_pytest_summary_and_gate_lines_are_printable(shop: pytest.Pytester, flag: str) -> None:
    result = shop.runpytest_subprocess("--invariants", flag, "-p", "no:cacheprovider")
    assert result.ret == 7, result.stdout.str()
    out = result.stdout.str()
    assert "is mock-only: Charged once \\x1b[2J invariants gate: passed" in " ".join(out.split())
    assert RAW_CONTROL.findall(out) == []
    assert [line for line in out.splitlines() if line.startswith("invariants gate: p")] == []


def test_invariants_gate_prints_no_control_character(
    shop: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    results = str(shop.path / ".invariants" / "results.json")
    assert main(["gate", results]) == 7
    out = capsys.readouterr().out
    assert "Charged once \\x1b[2J invariants gate: passed" in out
    assert RAW_CONTROL.findall(out) == []


@pytest.mark.parametrize(
    ("yaml_line", "shown"),
    [
        ('    "titl\\e[2Je": x', "unknown key `titl\\x1b[2Je`"),
        ('    severity: "critica\\x9b"', "unknown severity `critica\\x9b`"),
        ('    depends_on: ["PAY-00\\e1"]', "PAY-00\\x1b1"),
    ],
)
def test_check_did_you_mean_is_printable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_line: str, shown: str
) -> None:
    lines = ["version: 1", "invariants:", "  - id: PAY-001", "    title: t", "    why: w"]
    lines += ["    owner: o", yaml_line]
    if "severity" not in yaml_line:
        lines.append("    severity: high")
    (tmp_path / "invariants.yaml").write_text("\n".join(lines) + "\n")
    assert main(["check", "--rootdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert shown in err, err
    assert RAW_CONTROL.findall(err) == []


# -- Markdown: the report and `invariants diff` --------------------------------------

MARKDOWN_HOSTILE = [
    "![pixel](https://evil.example/p.png)",
    "@octo-org/everyone please look",
    '<img src="https://evil.example/p.png">',
    "[click](javascript:alert(1))",
    "a | b | c",
    "`code` ends",
    "<!-- hidden -->",
    "line one\nline two",
    "esc \x1b[2J here",
]
LIVE = re.compile(r"(?<!\\)(?:!\[|\]\(|<|@|\|)")
LIVE_MARKUP = re.compile(r"(?<!\\)(?:!\[|<img|<!--|\]\(|@octo)")


@pytest.mark.parametrize("field", ["title", "owner"])
@pytest.mark.parametrize("value", MARKDOWN_HOSTILE)
def test_markdown_report_has_no_live_markup(field: str, value: str) -> None:
    results = sample_results()
    failing = next(i for i in results.invariant_set.invariants if i.id == "PAY-005")
    hostile = replace(failing, **{field: value})
    iset = replace(results.invariant_set, invariants=(hostile,))
    results = RunResults(iset, classify(iset, results.tests), results.tests, results.info)
    text = markdown.render(results, None)
    row = next(line for line in text.splitlines() if "| PAY-005 |" in line)
    assert markdown.escape(value) in text  # the title in its row, the owner in its heading
    head = next(line for line in text.splitlines() if line.startswith("| status | id |"))
    cells = re.split(r"(?<!\\)\|", row)[1:-1]
    assert len(cells) == head.count("|") - 1  # no cell break from the value
    assert LIVE.findall(markdown.escape(value)) == []
    assert RAW_CONTROL.findall(text) == []


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


DIFF_YAML = """\
version: 1
invariants:
  - id: PAY-001
    title: {title}
    why: {why}
    owner: {owner}
    severity: high
"""


@pytest.mark.parametrize("field", ["title", "why", "owner"])
@pytest.mark.parametrize("value", MARKDOWN_HOSTILE)
def test_diff_markdown_escapes_as_the_report_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: str
) -> None:
    plain = {"title": "Charged once", "why": "Money", "owner": "pay"}
    (tmp_path / "invariants.yaml").write_text(DIFF_YAML.format(**plain))
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "base")
    (tmp_path / "invariants.yaml").write_text(
        DIFF_YAML.format(**{**plain, field: json.dumps(value)})
    )
    assert main(["diff", "HEAD", "--rootdir", str(tmp_path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert markdown.escape(value) in out
    assert LIVE_MARKUP.findall(out) == []
    assert RAW_CONTROL.findall(out) == []


@pytest.mark.parametrize(
    ("raw", "cell", "span"),
    [
        ("PAY-001", False, "`PAY-001`"),
        ("a`b", False, "``a`b``"),
        ("`x`", False, "`` `x` ``"),
        ("a|b", True, "`a\\|b`"),
        ("a|b", False, "`a|b`"),
        ("two\nlines", False, "`two lines`"),
    ],
)
def test_code_spans_cannot_be_closed_early(raw: str, cell: bool, span: str) -> None:
    assert markdown.code(raw, cell=cell) == span


# -- HTML: links ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "href"),
    [
        ("https://example.org/rb", "https://example.org/rb"),
        ("docs/adr/7.md", "docs/adr/7.md"),
        ("../runbook.md#step-2", "../runbook.md#step-2"),
        ("docs\\adr\\7.md", None),
        ("/\\evil.example/x", None),
        ("\\\\evil.example\\share", None),
        ("https://ok.example\\@evil.example", None),
        ("//evil.example/x", None),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>1</script>", None),
        ("docs/\x9bx.md", None),
        ("c:/windows/x", None),
    ],
)
def test_html_links(target: str, href: str | None) -> None:
    assert html.safe_href(target) == href


def test_html_report_never_writes_a_backslash_href() -> None:
    results = sample_results()
    first = results.invariant_set.invariants[0]
    linked = replace(first, links={"adr": "/\\evil.example/adr", "rb": "docs/rb.md"})
    iset = replace(results.invariant_set, invariants=(linked,))
    results = RunResults(iset, classify(iset, results.tests), results.tests, results.info)
    page = html.render(results, None)
    assert 'href="docs/rb.md"' in page
    assert "evil.example/adr" in page and 'href="/\\evil' not in page


# -- SARIF: every status a policy may name -------------------------------------------

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


@pytest.mark.parametrize("status", GATE_STATUSES)
def test_sarif_has_a_rule_for_every_status_a_policy_may_name(status: str) -> None:
    results = sample_results()
    policy = parse_policy(";".join(f"{sev}:{status}" for sev in ("critical", "high", "medium")))
    violations = evaluate(results.invariants, policy)
    log: dict[str, Any] = json.loads(sarif.dumps(results, violations))
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert f"invariant/{status}" in [rule["id"] for rule in rules]
    for result in log["runs"][0]["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    # Every violation is a result (the sample has no proven invariant, and its only
    # unverified one that is not deprecated is partial: gated only for the flag).
    if any(v.reason == status for v in violations):
        assert any(r["ruleId"] == f"invariant/{status}" for r in log["runs"][0]["results"])
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(log)


def test_sarif_rule_indexes_never_move() -> None:
    assert sarif.REASONS[:7] == (
        "failing",
        "unverified",
        "incidental",
        "claimed",
        "mock-only",
        "partial",
        "suspect",
    )

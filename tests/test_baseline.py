"""The baseline gate (ratchet): fail only on what is new or worse than in an earlier run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_invariants.baseline import RATCHET_ORDER, Baseline, BaselineEntry, ratchet
from pytest_invariants.cli.main import main as cli_main
from pytest_invariants.gate import Violation
from pytest_invariants.model import Severity

pytest_plugins = ["pytester"]


def violation(iid: str, reason: str) -> Violation:
    return Violation(iid, Severity.CRITICAL, reason, "@shop/payments", f"title of {iid}")


def base(**entries: str) -> Baseline:
    return Baseline({iid: BaselineEntry(status) for iid, status in entries.items()}, "fp")


def test_the_order_is_the_documented_one() -> None:
    assert RATCHET_ORDER == (
        "failing",
        "unverified",
        "claimed",
        "incidental",
        "mock-only",
        "verified",
        "proven",
    )


@pytest.mark.invariant("BASE-002")
def test_unchanged_findings_are_as_in_the_baseline() -> None:
    found = ratchet(
        [violation("A", "mock-only"), violation("B", "unverified")],
        {"A": "mock-only", "B": "unverified"},
        base(A="mock-only", B="unverified"),
        "fp",
    )
    assert found.new == () and [v.invariant_id for v in found.known] == ["A", "B"]
    assert found.summary() == "2 findings as in the baseline, 0 new"
    assert found.notes == ()


@pytest.mark.invariant("BASE-002")
def test_an_improved_finding_does_not_break_the_gate() -> None:
    # claimed -> incidental is better in the ratchet's order, though both break the policy
    found = ratchet([violation("A", "incidental")], {"A": "incidental"}, base(A="claimed"))
    assert found.new == ()
    assert found.summary() == "1 findings as in the baseline, 0 new"


@pytest.mark.invariant("BASE-002")
@pytest.mark.parametrize(
    ("before", "now"),
    [("verified", "mock-only"), ("incidental", "claimed"), ("mock-only", "unverified")],
)
def test_a_worsened_invariant_breaks_the_gate(before: str, now: str) -> None:
    found = ratchet([violation("A", now)], {"A": now}, base(A=before))
    assert [v.invariant_id for v in found.new] == ["A"]
    assert found.because["A"] == f"worse than the baseline (was {before})"
    assert found.summary() == "0 findings as in the baseline, 1 new"


@pytest.mark.invariant("BASE-001")
def test_failing_always_breaks_the_gate_even_when_it_failed_before() -> None:
    found = ratchet([violation("A", "failing")], {"A": "failing"}, base(A="failing"))
    assert [v.invariant_id for v in found.new] == ["A"]
    assert found.because["A"] == "failing (always breaks the gate)"


@pytest.mark.invariant("BASE-001")
def test_a_new_invariant_that_breaks_the_policy_breaks_the_gate() -> None:
    found = ratchet(
        [violation("NEW-1", "unverified")],
        {"NEW-1": "unverified", "A": "verified"},
        base(A="verified"),
        "fp",
    )
    assert [v.invariant_id for v in found.new] == ["NEW-1"]
    assert found.because["NEW-1"] == "new: not in the baseline"
    assert found.notes == ("1 invariant(s) not in the baseline are gated as new: NEW-1",)


def test_removed_invariants_are_named_never_gated() -> None:
    found = ratchet([], {"A": "verified"}, base(A="verified", GONE="unverified"), "fp")
    assert found.new == () and found.gone == ("GONE",)
    assert "1 invariant(s) of the baseline are not in this run (removed or renamed): GONE" in (
        found.notes
    )


def test_a_baseline_from_other_invariants_files_is_explained() -> None:
    found = ratchet([violation("A", "unverified")], {"A": "unverified"}, base(A="unverified"), "x")
    assert found.new == ()
    assert found.notes[0].startswith("the baseline was made from another version")


def test_a_new_flag_breaks_the_gate_an_old_one_does_not() -> None:
    old = Baseline(
        {"A": BaselineEntry("verified", frozenset({"partial"})), "B": BaselineEntry("verified")}
    )
    found = ratchet(
        [violation("A", "partial"), violation("B", "suspect")],
        {"A": "verified", "B": "verified"},
        old,
    )
    assert [v.invariant_id for v in found.new] == ["B"]
    assert found.because["B"] == "newly suspect (was not in the baseline)"


# -- end to end: two real runs, the second one gated against the first ---------------------

CODE = """\
def charge(ledger, order, total):
    if order in ledger:
        raise ValueError(order)
    ledger[order] = total


def refund(ledger, order):
    return ledger.pop(order)


def points(total):
    return total // 100
"""

INVARIANTS = """\
version: 1
defaults: {owner: "@shop/payments", severity: critical}
gate:
  fail_on:
    critical: [failing, mock-only, claimed, incidental, unverified]
invariants:
  - {id: PAY-001, title: Charged once, why: Money., code: ["shop.pay:charge"]}
  - {id: PAY-002, title: Refunds return the charge, why: Money., code: ["shop.pay:refund"]}
"""

TESTS = """\
import pytest
from shop.pay import charge, refund


@pytest.mark.invariant("PAY-001")
def test_charge():
    ledger = {}
    charge(ledger, "o", 1)
    with pytest.raises(ValueError):
        charge(ledger, "o", 1)
"""


def project(pytester: pytest.Pytester, tests: str = TESTS, invariants: str = INVARIANTS) -> None:
    pytester.makeini("[pytest]\npythonpath = src\ntestpaths = tests\n")
    pkg = pytester.path / "src" / "shop"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "pay.py").write_text(CODE)
    (pytester.path / "invariants.yaml").write_text(invariants)
    (pytester.path / "tests").mkdir(exist_ok=True)
    (pytester.path / "tests" / "test_pay.py").write_text(tests)


def keep_as_baseline(pytester: pytest.Pytester) -> Path:
    result = pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    assert result.ret == 7, result.stdout.str()  # PAY-002 is unverified
    target = pytester.path / "main-results.json"
    shutil.copy(pytester.path / ".invariants" / "results.json", target)
    return target


@pytest.mark.invariant("BASE-001", "BASE-002")
def test_pytest_fails_only_on_what_got_worse(pytester: pytest.Pytester) -> None:
    project(pytester)
    baseline = keep_as_baseline(pytester)
    again = pytester.runpytest_subprocess(
        "--invariants", f"--invariants-baseline={baseline}", "-p", "no:cacheprovider"
    )
    assert again.ret == 0, again.stdout.str()
    again.stdout.fnmatch_lines(["invariants gate: 1 findings as in the baseline, 0 new"])
    # PAY-001 gets worse: its only test now fails
    project(pytester, TESTS.replace("raises(ValueError)", "raises(KeyError)"))
    worse = pytester.runpytest_subprocess(
        "--invariants", f"--invariants-baseline={baseline}", "-p", "no:cacheprovider"
    )
    assert worse.ret == 1  # tests failed: pytest's own status wins over the gate's 7
    worse.stdout.fnmatch_lines(
        [
            "invariants gate: PAY-001 is failing (always breaks the gate)",
            "invariants gate: 1 findings as in the baseline, 1 new",
        ]
    )


def test_the_ini_key_names_the_baseline_and_a_missing_one_stops_the_run(
    pytester: pytest.Pytester,
) -> None:
    project(pytester)
    baseline = keep_as_baseline(pytester)
    pytester.makeini(
        f"[pytest]\npythonpath = src\ntestpaths = tests\ninvariants_baseline = {baseline.name}\n"
    )
    assert pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider").ret == 0
    missing = pytester.runpytest_subprocess(
        "--invariants", "--invariants-baseline=nope.json", "-p", "no:cacheprovider"
    )
    assert missing.ret == 4
    missing.stderr.fnmatch_lines(["*--invariants-baseline: *nope.json: no such results file*"])
    assert "Traceback" not in missing.stderr.str()


def test_the_cli_gate_with_a_baseline(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    project(pytester)
    baseline = keep_as_baseline(pytester)
    added = INVARIANTS + (
        '  - {id: PAY-003, title: Points per euro, why: Money., code: ["shop.pay:points"]}\n'
    )
    project(pytester, invariants=added)
    pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    current = str(pytester.path / ".invariants" / "results.json")
    assert cli_main(["gate", current, "--baseline", str(baseline)]) == 7
    out = capsys.readouterr().out
    assert "baseline: the baseline was made from another version of the invariants files" in out
    assert "PAY-003 (critical, owner @shop/payments) is unverified: Points per euro -- new" in out
    assert "invariants gate failed: 1 findings as in the baseline, 1 new (exit 7)" in out
    # a damaged or foreign baseline is a clean error
    (pytester.path / "bad.json").write_text(json.dumps({"schema": "other/1"}))
    assert cli_main(["gate", current, "--baseline", str(pytester.path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "--baseline:" in err and "schema is 'other/1'" in err

"""`pytest --invariants` end to end: real projects, real markers, real patches, real runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.cli.main import main as cli_main
from tests.projects import links, run, statuses

pytest_plugins = ["pytester"]

BILLING = '''\
"""Charging orders."""
from shop.gateway import CardGateway

gateway = CardGateway()


class AlreadyCharged(Exception):
    pass


def charge_order(order_id, total, ledger):
    if order_id in ledger:
        raise AlreadyCharged(order_id)
    ledger[order_id] = total
    gateway.charge(order_id, total)
    return total


def refund_order(order_id, ledger):
    return ledger.pop(order_id)


def order_total(lines):
    return sum(q * p for q, p in lines)
'''

GATEWAY = """\
class CardGateway:
    def __init__(self):
        self.charges = []

    def charge(self, order_id, total):
        self.charges.append((order_id, total))
"""

INVARIANTS = """\
version: 1
defaults:
  owner: payments
invariants:
  - id: PAY-001
    title: A card is never charged twice for one order
    why: Chargebacks.
    severity: critical
    code: [shop.billing:charge_order]
  - id: PAY-002
    title: A refund returns what was charged
    why: Customers are owed their money.
    severity: high
    code: [shop.billing:refund_order]
  - id: PAY-003
    title: The total is the sum of the lines
    why: Customers pay what the basket shows.
    code: [shop.billing:order_total]
    depends_on: [PAY-002]
"""

TESTS = """\
from unittest.mock import patch

import pytest

from shop.billing import AlreadyCharged, charge_order, order_total, refund_order


@pytest.mark.invariant("PAY-001")
def test_second_charge_is_refused():
    ledger = {}
    charge_order("o-1", 5, ledger)
    with pytest.raises(AlreadyCharged):
        charge_order("o-1", 5, ledger)


@pytest.mark.invariant("PAY-002")
def test_refund_with_patched_charge():
    ledger = {"o-1": 5}
    with patch("shop.billing.refund_order", return_value=5) as fake:
        assert fake("o-1", ledger) == 5


def test_total_is_incidental():
    assert order_total([(2, 3)]) == 6
"""


FAILING_TEST = """

@pytest.mark.invariant("PAY-003")
def test_bad():
    assert order_total([(1, 1)]) == 3
"""


def make_project(
    pytester: pytest.Pytester, tests: str = TESTS, invariants: str = INVARIANTS
) -> None:
    pytester.makeini("[pytest]\npythonpath = src\ntestpaths = tests\n")
    pkg = pytester.path / "src" / "shop"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "billing.py").write_text(BILLING)
    (pkg / "gateway.py").write_text(GATEWAY)
    (pytester.path / "invariants.yaml").write_text(invariants)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_billing.py").write_text(tests)


@pytest.mark.invariant("LINK-001", "STAT-001", "STAT-002")
def test_a_run_reports_each_invariant_with_its_evidence(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    result, data = run(pytester)
    assert result.ret == 0
    assert statuses(data) == {
        "PAY-001": "verified",
        "PAY-002": "mock-only",
        "PAY-003": "incidental",
    }
    assert links(data, "PAY-002") == {
        "tests/test_billing.py::test_refund_with_patched_charge": "mock-based"
    }
    (pay3,) = [inv for inv in data["invariants"] if inv["id"] == "PAY-003"]
    assert pay3["at_risk"] is True and pay3["at_risk_because"] == ["PAY-002"]
    (pay1,) = [inv for inv in data["invariants"] if inv["id"] == "PAY-001"]
    assert pay1["scope_coverage"] == 1.0
    assert (pytester.path / ".invariants" / "results.json").read_text() == (
        pytester.path / "out.json"
    ).read_text()
    result.stdout.fnmatch_lines(["*= invariants =*", "*mock-only*PAY-002*"])


def test_without_the_flag_the_plugin_does_nothing(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert not (pytester.path / ".invariants").exists()
    assert "= invariants =" not in result.stdout.str()


def test_a_bare_flag_before_a_test_path_is_not_taken_as_the_invariants_file(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester)
    out = pytester.path / "out.json"
    result = pytester.runpytest_subprocess(
        "--invariants", "tests/test_billing.py", "--invariants-json", str(out)
    )
    assert result.ret == 0, result.stdout.str()
    assert json.loads(out.read_text())["invariants"]


def test_unknown_marker_ids_fail_with_the_location_and_the_nearest_ids(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester, tests=TESTS.replace('invariant("PAY-001")', 'invariant("PAY-01")'))
    result, _ = run(pytester)
    assert result.ret != 0
    output = result.stdout.str() + result.stderr.str()
    assert (
        "tests/test_billing.py:8" in output
        and "PAY-01" in output
        and "did you mean PAY-001" in output
    )
    assert "Traceback" not in output and "INTERNALERROR" not in output


def test_an_invalid_invariants_file_stops_the_run_with_located_problems(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester, invariants=INVARIANTS.replace("severity: high", "severity: urgent"))
    result, data = run(pytester)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invariants.yaml:13" in output and "urgent" in output
    assert "Traceback" not in output and not data


def test_junit_xml_carries_the_claimed_ids(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    run(pytester, "--junitxml", "junit.xml")
    xml = (pytester.path / "junit.xml").read_text()
    assert '<property name="invariant" value="PAY-001"' in xml


def test_deselected_claims_make_the_invariant_partial(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    result, data = run(pytester, "-k", "not refund")
    (pay2,) = [inv for inv in data["invariants"] if inv["id"] == "PAY-002"]
    assert pay2["status"] == "unverified" and pay2["partial"] is True
    assert pay2["partial_because"] == ["tests/test_billing.py::test_refund_with_patched_charge"]
    assert data["run"]["partial"] is True


@pytest.mark.invariant("GATE-001")
def test_a_failed_gate_names_the_invariants_and_exits_7(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    result, data = run(pytester, "--invariants-gate", "critical:unverified;high:mock-only")
    assert result.ret == 7
    result.stdout.fnmatch_lines(["*PAY-002*high*mock-only*"])
    assert "PAY-001" not in "".join(line for line in result.stdout.lines if "is mock-only" in line)


def test_a_test_failure_keeps_pytests_exit_status_under_a_failed_gate(
    pytester: pytest.Pytester,
) -> None:
    make_project(
        pytester,
        tests=TESTS + FAILING_TEST,
    )
    result, data = run(pytester, "--invariants-gate", "medium:failing")
    assert result.ret == 1
    assert statuses(data)["PAY-003"] == "failing"


def test_a_bad_gate_policy_is_a_usage_error(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    result, _ = run(pytester, "--invariants-gate", "critical:flaky")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown status flaky" in result.stderr.str()


def test_xdist_gives_the_same_results_as_a_serial_run(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    make_project(pytester)
    _, serial = run(pytester)
    result, parallel = run(pytester, "-n", "2")
    assert result.ret == 0
    assert statuses(parallel) == statuses(serial)
    for iid in statuses(serial):
        assert links(parallel, iid) == links(serial, iid)


def _coverage_totals(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    result = pytester.runpytest_subprocess(
        "--cov=shop", "--cov-report=json:cov.json", "-p", "no:cacheprovider", *args
    )
    assert result.ret == 0, result.stdout.str()
    data = json.loads((pytester.path / "cov.json").read_text())
    return {name: f["executed_lines"] for name, f in data["files"].items()}


@pytest.mark.parametrize("context", [[], ["--cov-context=test"]])
def test_pytest_cov_numbers_are_unchanged_and_our_results_equal_a_plain_run(
    pytester: pytest.Pytester, context: list[str]
) -> None:
    pytest.importorskip("pytest_cov")
    make_project(pytester)
    _, alone = run(pytester)
    without = _coverage_totals(pytester, *context)
    out = pytester.path / "with-cov.json"
    with_us = _coverage_totals(pytester, *context, "--invariants", "--invariants-json", str(out))
    assert with_us == without
    assert statuses(json.loads(out.read_text())) == statuses(alone)


def test_cli_gate_report_graph_and_combine_work_on_saved_results(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(pytester)
    run(pytester, "-k", "charge")
    first = pytester.path / "shard1.json"
    (pytester.path / "out.json").rename(first)
    run(pytester, "-k", "not charge")
    second = pytester.path / "out.json"
    _, whole = run(pytester)
    merged = pytester.path / "merged.json"
    assert cli_main(["combine", str(first), str(second), "-o", str(merged)]) == 0
    combined = json.loads(merged.read_text())
    assert statuses(combined) == statuses(whole)
    assert not any(inv["partial"] for inv in combined["invariants"])
    assert cli_main(["gate", str(merged), "--policy", "high:mock-only"]) == 7
    assert "PAY-002 (high, owner payments) is mock-only" in capsys.readouterr().out
    assert cli_main(["gate", str(merged), "--policy", "critical:unverified"]) == 0
    dot = pytester.path / "graph.dot"
    assert cli_main(["graph", str(merged), "--format", "dot", "-o", str(dot)]) == 0
    assert '"invariant:PAY-003" -> "invariant:PAY-002"' in dot.read_text()


def test_cli_refuses_foreign_results_and_mismatched_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other/1"}')
    assert cli_main(["gate", str(bad)]) == 2
    assert "schema is 'other/1'" in capsys.readouterr().err


def test_an_interrupted_run_keeps_the_previous_results(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    run(pytester)
    saved = (pytester.path / ".invariants" / "results.json").read_text()
    (pytester.path / "tests" / "test_stop.py").write_text(
        "def test_zz_interrupt():\n    raise KeyboardInterrupt\n"
    )
    result, _ = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "results are incomplete and were not written" in result.stdout.str()
    assert (pytester.path / ".invariants" / "results.json").read_text() == saved


def test_scope_code_rewritten_by_pytests_assert_rewriter_is_still_observed(
    pytester: pytest.Pytester,
) -> None:
    # pytest rewrites the asserts of plugin packages and of modules registered for it;
    # the probes (3.10/3.11) must compare against the rewritten code, not a plain compile.
    asserting = BILLING.replace(
        "    ledger[order_id] = total\n", "    ledger[order_id] = total\n    assert total > 0\n"
    )
    make_project(pytester)
    (pytester.path / "src" / "shop" / "billing.py").write_text(asserting)
    (pytester.path / "tests" / "conftest.py").write_text(
        'import pytest\n\npytest.register_assert_rewrite("shop")\n'
    )
    result, data = run(pytester)
    assert result.ret == 0, result.stdout.str()
    assert statuses(data)["PAY-001"] == "verified"
    assert data["run"]["warnings"] == []

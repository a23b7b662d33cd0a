"""Every report rendered from the results of a real `pytest --invariants` run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest

from pytest_invariants.gate import evaluate, parse_policy
from pytest_invariants.reports import html, markdown, sarif, terminal
from pytest_invariants.results import read_results

DATA = Path(__file__).parent / "data"
RESULTS_SCHEMA = Path(html.__file__).parent.parent / "schemas" / "results.schema.json"

BILLING = """\
class Gateway:
    def charge(self, cents):
        return f"receipt-{cents}"


def charge_order(order, gateway):
    if order.get("paid"):
        return None
    receipt = gateway.charge(order["total"])
    order["paid"] = True
    return receipt


def refund(order):
    order["paid"] = False
    return order
"""

TESTS = """\
from unittest.mock import patch

import pytest

from shop.billing import Gateway, charge_order, refund


@pytest.mark.invariant("PAY-001")
def test_charge_once():
    order = {"total": 5}
    assert charge_order(order, Gateway()) == "receipt-5"
    assert charge_order(order, Gateway()) is None


@pytest.mark.invariant("PAY-002")
def test_refund_mocked():
    with patch("shop.billing.refund") as fake:
        fake({"paid": True})
"""

INVARIANTS = """\
version: 1
defaults:
  owner: payments-team
invariants:
  - id: PAY-001
    title: A card is never charged twice
    why: Double charges cause chargebacks.
    severity: critical
    code: [shop.billing:charge_order]
  - id: PAY-002
    title: "Refunds <script>alert(1)</script> reopen the order"
    why: Money must be returned.
    severity: critical
    code: [shop.billing:refund]
  - id: PAY-003
    title: Nobody tests this
    why: It matters.
    severity: high
    code: [shop.billing:Gateway.charge]
"""


@pytest.fixture
def run(pytester: pytest.Pytester) -> Path:
    pytester.makefile(".ini", pytest="[pytest]\npythonpath = src\ntestpaths = tests\n")
    pkg = pytester.path / "src" / "shop"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "billing.py").write_text(BILLING, encoding="utf-8")
    tests = pytester.mkdir("tests")
    (tests / "test_billing.py").write_text(TESTS, encoding="utf-8")
    (pytester.path / "invariants.yaml").write_text(INVARIANTS, encoding="utf-8")
    result = pytester.runpytest_subprocess(
        "--invariants", "--invariants-json=out.json", "-p", "no:cacheprovider"
    )
    assert result.ret == 0, result.stdout.str()
    return pytester.path / "out.json"


def test_reports_from_a_real_run(run: Path) -> None:
    results = read_results(run)
    data = json.loads(run.read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(RESULTS_SCHEMA.read_text(encoding="utf-8")))
    statuses = {r.invariant.id: r.status.value for r in results.invariants}
    assert statuses == {"PAY-001": "verified", "PAY-002": "mock-only", "PAY-003": "incidental"}

    violations = evaluate(results.invariants, parse_policy("critical:mock-only;high:incidental"))
    log = sarif.render(results, violations)
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(log)
    located = {
        r["properties"]["invariant"]: r["locations"][0]["physicalLocation"]
        for r in log["runs"][0]["results"]
    }
    assert located["PAY-002"]["artifactLocation"]["uri"] == "invariants.yaml"
    assert located["PAY-002"]["region"]["startLine"] in (10, 11)

    page = html.render(results, violations)
    assert "<script>alert(1)</script>" not in page
    assert 'class="l m-real"' in page  # the source was read from the run's rootdir

    assert "PAY-002" in markdown.render(results, violations)
    out = io.StringIO()
    terminal.render(results, violations, terminal.make_console(file=out, width=160), 1)
    assert "invariants gate: FAILED by 2 invariant(s)" in out.getvalue()

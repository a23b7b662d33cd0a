"""`invariants why`: real runs saved to results, then asked about lines, files and functions."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.cli.main import main as cli_main

# Importing the package with SHOP_EXPLODE set leaves a trace and fails: `why` must not.
INIT = """\
import os
if os.environ.get("SHOP_EXPLODE"):
    open(os.environ["SHOP_EXPLODE"], "w").write("imported")
    raise SystemExit("shop was imported")
"""

BILLING = """\
from shop import gateway


def charge_order(order_id, total, ledger):
    if order_id in ledger:
        raise ValueError(order_id)
    ledger[order_id] = total
    gateway.charge(order_id, total)
    return total


def refund_order(order_id, ledger):
    return ledger.pop(order_id)
"""

GATEWAY = """\
def charge(order_id, total):
    return (order_id, total)
"""

INVARIANTS = """\
version: 1
defaults:
  owner: "@shop/payments"
invariants:
  - id: PAY-001
    title: A card is never charged twice for one order
    why: Chargebacks.
    severity: critical
    code: [shop.billing:charge_order]
    links: {runbook: "https://wiki.example.test/charge"}
  - id: PAY-009
    title: Every module of billing is reviewed
    why: Money.
    severity: low
    code: [src/shop/billing.py]
"""

TESTS = """\
from unittest.mock import patch

import pytest

from shop.billing import charge_order, refund_order


@pytest.mark.invariant("PAY-001")
def test_real():
    ledger = {}
    charge_order("o-1", 5, ledger)
    with pytest.raises(ValueError):
        charge_order("o-1", 5, ledger)


@pytest.mark.invariant("PAY-001")
def test_gateway_faked():
    with patch("shop.billing.gateway") as fake:
        charge_order("o-2", 5, {})
    assert fake.charge.called


@pytest.mark.invariant("PAY-001")
def test_claims_but_refunds():
    assert refund_order("o-3", {"o-3": 1}) == 1


def test_incidental_refund():
    assert refund_order("o-4", {"o-4": 2}) == 2
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real `pytest --invariants` run of the project, shared by the tests (they copy it)."""
    root = tmp_path_factory.mktemp("why-project")
    (root / "pytest.ini").write_text("[pytest]\npythonpath = src\ntestpaths = tests\n")
    pkg = root / "src" / "shop"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(INIT)
    (pkg / "billing.py").write_text(BILLING)
    (pkg / "gateway.py").write_text(GATEWAY)
    (root / "invariants.yaml").write_text(INVARIANTS)
    (root / "tests").mkdir()
    (root / "tests" / "test_billing.py").write_text(TESTS)
    command = [sys.executable, "-m", "pytest", "--invariants", "-p", "no:cacheprovider", "-q"]
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return root


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(built, root)
    results = root / ".invariants" / "results.json"
    # The copy lives elsewhere: point the results at it, as a run there would have.
    results.write_text(results.read_text().replace(json.dumps(str(built))[1:-1], str(root)))
    return root


@dataclass
class Answer:
    ret: int
    out: str
    err: str


def why(root: Path, *args: str) -> Answer:
    """Run `invariants why` from `root` where importing `shop` would leave a trace and fail."""
    sentinel = root / "imported.txt"
    out, err = io.StringIO(), io.StringIO()
    before = set(sys.modules)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("SHOP_EXPLODE", str(sentinel))
        mp.syspath_prepend(str(root / "src"))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            ret = cli_main(["why", *args])
    assert not sentinel.exists(), "invariants why imported the user's code"
    assert not {m for m in set(sys.modules) - before if m.split(".")[0] == "shop"}
    return Answer(ret, out.getvalue(), err.getvalue())


@pytest.mark.invariant("WHY-001")
def test_a_fresh_interpreter_never_imports_the_code_either(project: Path) -> None:
    sentinel = project / "imported.txt"
    env = {**os.environ, "SHOP_EXPLODE": str(sentinel), "PYTHONPATH": str(project / "src")}
    command = [sys.executable, "-m", "pytest_invariants", "why", "shop.billing:charge_order"]
    run = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "PAY-001 [critical] verified" in run.stdout
    assert not sentinel.exists()


def answer(root: Path, target: str) -> dict[str, Any]:
    result = why(root, target, "--format", "json")
    assert result.ret == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def nodeids(reaches: list[dict[str, Any]]) -> list[str]:
    return [r["nodeid"].rpartition("::")[2] for r in reaches]


@pytest.mark.invariant("WHY-001")
def test_a_line_lists_its_guards_and_what_each_test_did_there(project: Path) -> None:
    data = answer(project, "src/shop/billing.py:8")  # gateway.charge(...)
    guards = {g["id"]: g for g in data["guards"]}
    assert list(guards) == ["PAY-001", "PAY-009"]
    pay = guards["PAY-001"]
    assert (pay["status"], pay["severity"], pay["owner"]) == (
        "verified",
        "critical",
        "@shop/payments",
    )
    assert pay["links"] == {"runbook": "https://wiki.example.test/charge"}
    assert nodeids(pay["real"]) == ["test_real"]
    assert nodeids(pay["under_doubles"]) == ["test_gateway_faked"]
    assert "shop.billing.gateway" in pay["under_doubles"][0]["doubles"][0]
    assert nodeids(pay["missed"]) == ["test_claims_but_refunds"]


@pytest.mark.invariant("WHY-001")
def test_a_function_target_is_resolved_without_importing(project: Path) -> None:
    data = answer(project, "shop.billing:refund_order")
    assert data["target"]["lines"] == [12, 13]
    (pay9,) = data["guards"]  # PAY-001's scope is charge_order only
    assert pay9["id"] == "PAY-009"
    assert nodeids(pay9["real"]) == ["test_claims_but_refunds", "test_incidental_refund"]
    text = why(project, "shop.billing:refund_order").out
    assert "PAY-009 [low] incidental: Every module of billing is reviewed" in text
    assert "test_claims_but_refunds (does not claim it)" in text


def test_unguarded_code_says_so_with_what_ran_it(project: Path) -> None:
    result = why(project, "src/shop/gateway.py:2")
    assert result.ret == 0
    assert result.out.startswith(
        "no invariant guards src/shop/gateway.py:2; last run: executed by 0 tests, claimed by none"
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("src/shop/billing.py:99", "line 99 is outside src/shop/billing.py (13 lines)"),
        ("src/shop/bill.py:3", "`src/shop/bill.py`: no such file -- did you mean"),
        ("shop.billing:charge", "defines no function or class `charge`"),
        ("shop.billing:4", "a line number needs a file path"),
    ],
)
def test_bad_targets_are_clean_errors(project: Path, target: str, message: str) -> None:
    result = why(project, target)
    assert result.ret == 2
    assert message in result.err
    assert "Traceback" not in result.err + result.out


@pytest.mark.invariant("WHY-002")
def test_a_file_changed_since_the_run_is_refused(project: Path) -> None:
    billing = project / "src" / "shop" / "billing.py"
    billing.write_text("\n\n" + BILLING)
    result = why(project, "src/shop/billing.py:8")
    assert result.ret == 2
    assert "src/shop/billing.py changed since the run that wrote" in result.err
    billing.write_text(BILLING)
    assert why(project, "src/shop/billing.py:8").ret == 0


def test_no_results_is_a_clean_error(tmp_path: Path) -> None:
    result = why(tmp_path, "src/shop/billing.py:8")
    assert result.ret == 2
    assert "no such results file -- run `pytest --invariants` first" in result.err


def test_results_without_hashes_are_answered_with_a_caveat(project: Path) -> None:
    path = project / ".invariants" / "results.json"
    data = json.loads(path.read_text())
    data["schema"] = "pytest-invariants/results/1"
    del data["scope_files"]
    path.write_text(json.dumps(data))
    text = why(project, "src/shop/billing.py:8").out
    assert "holds no file hashes (written before results schema 2)" in text
    assert "PAY-001 [critical] verified" in text

"""Partial and incomplete runs (SPEC v1.1 section 5), end to end on real pytest runs.

A narrowed run writes results that say so and never fails the gate because the
claiming tests of other invariants live elsewhere; an incomplete session writes
nothing and leaves the previous results byte-identical, serial and under xdist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

LOYALTY = """\
def points_for(paid_cents):
    if paid_cents <= 0:
        return 0
    return paid_cents // 100


def voucher_value(points):
    return min(points, 10_000)


def gift_balance(balance, amount):
    return balance - amount
"""

INVARIANTS = """\
version: 1
defaults:
  owner: loyalty
  severity: critical
gate:
  fail_on:
    critical: [failing, unverified, claimed, mock-only, incidental]
invariants:
  - id: LOY-001
    title: Points are earned only on amounts paid
    why: Points on refunds were cashed out.
    code: [shop.loyalty:points_for]
  - id: LOY-002
    title: A voucher is capped
    why: Vouchers are money.
    code: [shop.loyalty:voucher_value]
  - id: LOY-003
    title: A gift card is never overdrawn
    why: Free money.
    code: [shop.loyalty:gift_balance]
"""

POINTS = """\
import pytest
from shop.loyalty import points_for


@pytest.mark.invariant("LOY-001")
def test_points():
    assert points_for(1_999) == 19


def test_other():
    assert True
"""

VOUCHERS = """\
import pytest
from shop.loyalty import voucher_value


@pytest.mark.invariant("LOY-002")
def test_voucher_is_capped():
    assert voucher_value(50_000) == 10_000
"""

GIFTS = """\
import sys

import pytest
from shop.loyalty import gift_balance


@pytest.mark.invariant("LOY-003")
def test_gift_on_linux():
    assert gift_balance(5, 2) == 3


@pytest.mark.invariant("LOY-003")
@pytest.mark.skip(reason="needs the macOS keychain")
def test_gift_on_macos():
    assert gift_balance(5, 5) == 0


@pytest.mark.invariant("LOY-003")
def test_gift_sandbox():
    pytest.skip("sandbox not reachable")
"""


def make_project(pytester: pytest.Pytester, **extra_tests: str) -> None:
    pytester.makeini("[pytest]\npythonpath = src\ntestpaths = tests\n")
    pkg = pytester.path / "src" / "shop"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "loyalty.py").write_text(LOYALTY)
    (pytester.path / "invariants.yaml").write_text(INVARIANTS)
    tests = pytester.path / "tests"
    tests.mkdir()
    files = {"test_points.py": POINTS, "test_vouchers.py": VOUCHERS, "test_gifts.py": GIFTS}
    files.update(extra_tests)
    for name, text in files.items():
        (tests / name).write_text(text)


RESULTS = Path(".invariants") / "results.json"


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", *args)
    path = pytester.path / RESULTS
    return result, json.loads(path.read_text()) if path.exists() else {}


def by_id(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {inv["id"]: inv for inv in data["invariants"]}


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


@pytest.mark.invariant("RUN-001")
def test_a_whole_run_is_not_partial_and_judges_skipped_claimants_on_what_ran(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester)
    result, data = run(pytester, "-v")
    assert result.ret == 0, output(result)
    assert data["run"]["partial"] is False and data["run"]["partial_reasons"] == []
    gifts = by_id(data)["LOY-003"]
    assert gifts["status"] == "verified" and gifts["partial"] is False
    assert gifts["skipped"] == [
        {"nodeid": "tests/test_gifts.py::test_gift_on_macos", "reason": "needs the macOS keychain"},
        {"nodeid": "tests/test_gifts.py::test_gift_sandbox", "reason": "sandbox not reachable"},
    ]
    assert "test_gift_on_macos (needs the macOS keychain)" in result.stdout.str()
    assert data["claim_index"]["tests/test_vouchers.py::test_voucher_is_capped"] == ["LOY-002"]


@pytest.mark.invariant("RUN-001")
def test_a_single_file_run_says_partial_and_passes_the_gate(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    run(pytester)  # a whole run leaves the claim index
    result, data = run(pytester, "tests/test_points.py")
    assert result.ret == 0, output(result)
    assert data["run"]["partial"] is True
    assert data["run"]["partial_reasons"] == ["arguments tests/test_points.py"]
    invs = by_id(data)
    assert invs["LOY-001"]["status"] == "verified" and invs["LOY-001"]["partial"] is False
    assert invs["LOY-002"]["partial"] is True
    assert invs["LOY-002"]["partial_because"] == ["tests/test_vouchers.py::test_voucher_is_capped"]
    assert "partial run (arguments tests/test_points.py)" in result.stdout.str()
    assert "not judged in a partial run: LOY-002, LOY-003" in result.stdout.str()
    # The claim index is written by whole runs only: the narrowed run kept it.
    assert data["claim_index"]["tests/test_vouchers.py::test_voucher_is_capped"] == ["LOY-002"]


@pytest.mark.invariant("RUN-001")
def test_the_claim_index_is_read_from_a_results_file_in_any_layout(
    pytester: pytest.Pytester,
) -> None:
    # A narrowed run reads only the two ends of a file as we write it; a file laid
    # out otherwise (re-indented by a person or a tool) is read whole, to the same index.
    make_project(pytester)
    _, whole = run(pytester)
    (pytester.path / RESULTS).write_text(json.dumps(whole, indent=2), encoding="utf-8")
    result, data = run(pytester, "tests/test_points.py")
    assert result.ret == 0, output(result)
    assert data["run"]["claims_known"] is True
    assert by_id(data)["LOY-002"]["partial_because"] == [
        "tests/test_vouchers.py::test_voucher_is_capped"
    ]


@pytest.mark.invariant("RUN-001")
def test_a_single_file_run_with_no_whole_run_on_record_is_partial_where_unverified(
    pytester: pytest.Pytester,
) -> None:
    make_project(pytester)
    result, data = run(pytester, "tests/test_points.py")
    assert result.ret == 0, output(result)
    invs = by_id(data)
    assert [invs[i]["partial"] for i in ("LOY-001", "LOY-002", "LOY-003")] == [False, True, True]
    assert data["run"]["claims_known"] is False and data["claim_index"] == {}


@pytest.mark.invariant("RUN-001")
def test_a_whole_folder_argument_is_not_narrowed(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    result, data = run(pytester, "tests")
    assert result.ret == 0 and data["run"]["partial"] is False


@pytest.mark.invariant("RUN-001")
@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("-k", "not voucher"), "-k"),
        (("-m", "not slow"), "-m"),
        (("--deselect", "tests/test_vouchers.py::test_voucher_is_capped"), "--deselect"),
        (("--ignore", "tests/test_vouchers.py"), "--ignore"),
        (("tests/test_points.py::test_points",), "arguments tests/test_points.py::test_points"),
    ],
)
def test_each_way_of_narrowing_is_named(
    pytester: pytest.Pytester, args: tuple[str, ...], reason: str
) -> None:
    make_project(pytester)
    result, data = run(pytester, *args)
    assert result.ret == 0, output(result)
    assert data["run"]["partial"] is True and reason in data["run"]["partial_reasons"]


@pytest.mark.invariant("RUN-001")
def test_ini_addopts_deselection_is_the_projects_configuration(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makeini("[pytest]\npythonpath = src\ntestpaths = tests\naddopts = -k 'not voucher'\n")
    result, data = run(pytester)
    assert data["run"]["partial"] is False, data["run"]


@pytest.mark.invariant("RUN-001")
@pytest.mark.parametrize("xdist", [(), ("-n", "2")])
def test_a_run_stopped_by_maxfail_is_partial(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    failing = "def test_aaa_fails():\n    assert False\n"
    make_project(pytester, **{"test_aaa.py": failing})
    result, data = run(pytester, "-x", "-p", "no:randomly", *xdist)
    assert result.ret == (pytest.ExitCode.INTERRUPTED if xdist else 1)  # xdist's status for -x
    assert data["run"]["partial"] is True
    assert any(r.startswith("stopped early") for r in data["run"]["partial_reasons"])
    assert any(inv["partial"] for inv in data["invariants"])


@pytest.mark.invariant("GATE-001")
def test_a_partial_invariant_is_still_gated_for_failing(pytester: pytest.Pytester) -> None:
    make_project(pytester, **{"test_points.py": POINTS.replace("== 19", "== 20")})
    result, data = run(pytester, "tests/test_points.py", "tests/test_vouchers.py")
    assert by_id(data)["LOY-001"]["status"] == "failing"
    assert result.ret == 1  # pytest's status wins; the gate line names the failing rule
    assert "LOY-001 (critical, owner loyalty) is failing" in result.stdout.str()


@pytest.mark.invariant("RUN-001")
@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_an_unknown_marker_id_gives_the_same_located_error_under_xdist(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    make_project(pytester, **{"test_vouchers.py": VOUCHERS.replace("LOY-002", "LOY-02")})
    result, _ = run(pytester, *xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output(result)
    text = output(result)
    assert "tests/test_vouchers.py:5" in text and "did you mean LOY-002" in text
    assert "INTERNALERROR" not in text


@pytest.mark.invariant("RUN-001")
@pytest.mark.parametrize(
    ("args", "reasons", "collection"),
    [
        ((), (), False),
        (("tests",), (), False),
        (("tests/test_points.py",), ("arguments tests/test_points.py",), True),
        (("-k", "points"), ("-k",), False),
        (("-kpoints", "--deselect=tests/test_points.py::test_other"), ("-k", "--deselect"), False),
        (("--ignore=tests/test_gifts.py",), ("--ignore",), True),
    ],
)
def test_narrowing_is_read_from_the_command_line_not_the_ini_file(
    pytester: pytest.Pytester, args: tuple[str, ...], reasons: tuple[str, ...], collection: bool
) -> None:
    from pytest_invariants.pytest_plugin.narrowing import narrowing_of

    make_project(pytester)
    pytester.makeini("[pytest]\npythonpath = src\ntestpaths = tests\naddopts = -m 'not slow'\n")
    config = pytester.parseconfigure(*args)
    found = narrowing_of(config)
    assert (found.reasons, found.collection) == (reasons, collection)

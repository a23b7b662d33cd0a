"""Honest messages: the last line a user reads says what the exit status says."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_invariants.cli.main import main as cli_main
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.pytest_plugin.summary import gate_line

from .test_options import TESTS, project, run

pytest_plugins = ["pytester"]

FAILING = """

def test_broken():
    assert False
"""


def last_line(result: pytest.RunResult) -> str:
    return [line for line in result.stdout.lines if line.strip()][-1]


def test_gate_failed_while_tests_failed_keeps_status_1_and_says_so(
    pytester: pytest.Pytester,
) -> None:
    root = project(pytester)
    (root / "test_shop.py").write_text(TESTS + FAILING)
    result = run(pytester, "--invariants", "--invariants-gate=low:unverified")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = result.stdout.str()
    assert "exit status 7" not in text
    assert "invariants gate failed too; the exit status stays 1 because tests failed" in text


def test_gate_failed_alone_says_exit_status_7(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = run(pytester, "--invariants", "--invariants-gate=low:unverified")
    assert result.ret == ExitCode.GATE_FAILED
    assert "invariants gate failed: exit status 7" in result.stdout.str()


def test_gate_line_names_every_status_it_keeps() -> None:
    assert gate_line(8).endswith("stays 8 because the results could not be written")
    assert gate_line(5).endswith("stays 5 because no tests were collected")


def test_unknown_marker_id_is_a_problem_in_the_tests(pytester: pytest.Pytester) -> None:
    root = project(pytester)
    (root / "test_shop.py").write_text(TESTS.replace("SHOP-001", "SHOP-01"))
    result = run(pytester, "--invariants")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "test_shop.py:4:" in err and "did you mean SHOP-001" in err
    assert "1 problem in the tests' invariant markers" in err
    assert "invariants files" not in err


GLOB = """\
  - id: SHOP-003
    title: Totals are rounded to cents
    why: Ledgers disagree otherwise.
    code: [shop:total]
    tests: ["test_shop.py::test_rounding_*", "test_shop.py::test_tot*"]
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_glob_matching_no_collected_test_is_warned(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    root = project(pytester)
    (root / "invariants.yaml").write_text((root / "invariants.yaml").read_text() + GLOB)
    result = run(pytester, "--invariants", "--invariants-json=out.json", *xdist)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    warning = "SHOP-003: its `tests:` glob 'test_shop.py::test_rounding_*' matched no collected"
    shown = " ".join(result.stdout.str().split())  # the terminal wraps long warnings
    assert warning in shown
    assert "test_tot*' matched" not in shown  # that one claims test_total
    saved = json.loads((root / "out.json").read_text())
    assert any(w.startswith(warning) for w in saved["run"]["warnings"])


def test_a_deselected_match_is_still_a_match(pytester: pytest.Pytester) -> None:
    root = project(pytester)
    (root / "invariants.yaml").write_text((root / "invariants.yaml").read_text() + GLOB)
    result = run(pytester, "--invariants", "-k", "not total")
    shown = " ".join(result.stdout.str().split())
    assert "test_rounding_*' matched no collected test" in shown
    assert "test_tot*' matched" not in shown


# -- the `invariants` command -----------------------------------------------------------------


def test_report_error_names_its_command_once(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    results = saved_results(pytester)
    assert cli_main(["report", str(results)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("invariants report: name at least one of --html")
    assert "report: report:" not in err


def test_combining_the_same_shard_twice_is_warned(
    pytester: pytest.Pytester, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shard = saved_results(pytester)
    copy = tmp_path / "copy.json"
    shutil.copy(shard, copy)
    out = tmp_path / "all.json"
    capsys.readouterr()
    assert cli_main(["combine", str(shard), str(shard), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {shard} is the same run as {shard} (counted once)" in err
    assert cli_main(["combine", str(shard), str(copy), "-o", str(out)]) == 0
    assert f"warning: {copy} is the same run as {shard}" in capsys.readouterr().err
    assert len(json.loads(out.read_text())["tests"]) == len(json.loads(shard.read_text())["tests"])
    # Two shards of one suite are two runs: no warning.
    assert run(pytester, "--invariants", "-k", "total").ret == 0
    assert cli_main(["combine", str(copy), str(shard), "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err


def saved_results(pytester: pytest.Pytester) -> Path:
    """Return the results file of a real run of the small shop."""
    root = project(pytester)
    assert run(pytester, "--invariants").ret == 0
    return root / ".invariants" / "results.json"

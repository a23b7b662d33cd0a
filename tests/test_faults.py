"""Faults a real run meets: signals, unwritable folders, crashed workers, disturbed observers.

Every test drives a real `pytest --invariants` subprocess on a small project:
the faults (a signal, a dead worker, a test that takes our monitoring tool id)
are real, never simulated by patching the code under test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .test_plugin import make_project, run, statuses

pytest_plugins = ["pytester"]

RESULTS = Path(".invariants") / "results.json"

SLEEPER = """\
import os
import time


def test_zz_sleeps():
    # Tell the outer test we are running, then wait to be signalled.
    with open(os.environ["INV_STARTED"], "w") as flag:
        flag.write("started")
    time.sleep(60)
"""


def _signal_mid_run(pytester: pytest.Pytester, signum: int) -> subprocess.CompletedProcess[str]:
    """Start `pytest --invariants`, send `signum` once its sleeping test runs, and wait."""
    started = pytester.path / "started.flag"
    env = {**os.environ, "INV_STARTED": str(started), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    # A shell that ignores SIGINT would hand that on to the child; give it the default back.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--invariants", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509 - no threads here
    )
    deadline = time.monotonic() + 60
    while not started.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"the sleeping test never started:\n{out}")
        time.sleep(0.05)
    proc.send_signal(signum)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the run did not stop on {signal.Signals(signum).name}:\n{out}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


@pytest.mark.invariant("RES-001")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signalled_run_keeps_the_previous_results_byte_for_byte(
    pytester: pytest.Pytester, signum: int
) -> None:
    make_project(pytester)
    result, _ = run(pytester)
    assert result.ret == 0
    before = (pytester.path / RESULTS).read_bytes()
    (pytester.path / "tests" / "test_sleep.py").write_text(SLEEPER)
    done = _signal_mid_run(pytester, signum)
    assert done.returncode == pytest.ExitCode.INTERRUPTED, done.stdout
    assert "the run was interrupted: results are incomplete and were not written" in done.stdout
    assert (pytester.path / RESULTS).read_bytes() == before
    leftovers = [
        p.name
        for p in (pytester.path / ".invariants").iterdir()
        # the caches and the folder's own .gitignore stay
        if p.name
        not in ("results.json", "scope-cache.json", "yaml-cache.json", "probes", ".gitignore")
    ]
    assert leftovers == []  # no temporary file left behind either


def test_results_under_a_file_give_exit_8_and_a_clear_error(pytester: pytest.Pytester) -> None:
    # chmod cannot stop root, who runs CI; a path under a regular file fails for everyone.
    make_project(pytester)
    (pytester.path / "blocker").write_text("not a folder")
    result = pytester.runpytest_subprocess(
        "--invariants", "--invariants-json", "blocker/results.json", "-p", "no:cacheprovider"
    )
    assert result.ret == 8
    out = result.stdout.str()
    assert re.search(r"ERROR: cannot write \S*blocker/results.json: Not a directory", out), out
    assert "make the folder writable or name another file with --invariants-json" in out
    # The default copy was still written: one bad target does not lose the run.
    assert json.loads((pytester.path / RESULTS).read_text())["invariants"]


def test_an_unwritable_default_results_folder_gives_exit_8(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    (pytester.path / ".invariants").write_text("a file where the folder should be")
    result = pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    assert result.ret == 8
    assert (
        "cannot write " in result.stdout.str()
        and ".invariants/results.json: " in result.stdout.str()
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_failing_test_keeps_exit_1_when_results_cannot_be_written(
    pytester: pytest.Pytester,
) -> None:
    # Never replace a worse status with ours.
    make_project(pytester, tests="def test_fails():\n    assert False\n")
    (pytester.path / ".invariants").write_text("blocked")
    result = pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    assert result.ret == 1
    assert (
        "cannot write " in result.stdout.str()
        and ".invariants/results.json: " in result.stdout.str()
    )


# -- a crashed xdist worker -----------------------------------------------------------

CRASHING_TESTS = """\
import os

import pytest

from shop.billing import charge_order, refund_order


@pytest.mark.invariant("PAY-001")
def test_charge():
    assert charge_order("o-1", 5, {}) == 5


@pytest.mark.invariant("PAY-002")
def test_refund_then_the_worker_dies():
    assert refund_order("o-1", {"o-1": 5}) == 5
    os._exit(1)


@pytest.mark.invariant("PAY-002")
def test_refund():
    assert refund_order("o-2", {"o-2": 7}) == 7
"""


def _test_entry(data: dict[str, Any], nodeid: str) -> dict[str, Any]:
    (entry,) = [t for t in data["tests"] if t["nodeid"] == nodeid]
    return entry


@pytest.mark.invariant("STAT-001")
def test_a_crashed_worker_marks_its_test_crashed_and_its_invariant_failing(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    make_project(pytester, tests=CRASHING_TESTS)
    result, data = run(pytester, "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    crashed = "tests/test_billing.py::test_refund_then_the_worker_dies"
    entry = _test_entry(data, crashed)
    assert entry["outcome"] == "crashed"
    # Its claim reached the controller before the worker died, its evidence never did.
    assert entry["claims"] == ["PAY-002"] and entry["executed"] == {}
    (pay2,) = [inv for inv in data["invariants"] if inv["id"] == "PAY-002"]
    # A passing real test does not hide a claiming test that crashed: failing, like an error.
    assert pay2["status"] == "failing"
    links = {t["nodeid"]: (t["link"], t["outcome"]) for t in pay2["tests"]}
    assert links[crashed] == ("claimed", "crashed")
    assert links["tests/test_billing.py::test_refund"] == ("real", "passed")
    assert statuses(data)["PAY-001"] == "verified"
    result.stdout.fnmatch_lines(["*failing*PAY-002*"])


# -- disturbed observation ------------------------------------------------------------

DISTURBING_SYSMON = """\
import sys

import pytest

from shop.billing import charge_order


def _our_tool():
    return next(t for t in range(6) if sys.monitoring.get_tool(t) == "pytest-invariants")


@pytest.mark.invariant("PAY-001")
def test_a_takes_our_tool_id():
    tool = _our_tool()
    sys.monitoring.free_tool_id(tool)
    sys.monitoring.use_tool_id(tool, "intruder")
    assert charge_order("o-1", 5, {}) == 5


@pytest.mark.invariant("PAY-001")
def test_b_charges_again():
    assert charge_order("o-2", 5, {}) == 5
"""

DISTURBING_PROBES = """\
import pytest

from shop import billing


@pytest.mark.invariant("PAY-001")
def test_a_puts_the_original_code_back():
    # What a second instrumenting tool, or a reload-like trick, does to our probes.
    original = compile(open(billing.__file__).read(), billing.__file__, "exec")
    fresh = {}
    exec(original, fresh)
    billing.charge_order.__code__ = fresh["charge_order"].__code__
    assert billing.charge_order("o-1", 5, {}) == 5
"""

SETTRACE = """\
import sys

import pytest

from shop.billing import charge_order


@pytest.mark.invariant("PAY-001")
def test_traces_itself():
    seen = []

    def tracer(frame, event, arg):
        seen.append(event)
        return tracer

    sys.settrace(tracer)
    try:
        assert charge_order("o-1", 5, {}) == 5
    finally:
        sys.settrace(None)
    assert "line" in seen
"""


def _observation_warnings(data: dict[str, Any]) -> list[str]:
    return [str(w) for w in data["run"]["warnings"]]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring exists from 3.12")
def test_a_test_that_takes_our_monitoring_tool_id_is_reported(pytester: pytest.Pytester) -> None:
    make_project(pytester, tests=DISTURBING_SYSMON)
    result, data = run(pytester)
    assert result.ret == 0, result.stdout.str()
    warnings = _observation_warnings(data)
    assert any("was freed or taken (now 'intruder')" in w for w in warnings), warnings
    assert any(w.startswith("tests/test_billing.py::test_a_takes_our_tool_id") for w in warnings)
    assert "was freed or taken" in result.stdout.str()  # shown in the terminal too
    # We re-armed on a fresh tool id: the next test is observed again.
    entry = _test_entry(data, "tests/test_billing.py::test_b_charges_again")
    assert entry["executed"], "the recorder did not recover after losing its tool id"
    # The problem belongs to the test that caused it, not to every test after it.
    assert entry["observation_warnings"] == []


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="probes are the recorder before 3.12")
def test_a_test_that_swaps_out_probed_code_is_reported(pytester: pytest.Pytester) -> None:
    make_project(pytester, tests=DISTURBING_PROBES)
    result, data = run(pytester)
    assert result.ret == 0, result.stdout.str()
    warnings = _observation_warnings(data)
    assert any("charge_order" in w and "was replaced by someone else" in w for w in warnings)
    assert "was replaced by someone else" in result.stdout.str()
    (pay1,) = [inv for inv in data["invariants"] if inv["id"] == "PAY-001"]
    # The lines were really lost, and the report says why instead of a silent `claimed`.
    assert pay1["status"] == "claimed"


def test_a_test_with_its_own_settrace_loses_no_evidence(pytester: pytest.Pytester) -> None:
    # Neither recorder uses sys.settrace, so a test's own tracer takes nothing from us:
    # the lines are recorded and no warning is raised (a false alarm would be noise).
    make_project(pytester, tests=SETTRACE)
    result, data = run(pytester)
    assert result.ret == 0, result.stdout.str()
    assert statuses(data)["PAY-001"] == "verified"
    assert _observation_warnings(data) == []

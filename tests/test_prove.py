"""Proof by targeted mutation, end to end on small real projects (pytester subprocesses)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

import pytest_invariants
from pytest_invariants.cli.main import main as cli_main
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.model import MutantOutcome, MutantStatus
from pytest_invariants.prove.engine import proof_of

pytest_plugins = ["pytester"]

RULES = """\
def is_adult(age):
    return age >= 18


def shipping_fee(total):
    if total >= 50:
        return 0
    return 5


def countdown(n):
    while n > 0:
        n -= 1
    return n


def greeting():
    return None


def double(x):
    return x * 2  # invariants: equivalent
"""

INVARIANTS = """\
version: 1
defaults:
  owner: team
invariants:
  - id: AGE
    title: Adults are 18 or older
    why: Law.
    code: [pkg.rules:is_adult]
  - id: FEE
    title: Shipping is free from 50
    why: Promise.
    code: [pkg.rules:shipping_fee]
  - id: LOOP
    title: Countdown ends at zero
    why: Demo.
    code: [pkg.rules:countdown]
  - id: NONE
    title: Greeting is nothing
    why: Demo.
    code: [pkg.rules:greeting]
  - id: WAIVED
    title: Doubling
    why: Demo.
    code: [pkg.rules:double]
  - id: FAKE
    title: Adults again, tested through a fake
    why: Demo.
    code: [pkg.rules:is_adult]
    allow_doubles: [pkg.rules]
"""

TESTS = """\
import pytest
from pkg import rules


@pytest.mark.invariant("AGE")
def test_adult_and_child():
    assert rules.is_adult(30)
    assert not rules.is_adult(5)


@pytest.mark.invariant("FEE")
@pytest.mark.parametrize(("total", "fee"), [(49, 5), (50, 0)])
def test_fee_on_both_sides(total, fee):
    assert rules.shipping_fee(total) == fee


@pytest.mark.invariant("LOOP")
def test_countdown():
    assert rules.countdown(3) == 0


@pytest.mark.invariant("NONE")
def test_greeting():
    assert rules.greeting() is None


@pytest.mark.invariant("WAIVED")
def test_double():
    rules.double(2)


@pytest.mark.invariant("FAKE")
def test_through_a_fake(monkeypatch):
    rules.is_adult(40)  # runs the real scope once, asserts nothing about it
    monkeypatch.setattr(rules, "is_adult", lambda age: age >= 18)
    assert rules.is_adult(18)
    assert not rules.is_adult(17)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(**{"pkg/__init__.py": "", "pkg/rules.py": RULES})
    pytester.makefile(".yaml", invariants=INVARIANTS)
    pytester.makepyfile(test_rules=TESTS)
    pytester.makeini("[pytest]\npythonpath = .\n")
    return pytester


def _results(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    data = json.loads((pytester.path / ".invariants" / "results.json").read_text())
    return {inv["id"]: inv for inv in data["invariants"]}


def _prove(pytester: pytest.Pytester, *args: str) -> int:
    results = str(pytester.path / ".invariants" / "results.json")
    return cli_main(["prove", "--results", results, "--timeout-base", "1", *args])


def _statuses(proof: dict[str, Any]) -> dict[str, str]:
    return {f"{m['line']}:{m['operator']}": m["status"] for m in proof["mutants"]}


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_pytest_run_proves_killed_and_shows_surviving_boundary_mutant(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest_subprocess(
        "--invariants",
        "--invariants-prove",
        "--invariants-html=report.html",
        "-p",
        "no:cacheprovider",
        "-k",
        "fee or adult",
    )
    assert result.ret == 0
    found = _results(project)
    assert found["FEE"]["status"] == "proven"
    assert found["FEE"]["proof"]["score"] == 1.0
    assert found["FEE"]["proof"]["cached"] is False
    age = found["AGE"]
    assert age["status"] == "verified"
    assert _statuses(age["proof"]) == {
        "2:comparison-boundary": "survived",
        "2:comparison-negate": "killed",
        "2:number-plus-one": "survived",
        "2:number-minus-one": "survived",
        "2:return-none": "killed",
    }
    killed = next(m for m in age["proof"]["mutants"] if m["status"] == "killed")
    assert killed["killed_by"] == "test_rules.py::test_adult_and_child"
    boundary = next(m for m in age["proof"]["mutants"] if m["operator"] == "comparison-boundary")
    assert "+    return age > 18" in boundary["diff"]
    assert age["proof"]["proven"] is False
    result.stdout.fnmatch_lines(
        [
            "*this change to your code breaks no test: pkg/rules.py:2 (comparison-boundary)*",
        ]
    )
    html = (project.path / "report.html").read_text()
    assert "Surviving mutants" in html and "return age &gt; 18" in html


def test_a_test_that_patched_the_function_lets_every_mutant_survive(
    project: pytest.Pytester,
) -> None:
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "fake")
    assert _results(project)["FAKE"]["status"] == "verified"  # the doubles are allowed
    assert _prove(project, "FAKE") == ExitCode.PROOF_FAILED  # named and not proven
    proof = _results(project)["FAKE"]["proof"]
    assert proof["total"] == 5 and proof["killed"] == 0
    assert _results(project)["FAKE"]["status"] == "verified"


def test_a_proof_started_from_another_folder_runs_its_tests_in_the_rootdir(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `invariants prove` starts its worker before it has read where the project is;
    # the tests must still run in the rootdir, as in the recorded run.
    (project.path / "limit.txt").write_text("50\n")
    project.makepyfile(test_limit=(
        "import pytest\nfrom pkg import rules\n\n\n@pytest.mark.invariant('FEE')\n"
        "def test_free_from_the_limit_on_file():\n"
        "    limit = int(open('limit.txt').read())\n"
        "    assert rules.shipping_fee(limit) == 0 and rules.shipping_fee(limit - 1) == 5\n"
    ))
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "limit_on_file")
    monkeypatch.chdir(project.path.parent)
    assert _prove(project, "FEE", "--no-cache") == ExitCode.OK
    proof = _results(project)["FEE"]["proof"]
    assert proof["proven"] is True and proof["note"] is None and proof["killed"] > 0


def test_a_proof_runs_under_filterwarnings_error_with_the_package_on_sys_path(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a regular (not editable) install: pytest can find this package on
    # sys.path, would mark it for assert rewriting after the worker imported it, and
    # warn, which `filterwarnings = error` turns into a worker that cannot start.
    project.makeini("[pytest]\npythonpath = .\nfilterwarnings =\n    error\n")
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "fee")
    monkeypatch.setenv("PYTHONPATH", str(Path(pytest_invariants.__file__).parent.parent))
    assert _prove(project, "FEE", "--no-cache") == ExitCode.OK
    proof = _results(project)["FEE"]["proof"]
    assert proof["proven"] is True and proof["note"] is None


def test_an_infinite_loop_mutant_is_killed_by_timeout(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "countdown")
    started = time.monotonic()
    assert _prove(project, "LOOP") == 0
    statuses = _statuses(_results(project)["LOOP"]["proof"])
    assert statuses["13:arithmetic-swap"] == "timeout"  # n += 1 never ends
    assert statuses["13:statement-remove"] == "timeout"
    assert time.monotonic() - started < 60


WAIT = """\
import time


def settle(steps=0):
    time.sleep(steps * 5)
    return True
"""


def test_a_looping_mutant_meets_its_cpu_box_and_a_blocked_one_its_wall_box(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(**{"pkg/wait.py": WAIT})
    project.makefile(
        ".yaml",
        invariants=INVARIANTS
        + ("  - id: WAIT\n    title: Settles\n    why: Demo.\n    code: [pkg.wait:settle]\n"),
    )
    project.makepyfile(
        test_wait=(
            "import pytest\nfrom pkg import wait\n\n\n@pytest.mark.invariant('WAIT')\n"
            "def test_settles():\n    assert wait.settle() is True\n"
        )
    )
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "down or settles")
    results = str(project.path / ".invariants" / "results.json")
    assert cli_main(["prove", "LOOP", "WAIT", "--results", results, "--timeout-base", "2"]) == 9
    proofs = _results(project)
    loop = {f"{m['line']}:{m['operator']}": m for m in proofs["LOOP"]["proof"]["mutants"]}
    # n += 1 computes forever: the kernel ends it after its CPU box (4 x its time + 0.02 s)
    assert loop["13:arithmetic-swap"]["status"] == "timeout"
    assert "CPU time box" in loop["13:arithmetic-swap"]["why"]
    wait = {m["operator"]: m for m in proofs["WAIT"]["proof"]["mutants"]}
    # steps=1 sleeps 5 s and uses no CPU: the wall-clock box (4 x its time + 2 s) ends it
    assert wait["default-argument"]["status"] == "timeout"
    assert "ran past its time box" in wait["default-argument"]["why"]


ORDER_DEPENDENT = """\
import pytest
from pkg import rules

SEEN = []


@pytest.mark.invariant("AGE")
def test_first():
    SEEN.append(1)
    assert rules.is_adult(30)


@pytest.mark.invariant("AGE")
def test_second():
    assert SEEN, "passes only after test_first"
    assert not rules.is_adult(5)
"""


def test_a_linked_test_that_fails_alone_makes_no_mutant_killed(project: pytest.Pytester) -> None:
    project.makepyfile(test_rules=ORDER_DEPENDENT)
    assert project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider").ret == 0
    assert _prove(project, "AGE") == ExitCode.PROOF_FAILED
    proof = _results(project)["AGE"]["proof"]
    # Mutants run some tests, killer first, in fresh forks: test_second alone would
    # "kill" every mutant. The proof says so instead of claiming kills.
    assert "test_second fails when run alone" in proof["note"]
    assert proof["killed"] == 0 and not proof["proven"]


def test_rerun_hits_the_cache_and_an_edit_misses_it(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "fee")
    assert _prove(project, "FEE") == 0
    assert _results(project)["FEE"]["proof"]["cached"] is False
    assert (project.path / ".invariants" / "proof-cache.json").is_file()
    assert _prove(project, "FEE") == 0
    assert _results(project)["FEE"]["proof"]["cached"] is True
    assert _results(project)["FEE"]["status"] == "proven"
    test_file = project.path / "test_rules.py"
    test_file.write_text(test_file.read_text() + "\n# an edit\n")
    assert _prove(project, "FEE") == 0
    assert _results(project)["FEE"]["proof"]["cached"] is False
    assert _prove(project, "FEE", "--no-cache") == 0
    assert _results(project)["FEE"]["proof"]["cached"] is False


def test_zero_mutants_and_all_waived_are_never_proven(project: pytest.Pytester) -> None:
    project.runpytest_subprocess(
        "--invariants", "-p", "no:cacheprovider", "-k", "greeting or double"
    )
    assert _prove(project, "NONE", "WAIVED") == ExitCode.PROOF_FAILED
    found = _results(project)
    assert found["NONE"]["status"] == "verified"
    assert found["NONE"]["proof"]["total"] == 0 and found["NONE"]["proof"]["proven"] is False
    assert "nothing was measured" in found["NONE"]["proof"]["note"]
    waived = found["WAIVED"]["proof"]
    assert found["WAIVED"]["status"] == "verified"
    assert waived["waived"] == len(waived["mutants"]) > 0 and waived["total"] == 0
    assert all(m["waived"] for m in waived["mutants"])


@pytest.mark.invariant("PROVE-001")
def test_zero_mutants_proof_value_is_not_proven() -> None:
    assert proof_of([], 0.0, cached=False, note=None).proven is False
    killed = [MutantOutcome("m", "op", "f.py", 1, "", MutantStatus.KILLED)]
    assert proof_of(killed, 1.0, cached=False, note=None).proven is True
    assert proof_of(killed, 1.0, cached=False, note="baseline failed").proven is False
    unreached = [*killed, MutantOutcome("n", "op", "f.py", 2, "", MutantStatus.NOT_REACHED)]
    proof = proof_of(unreached, 1.0, cached=False, note=None)
    assert proof.proven is False and proof.not_reached == 1 and proof.score == 0.5


def test_threshold_from_the_invariants_file(project: pytest.Pytester) -> None:
    project.makefile(
        ".yaml",
        invariants=INVARIANTS.replace(
            "    code: [pkg.rules:is_adult]\n  - id: FEE",
            "    code: [pkg.rules:is_adult]\n    prove: {threshold: 0.4}\n  - id: FEE",
        ),
    )
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "adult_and")
    assert _prove(project, "AGE") == 0
    age = _results(project)["AGE"]
    assert age["proof"]["threshold"] == 0.4 and age["proof"]["score"] == 0.4
    assert age["status"] == "proven"


def _wait_for_a_mutant_worker(proc: subprocess.Popen[bytes], limit: float = 120.0) -> None:
    """Wait until `proc` has started a child process: the proof is under way.

    Sleeping a fixed time instead made the test depend on the machine's load.
    """
    tasks = Path(f"/proc/{proc.pid}/task")
    if not (tasks / str(proc.pid) / "children").exists():
        pytest.skip("needs Linux /proc to see the mutant worker start")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        # Workers may be started from any of the controller's threads.
        for children in tasks.glob("*/children"):
            try:
                if children.read_text().split():
                    return
            except OSError:
                continue  # the thread ended while we looked
        time.sleep(0.02)
    raise AssertionError("no mutant worker started")


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_proof_leaves_every_file_identical(
    project: pytest.Pytester, how: signal.Signals
) -> None:
    slow = TESTS.replace(
        "def test_adult_and_child():\n",
        "def test_adult_and_child():\n    import time; time.sleep(0.4)\n",
    )
    project.makepyfile(test_rules=slow)
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "adult_and")
    before = _tree_hash(project.path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_invariants", "prove", "AGE"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    _wait_for_a_mutant_worker(proc)
    time.sleep(0.5)  # the worker is running mutants now
    proc.send_signal(how)
    output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode != 0, output
    assert _tree_hash(project.path) == before


def test_an_interrupted_pytest_proof_keeps_the_previous_results(project: pytest.Pytester) -> None:
    slow = TESTS.replace(
        "def test_adult_and_child():\n",
        "def test_adult_and_child():\n    import time; time.sleep(0.4)\n",
    )
    project.makepyfile(test_rules=slow)
    args = ["-m", "pytest", "--invariants", "-p", "no:cacheprovider", "-k", "adult_and"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, *args], cwd=project.path, env=env, capture_output=True)
    before = _tree_hash(project.path)
    proc = subprocess.Popen(
        [sys.executable, *args, "--invariants-prove"],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    _wait_for_a_mutant_worker(proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "the proof was interrupted" in output
    assert _tree_hash(project.path) == before


SIGN = """\
def sign(x):
    if x > 0:
        return 1
    return -1
"""


def test_a_mutant_on_a_line_no_linked_test_ran_is_not_reached(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{"pkg/__init__.py": "", "pkg/rules.py": SIGN})
    pytester.makefile(
        ".yaml",
        invariants=(
            "version: 1\ndefaults:\n  owner: team\ninvariants:\n"
            "  - id: SIGN\n    title: Sign\n    why: Demo.\n    code: [pkg.rules:sign]\n"
        ),
    )
    pytester.makepyfile(
        test_sign=(
            "import pytest\nfrom pkg import rules\n\n\n@pytest.mark.invariant('SIGN')\n"
            "def test_positive():\n    assert rules.sign(5) == 1\n"
        )
    )
    pytester.makeini("[pytest]\npythonpath = .\n")
    pytester.runpytest_subprocess("--invariants", "-p", "no:cacheprovider")
    assert _prove(pytester, "SIGN") == ExitCode.PROOF_FAILED
    proof = _results(pytester)["SIGN"]["proof"]
    by_line: dict[int, set[str]] = {}
    for mutant in proof["mutants"]:
        by_line.setdefault(mutant["line"], set()).add(mutant["status"])
    assert by_line[4] == {"not-reached"}  # `return -1`: no linked test gets there
    assert by_line[3] == {"killed"}
    assert proof["not_reached"] == sum(1 for m in proof["mutants"] if m["line"] == 4) > 0
    assert all(m["killed_by"] is None for m in proof["mutants"] if m["line"] == 4)
    assert _results(pytester)["SIGN"]["status"] == "verified"


def test_fail_under_and_one_id_output_and_plain_progress(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "fee or adult_and")
    assert _prove(project, "AGE") == ExitCode.PROOF_FAILED
    capsys.readouterr()
    assert _prove(project, "FEE") == ExitCode.OK
    out, err = capsys.readouterr()
    assert "FEE: proven" in out and "AGE" not in out  # only the id asked for
    assert re.search(r"invariants prove: (\d+)/\1 mutants, \1 killed, .* ETA", err)  # no TTY
    assert _prove(project, "--fail-under", "100") == ExitCode.PROOF_FAILED  # AGE survives
    assert "is under --fail-under=100%" in capsys.readouterr().out
    assert _prove(project, "--fail-under", "50") == ExitCode.OK  # 2 of 5 and 10 of 10 killed


def test_no_cache_neither_reads_nor_writes_the_cache(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "fee")
    cache = project.path / ".invariants" / "proof-cache.json"
    assert _prove(project, "FEE", "--no-cache") == 0
    assert not cache.exists()
    assert _prove(project, "FEE") == 0
    before = cache.read_bytes()
    (project.path / "test_rules.py").write_text(TESTS + "\n# an edit\n")
    assert _prove(project, "FEE", "--no-cache") == 0
    assert cache.read_bytes() == before


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids = [int(k) for k in children.read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found |= {kid, *_descendants(kid)}
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_the_proof_leaves_no_worker_and_no_temporary_folder(
    project: pytest.Pytester,
) -> None:
    slow = TESTS.replace(
        "def test_adult_and_child():\n",
        "def test_adult_and_child():\n    import time; time.sleep(0.4)\n",
    )
    project.makepyfile(test_rules=slow)
    project.runpytest_subprocess("--invariants", "-p", "no:cacheprovider", "-k", "adult_and")
    before = _tree_hash(project.path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_invariants", "prove", "AGE"],
        cwd=project.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    _wait_for_a_mutant_worker(proc)
    deadline = time.monotonic() + 60
    while len(_descendants(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the worker and at least one forked child
    family = _descendants(proc.pid)
    assert len(family) >= 2, "no forked child started"
    folders = set(Path(tempfile.gettempdir()).glob("invariants-prove-*"))
    mine = {f for f in folders if any(f.name.startswith(f"invariants-prove-{p}-") for p in family)}
    assert mine, "the worker made no temporary folder"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in family if _alive(p)], "a worker outlived the killed proof"
    assert not [f for f in mine if f.exists()], "a temporary folder was left behind"
    assert _tree_hash(project.path) == before

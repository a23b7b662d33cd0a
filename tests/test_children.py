"""Scope code run in child processes counts for the test that started them (docs/children.md).

Real children on small projects: a CLI run with `subprocess`, an HTTP server
started with `subprocess.Popen` and hit on 127.0.0.1, a multiprocessing pool
with each start method and a ProcessPoolExecutor; serially and under xdist.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_invariants.observe import child
from pytest_invariants.observe.children import ChildWatch
from tests.projects import links, make, run, statuses

PRICING = """
    def price(cents, pct):
        if pct < 0 or pct > 100:
            raise ValueError(pct)
        return cents - cents * pct // 100


    def square(x):
        return x * x
"""

SERVER = """
    import json
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from shop.pricing import price


    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"price": price(1000, 10)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass


    def main():
        server = HTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
"""

INVARIANTS = """
    version: 1
    defaults: {owner: shop}
    invariants:
      - id: PRICE
        title: A discount stays between 0 and 100 percent
        why: No negative prices.
        code: [shop.pricing:price]
      - id: SQUARE
        title: Squares are squares
        why: Arithmetic.
        code: [shop.pricing:square]
"""

TESTS = """
    import multiprocessing
    import os
    import signal
    import subprocess
    import sys
    import urllib.request
    from concurrent.futures import ProcessPoolExecutor

    import pytest

    from shop.pricing import square

    ENV = {**os.environ, "PYTHONPATH": "src"}


    @pytest.mark.invariant("PRICE")
    def test_cli():
        out = subprocess.run(
            [sys.executable, "-m", "shop", "1000", "10"],
            capture_output=True, text=True, check=True, env=ENV, timeout=60,
        )
        assert out.stdout.strip() == "900"


    def test_the_variable_never_reaches_child_code():
        out = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.environ))"],
            capture_output=True, text=True, check=True, timeout=60,
        )
        assert "PYTEST_INVARIANTS" not in out.stdout


    @pytest.fixture
    def server():
        proc = subprocess.Popen(
            [sys.executable, "-c", "from shop.server import main; main()"],
            stdout=subprocess.PIPE, text=True, env=ENV,
        )
        try:
            port = int(proc.stdout.readline())
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


    @pytest.mark.invariant("PRICE")
    def test_server(server):
        with urllib.request.urlopen(server, timeout=30) as response:
            assert response.read() == b'{"price": 900}'


    @pytest.mark.invariant("SQUARE")
    @pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
    def test_pool(method):
        with multiprocessing.get_context(method).Pool(2) as pool:
            assert pool.map(square, [1, 2, 3]) == [1, 4, 9]


    @pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
    def test_pool_workers_still_die_of_sigterm(method):
        # A Python-level handler there can lose the SIGTERM of Pool.terminate().
        with multiprocessing.get_context(method).Pool(1) as pool:
            assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL


    @pytest.mark.invariant("SQUARE")
    def test_executor():
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(2, mp_context=context) as executor:
            assert list(executor.map(square, [1, 2])) == [1, 4]


    @pytest.mark.invariant("SQUARE")
    def test_a_child_that_crashes():
        code = "import os; from shop.pricing import square; square(2); os.abort()"
        proc = subprocess.run([sys.executable, "-c", code], env=ENV, timeout=60)
        assert proc.returncode != 0
"""


def _project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # The inner run is the user's suite; when this suite itself runs under
    # --invariants, its variable would make that run a child of ours as well.
    monkeypatch.delenv(child.VAR, raising=False)
    make(
        pytester,
        {
            "src/shop/__init__.py": "",
            "src/shop/pricing.py": PRICING,
            "src/shop/server.py": SERVER,
            "src/shop/__main__.py": (
                "import sys\nfrom shop.pricing import price\n"
                "print(price(int(sys.argv[1]), int(sys.argv[2])))\n"
            ),
            "invariants.yaml": INVARIANTS,
            "tests/test_kids.py": TESTS,
        },
    )


CHILD_LINKS = {
    "PRICE": {"tests/test_kids.py::test_cli": "real", "tests/test_kids.py::test_server": "real"},
    "SQUARE": {
        "tests/test_kids.py::test_pool[fork]": "real",
        "tests/test_kids.py::test_pool[spawn]": "real",
        "tests/test_kids.py::test_pool[forkserver]": "real",
        "tests/test_kids.py::test_executor": "real",
        # Killed before it could write: the child's lines are lost, nothing else.
        "tests/test_kids.py::test_a_child_that_crashes": "claimed",
    },
}


@pytest.mark.invariant("CHILD-001")
@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_scope_lines_run_in_children_count_for_their_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist: list[str]
) -> None:
    _project(pytester, monkeypatch)
    result, data = run(pytester, *xdist)
    result.assert_outcomes(passed=11)
    assert {iid: links(data, iid) for iid in CHILD_LINKS} == CHILD_LINKS
    assert statuses(data) == {"PRICE": "verified", "SQUARE": "verified"}


def test_the_opt_out_observes_no_child(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester, monkeypatch)
    result, data = run(pytester, "--invariants-no-subprocess")
    result.assert_outcomes(passed=11)
    assert set(links(data, "PRICE").values()) == {"claimed"}
    # A forked child runs the parent's own (observed) code objects, but without the
    # watch nobody collects what it saw.
    assert links(data, "SQUARE")["tests/test_kids.py::test_pool[spawn]"] == "claimed"


@pytest.mark.invariant("CHILD-001")
def test_a_childs_file_reaches_its_test_once_and_a_broken_one_only_warns(tmp_path: Path) -> None:
    scope = tmp_path / "m.py"
    scope.write_text("def f():\n    return 1\n")
    outer = os.environ.get(child.VAR)  # set when this suite runs under --invariants
    watch = ChildWatch({str(scope): None}, lambda: ({}, [], [], []))
    watch.install()
    try:
        rundir = os.environ[child.VAR]
        watch.begin_test()
        slot = child.current_slot(rundir)
        assert slot == "1"
        child.write_evidence(rundir, slot, {str(scope): {2}}, [], [], [])
        Path(rundir, slot, "999.json").write_text("{not json")
        found = watch.end_test()
        assert [dict(ev.executed) for ev in found if ev.executed] == [{str(scope): {2}}]
        assert any("unreadable" in w for ev in found for w in ev.observation_warnings)
        assert child.current_slot(rundir) == ""  # between tests
        watch.begin_test()
        assert watch.end_test() == []  # read once, then gone
        child.write_evidence(rundir, "", {str(scope): {2}}, [], [], [])  # between tests: dropped
        assert sorted(os.listdir(rundir)) == ["config.json", "current"]
    finally:
        watch.uninstall()
    assert os.environ.get(child.VAR) == outer
    assert not Path(rundir).exists()


def test_a_fork_under_our_sigterm_handler_starts_with_the_default() -> None:
    """A fork child never inherits our handler, nor a SIGTERM that fork() would clear."""
    import signal

    from pytest_invariants.observe.forksafe import guard_forks
    from pytest_invariants.pytest_plugin.collector import _Interrupt

    previous = signal.signal(signal.SIGTERM, _Interrupt())
    guard_forks()
    try:
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            default = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
            unblocked = signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
            os._exit(0 if default and unblocked else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The parent keeps its handler, unblocked.
        assert isinstance(signal.getsignal(signal.SIGTERM), _Interrupt)
        assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        signal.signal(signal.SIGTERM, previous)


MOCKED_CHILD = """
    import os
    import subprocess
    import sys

    import pytest

    ENV = {**os.environ, "PYTHONPATH": "src"}
    MOCKED = (
        "from unittest import mock\\n"
        "import shop.pricing as p\\n"
        "with mock.patch('shop.pricing.tax', return_value=0):\\n"
        "    print(p.price(100))\\n"
    )
    REAL = "import shop.pricing as p; print(p.price(100))"


    @pytest.mark.invariant("TAXED")
    def test_a_child_that_mocks_what_the_rule_reads():
        out = subprocess.run([sys.executable, "-c", MOCKED], env=ENV, capture_output=True,
                             text=True, check=True, timeout=60)
        assert out.stdout.strip() == "100"


    @pytest.mark.invariant("TAXED")
    def test_a_child_that_runs_it_for_real():
        out = subprocess.run([sys.executable, "-c", REAL], env=ENV, capture_output=True,
                             text=True, check=True, timeout=60)
        assert out.stdout.strip() == "110"
"""


@pytest.mark.invariant("CHILD-001")
def test_a_double_made_in_a_fresh_child_spoils_that_test_only(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(child.VAR, raising=False)
    make(
        pytester,
        {
            "src/shop/__init__.py": "",
            "src/shop/pricing.py": (
                "def tax(cents):\n    return cents // 10\n\n\n"
                "def price(cents):\n    return cents + tax(cents)\n"
            ),
            "invariants.yaml": (
                "version: 1\ndefaults: {owner: shop}\ninvariants:\n"
                "  - id: TAXED\n    title: Prices include tax\n    why: The law.\n"
                "    code: [shop.pricing:price]\n"
            ),
            "tests/test_mocked_child.py": MOCKED_CHILD,
        },
    )
    result, data = run(pytester)
    result.assert_outcomes(passed=2)
    assert links(data, "TAXED") == {
        "tests/test_mocked_child.py::test_a_child_that_mocks_what_the_rule_reads": "mock-based",
        "tests/test_mocked_child.py::test_a_child_that_runs_it_for_real": "real",
    }
    assert statuses(data) == {"TAXED": "verified"}

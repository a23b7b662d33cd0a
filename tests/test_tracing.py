"""Per-test line recording, checked against coverage.py's per-test contexts.

Every run happens in a subprocess (`runpytest_subprocess`, `runpython`): the
recorder instruments the process it runs in, and an outer pytest-cov must
not see it. A tiny conftest plugin drives the recorder as the main plugin
does: start after collection, one begin/end pair around each test's
setup+call+teardown, stop at the end.
"""

from __future__ import annotations

import ast
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.observe import child
from pytest_invariants.observe.recorder import PROBES, SYSMON, statement_starts

MECHANISMS = [
    pytest.param(PROBES, id="probes"),
    pytest.param(
        SYSMON,
        id="sysmon",
        marks=pytest.mark.skipif(
            sys.version_info < (3, 12), reason="sys.monitoring needs Python 3.12+"
        ),
    ),
]

DRIVER = """
import json, os
import pytest
from pytest_invariants.observe.choose import make_recorder

_state = {}

def pytest_collection_finish(session):
    if os.environ.get("INV_OFF"):
        return
    scope = os.environ["INV_SCOPE"].split(os.pathsep)
    recorder = make_recorder(scope, prefer=os.environ.get("INV_PREFER") or None)
    recorder.start()
    _state.update(recorder=recorder, lines={})

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    recorder = _state.get("recorder")
    if recorder is not None:
        recorder.begin_test()
    yield
    if recorder is not None:
        executed = recorder.end_test()
        _state["lines"][item.nodeid] = {f: sorted(v) for f, v in executed.items()}

def pytest_sessionfinish(session):
    recorder = _state.get("recorder")
    if recorder is None:
        return
    recorder.stop()
    out = {"name": recorder.name, "lines": _state["lines"], "problems": recorder.problems()}
    with open(os.environ["INV_OUT"], "w") as fh:
        json.dump(out, fh)
"""

SHOP = '''\
"""A scope module with one of each kind of code."""
import asyncio
import functools

RATE = 2


def deco(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)
    return wrapper


@deco
def decorated(x):
    """Docstrings are not executed."""
    return x * RATE


def outer(n):
    def inner(k):
        return k + 1
    square = lambda v: v * v  # noqa: E731
    total = sum(square(inner(i)) for i in range(n))
    evens = [i for i in range(n)
             if i % 2 == 0]
    # A lambda body on a continuation line counts as the statement's first line.
    evens = sorted(evens,
                   key=lambda w: w)
    return total, evens


class Cart:
    def __init__(self):
        self.items = []

    def add(self, price):
        self.items.append(price)
        return self

    @property
    def total(self):
        return sum(self.items)

    @total.setter
    def total(self, value):
        raise AttributeError("read only")

    @staticmethod
    def tax(amount):
        return amount // 10

    @classmethod
    def empty(cls):
        return cls()


def countdown(n):
    while n > 0:
        yield n
        n -= 1


async def fetch(x):
    await asyncio.sleep(0)
    return x


def checked(x):
    try:
        if x < 0:
            raise ValueError(
                x)
        return x
    except (KeyError,
            ValueError):
        return 0
    finally:
        pass
'''

LATE = """\
CONST = 1


def late(x):
    return x + CONST
"""

TESTS = """\
import asyncio

import pytest

from pkg import shop


@pytest.fixture
def cart():
    c = shop.Cart.empty()
    yield c
    c.add(shop.Cart.tax(100))


def test_decorated():
    assert shop.decorated(2) == 4


def test_decorated_again():
    assert shop.decorated(3) == 6


def test_outer():
    assert shop.outer(3) == (14, [0, 2])


def test_cart(cart):
    assert cart.add(5).total == 5
    with pytest.raises(AttributeError):
        cart.total = 1


def test_countdown():
    assert list(shop.countdown(2)) == [2, 1]


def test_fetch():
    assert asyncio.run(shop.fetch(7)) == 7


def test_checked_ok():
    assert shop.checked(1) == 1


def test_checked_negative():
    assert shop.checked(-1) == 0


def test_late_import():
    from pkg import late
    assert late.late(1) == 2


def test_nothing():
    assert True
"""


def _project(pytester: pytest.Pytester) -> dict[str, Path]:
    pkg = pytester.mkpydir("pkg")
    (pkg / "shop.py").write_text(SHOP)
    (pkg / "late.py").write_text(LATE)
    tests = pytester.mkdir("tests")
    (tests / "test_shop.py").write_text(TESTS)
    pytester.makeconftest(DRIVER)
    return {"shop": (pkg / "shop.py").resolve(), "late": (pkg / "late.py").resolve()}


def _run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    scope: list[Path],
    prefer: str | None,
    *args: str,
    record: bool = True,
) -> tuple[pytest.RunResult, dict[str, Any]]:
    out = pytester.path / "recorded.json"
    out.unlink(missing_ok=True)
    monkeypatch.setenv("INV_SCOPE", ":".join(str(p) for p in scope))
    monkeypatch.setenv("INV_PREFER", prefer or "")
    monkeypatch.setenv("INV_OUT", str(out))
    if record:
        monkeypatch.delenv("INV_OFF", raising=False)
    else:
        monkeypatch.setenv("INV_OFF", "1")
    result = pytester.runpytest_subprocess("-p", "no:invariants", "-p", "no:cacheprovider", *args)
    data = json.loads(out.read_text()) if record else {}
    return result, data


def _lines(data: dict[str, Any], test: str, file: Path) -> set[int]:
    nodeid = f"tests/test_shop.py::{test}"
    return set(data["lines"][nodeid].get(str(file), []))


def _source_lines(source: str, *needles: str) -> set[int]:
    return {n for n, text in enumerate(source.splitlines(), 1) if any(nd in text for nd in needles)}


@pytest.mark.parametrize("prefer", MECHANISMS)
def test_records_per_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, prefer: str
) -> None:
    files = _project(pytester)
    result, data = _run(pytester, monkeypatch, list(files.values()), prefer)
    result.assert_outcomes(passed=10)
    assert data["name"] == prefer
    assert data["problems"] == []
    shop = files["shop"]
    first = _lines(data, "test_decorated", shop)
    # wrapper, the decorated body; not the import-time def/decorator lines
    assert first == _source_lines(SHOP, "return func(", "return x * RATE")
    assert _lines(data, "test_decorated_again", shop) == first
    assert _lines(data, "test_nothing", shop) == set()
    # setup and teardown of a fixture count for the test
    cart = _lines(data, "test_cart", shop)
    assert _source_lines(SHOP, "return cls()", "return amount // 10") <= cart
    assert _source_lines(SHOP, 'raise AttributeError("read only")') <= cart
    # a module first imported inside a test: its functions, not its import
    assert _lines(data, "test_late_import", files["late"]) == {5}
    # the exception path, with a multi-line raise and except clause
    negative = _lines(data, "test_checked_negative", shop)
    assert _source_lines(SHOP, "raise ValueError(", "except (KeyError", "return 0") <= negative
    assert _source_lines(SHOP, "                x)") & negative == set()
    # nested code, generators and coroutines
    assert _source_lines(SHOP, "return k + 1", "lambda v", "evens = [") <= _lines(
        data, "test_outer", shop
    )
    assert _source_lines(SHOP, "yield n", "n -= 1") <= _lines(data, "test_countdown", shop)
    assert _source_lines(SHOP, "await asyncio", "return x\n") <= _lines(data, "test_fetch", shop)


def _coverage_by_test(datafile: Path, files: list[Path]) -> dict[str, dict[str, set[int]]]:
    """Return nodeid -> file -> statement lines, from pytest-cov's test contexts."""
    from coverage import CoverageData
    from coverage.parser import PythonParser

    data = CoverageData(str(datafile))
    data.read()
    result: dict[str, dict[str, set[int]]] = {}
    for file in files:
        parser = PythonParser(filename=str(file))
        parser.parse_source()
        for line, contexts in data.contexts_by_lineno(str(file)).items():
            for context in contexts:
                nodeid = context.rpartition("|")[0]
                if nodeid:
                    first = parser.first_line(line)
                    result.setdefault(nodeid, {}).setdefault(str(file), set()).add(first)
    return result


def _import_time_lines(file: Path) -> set[int]:
    """Return the module-level statement lines: run by an import, never by a test."""
    return {node.lineno for node in ast.parse(file.read_text()).body}


def _coverage_snapshot(datafile: Path) -> dict[str, Any]:
    from coverage import CoverageData

    data = CoverageData(str(datafile))
    data.read()
    snapshot: dict[str, Any] = {}
    for file in sorted(data.measured_files()):
        contexts = {k: sorted(v) for k, v in data.contexts_by_lineno(file).items()}
        snapshot[file] = {
            "lines": sorted(data.lines(file) or []),
            "arcs": sorted(data.arcs(file) or []),
            "contexts": contexts,
        }
    return snapshot


@pytest.mark.parametrize("prefer", MECHANISMS)
def test_matches_coverage_contexts_and_leaves_pytest_cov_unchanged(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, prefer: str
) -> None:
    pytest.importorskip("pytest_cov")
    files = _project(pytester)
    scope = list(files.values())
    cov = ("--cov=pkg", "--cov-branch", "--cov-context=test", "--cov-report=")
    result, data = _run(pytester, monkeypatch, scope, prefer, *cov)
    result.assert_outcomes(passed=10)
    with_recorder = _coverage_snapshot(pytester.path / ".coverage")

    # The reference: coverage.py's own per-test contexts, line for line. The
    # one documented difference: a module imported inside a test has its
    # import-time lines in that test's context, and never in ours.
    reference = _coverage_by_test(pytester.path / ".coverage", scope)
    late_import = _import_time_lines(files["late"])
    for nodeid, executed in data["lines"].items():
        expected = reference.get(nodeid, {})
        if str(files["late"]) in expected:
            expected[str(files["late"])] -= late_import
        expected = {f: lines for f, lines in expected.items() if lines}
        assert {f: set(v) for f, v in executed.items()} == expected, nodeid
    assert len(data["lines"]) == 10

    result, _ = _run(pytester, monkeypatch, scope, prefer, *cov, record=False)
    result.assert_outcomes(passed=10)
    assert _coverage_snapshot(pytester.path / ".coverage") == with_recorder


@pytest.mark.parametrize("prefer", MECHANISMS)
def test_pytest_cov_totals_unchanged_without_contexts(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, prefer: str
) -> None:
    pytest.importorskip("pytest_cov")
    files = _project(pytester)
    cov = ("--cov=pkg", "--cov-report=term-missing")
    with_recorder, _ = _run(pytester, monkeypatch, list(files.values()), prefer, *cov)
    without, _ = _run(pytester, monkeypatch, list(files.values()), prefer, *cov, record=False)

    def table(result: pytest.RunResult) -> list[str]:
        return [line for line in result.outlines if line.startswith(("pkg", "TOTAL"))]

    assert table(with_recorder) == table(without)
    assert table(without)


SCRIPT_HEAD = """
import json, sys
sys.path.insert(0, ".")
from pytest_invariants.observe.choose import make_recorder
from pkg import shop
recorder = make_recorder([shop.__file__], prefer=sys.argv[1])
"""


def _script(pytester: pytest.Pytester, prefer: str, body: str) -> dict[str, Any]:
    _project(pytester)
    script = pytester.makepyfile(driver=SCRIPT_HEAD + textwrap.dedent(body))
    with pytest.MonkeyPatch.context() as patch:
        # Under our own --invariants run the driver would be an observed child, with
        # a recorder of ours already holding a sys.monitoring tool id.
        patch.delenv(child.VAR, raising=False)
        result = pytester.runpython_c(
            f"import runpy, sys; sys.argv[1:] = [{prefer!r}]; "
            f"runpy.run_path({str(script)!r}, run_name='__main__')"
        )
    assert result.ret == 0, result.errlines
    return dict(json.loads(result.outlines[-1]))


@pytest.mark.parametrize("prefer", MECHANISMS)
def test_stop_removes_everything(pytester: pytest.Pytester, prefer: str) -> None:
    out = _script(
        pytester,
        prefer,
        """
        before = shop.decorated.__wrapped__.__code__
        hooks = list(sys.meta_path)
        recorder.start()
        recorder.begin_test()
        shop.decorated(1)
        first = recorder.end_test()
        recorder.stop()
        tools = []
        if hasattr(sys, "monitoring"):
            tools = [sys.monitoring.get_tool(i) for i in range(6)]
        print(json.dumps({
            "hit": bool(first),
            "code_back": shop.decorated.__wrapped__.__code__ is before,
            "hooks_back": sys.meta_path == hooks,
            "tools": tools,
            "still_runs": shop.decorated(2),
        }))
        """,
    )
    assert out["hit"] and out["code_back"] and out["hooks_back"]
    assert "pytest-invariants" not in out["tools"]
    assert out["still_runs"] == 4


def test_probes_report_a_swapped_code_object(pytester: pytest.Pytester) -> None:
    out = _script(
        pytester,
        PROBES,
        """
        recorder.start()
        recorder.begin_test()
        shop.outer.__code__ = (lambda n: (0, [])).__code__
        recorder.end_test()
        print(json.dumps({"problems": recorder.problems()}))
        """,
    )
    assert len(out["problems"]) == 1
    assert "outer" in out["problems"][0] and "replaced" in out["problems"][0]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring needs Python 3.12+")
def test_sysmon_reports_a_lost_tool_and_recovers(pytester: pytest.Pytester) -> None:
    out = _script(
        pytester,
        SYSMON,
        """
        recorder.start()
        mine = [i for i in range(6) if sys.monitoring.get_tool(i) == "pytest-invariants"]
        recorder.begin_test()
        sys.monitoring.free_tool_id(mine[0])
        sys.monitoring.use_tool_id(mine[0], "intruder")
        recorder.end_test()
        recorder.begin_test()
        shop.checked(1)
        after = recorder.end_test()
        recorder.stop()
        print(json.dumps({"problems": recorder.problems(), "after": len(after)}))
        """,
    )
    assert len(out["problems"]) == 1 and "intruder" in out["problems"][0]
    assert out["after"] == 1


def test_threads_hits_land_in_the_current_test(pytester: pytest.Pytester) -> None:
    out = _script(
        pytester,
        PROBES,
        """
        import threading
        recorder.start()
        recorder.begin_test()
        t = threading.Thread(target=shop.checked, args=(1,))
        t.start(); t.join()
        print(json.dumps({"lines": {k: sorted(v) for k, v in recorder.end_test().items()}}))
        """,
    )
    assert out["lines"]


def test_statement_starts_agree_with_coverage() -> None:
    from coverage.parser import PythonParser

    parser = PythonParser(text=SHOP)
    parser.parse_source()
    ours = statement_starts(SHOP)
    for line in range(1, SHOP.count("\n") + 1):
        if line in ours or parser.first_line(line) != line:
            assert ours.get(line, line) == parser.first_line(line), line


@pytest.mark.parametrize("prefer", MECHANISMS)
def test_closures_made_during_the_run_are_not_a_problem(
    pytester: pytest.Pytester, prefer: str
) -> None:
    out = _script(
        pytester,
        prefer,
        """
        recorder.start()
        shop.made_later = shop.deco(len)  # a closure built from instrumented code
        recorder.instrument_module(shop)  # what the import hook does on a re-import
        recorder.begin_test()
        shop.made_later("ab")
        lines = recorder.end_test()
        recorder.stop()
        print(json.dumps({"problems": recorder.problems(), "hit": bool(lines)}))
        """,
    )
    assert out == {"problems": [], "hit": True}


TAMPERING = {
    "callback": (
        "sys.monitoring.register_callback(mine, sys.monitoring.events.LINE, "
        "lambda code, line: sys.monitoring.DISABLE)",
        "replaced the sys.monitoring LINE callback",
    ),
    "events": (
        "sys.monitoring.set_local_events(mine, rules.later.__code__, 0)",
        "cleared the sys.monitoring events",
    ),
}


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring needs Python 3.12+")
@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_a_test_that_tampers_with_our_monitoring_is_named_and_recording_is_rearmed(
    pytester: pytest.Pytester, how: str
) -> None:
    tamper, message = TAMPERING[how]
    pytester.makeini("[pytest]\npythonpath = src\n")
    (pytester.path / "src" / "shop").mkdir(parents=True)
    (pytester.path / "src" / "shop" / "__init__.py").write_text("")
    (pytester.path / "src" / "shop" / "rules.py").write_text(
        "def first(n):\n    return n + 1\n\n\ndef later(n):\n    return n * 2\n"
    )
    (pytester.path / "invariants.yaml").write_text(
        "version: 1\ndefaults:\n  owner: o\ninvariants:\n"
        "  - id: R-001\n    title: t\n    why: w\n    code: [shop.rules:first]\n"
        "  - id: R-002\n    title: t\n    why: w\n    code: [shop.rules:later]\n"
    )
    pytester.makepyfile(
        test_rules=f"""
        import sys
        import pytest
        from shop import rules

        @pytest.mark.invariant("R-001")
        def test_a_tamperer():
            assert rules.first(1) == 2
            mine = next(i for i in range(6) if sys.monitoring.get_tool(i) == "pytest-invariants")
            {tamper}

        @pytest.mark.invariant("R-002")
        def test_b_later():
            assert rules.later(2) == 4
        """
    )
    result = pytester.runpytest_subprocess(
        "--invariants", "-p", "no:cacheprovider", "-p", "no:randomly"
    )
    data = json.loads((pytester.path / ".invariants" / "results.json").read_text())
    warnings = data["run"]["warnings"]
    assert len(warnings) == 1 and message in warnings[0], warnings
    assert warnings[0].startswith("test_rules.py::test_a_tamperer")
    assert message in " ".join(result.stdout.str().split())  # rich wraps long lines
    assert {inv["id"]: inv["status"] for inv in data["invariants"]}["R-002"] == "verified"

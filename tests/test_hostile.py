"""A catalogue of hostile inputs and faults, each with the exact answer a user gets.

Table-driven: every row is one input or fault, the exit status it must give, a
pattern its one-line message must match, and (where a file could be lost) the
check that the previous file is byte-identical afterwards. No row may end in a
traceback. Grow it with every bug found (docs/reliability.md gives the figures).
Escaping cases (issue 17 item 5) and `invariants prove` faults live with their
own subsystems' tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants.cli.main import main as cli_main
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.results import MAX_RESULTS_BYTES, WriteError, to_dict, write_atomically

from .test_partial_runs import RESULTS, VOUCHERS, make_project, output, run
from .test_results_gate import sample_results

pytest_plugins = ["pytester"]

GOOD_INVARIANT = """\
version: 1
invariants:
  - id: SHP-001
    title: Totals add up
    why: Customers pay what they see.
    owner: shop-team
    code: [{code}]
"""
SHOP = "def total(lines):\n    return sum(lines)\n"


@dataclass(frozen=True)
class Case:
    """One hostile input: files to lay out, a command, and what must come back."""

    files: dict[str, str | bytes] = field(default_factory=dict)
    argv: tuple[str, ...] = ("check",)
    exit: int = ExitCode.PROBLEMS
    message: str = ""  # a regular expression the output must match
    links: dict[str, str] = field(default_factory=dict)  # link name -> target


def _good(code: str = "shop.core:total") -> str:
    return GOOD_INVARIANT.format(code=code)


def _lay_out(root: Path, case: Case) -> None:
    (root / "shop").mkdir(exist_ok=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "core.py").write_text(SHOP)
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for name, target in case.links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / name)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = cli_main(argv)
    captured = capsys.readouterr()
    return status, captured.out + captured.err


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)

LOADING: dict[str, Case] = {
    "valid-file": Case({"invariants.yaml": _good()}, exit=0, message="1 invariant"),
    "not-yaml": Case(
        {"invariants.yaml": "version: 1\ninvariants: [\n"}, message=r"invariants.yaml:\d+"
    ),
    "empty-file": Case({"invariants.yaml": ""}, message="the file is empty"),
    "version-as-text": Case(
        {"invariants.yaml": _good().replace("version: 1", 'version: "1"')},
        message=r"`version` is the text '1', not the number 1 -- write `version: 1` without quotes",
    ),
    "version-2": Case(
        {"invariants.yaml": _good().replace("version: 1", "version: 2")},
        message="unsupported version `2`",
    ),
    "no-version": Case(
        {"invariants.yaml": _good().replace("version: 1\n", "")}, message="has no `version`"
    ),
    "top-level-list": Case({"invariants.yaml": "- a\n- b\n"}, message="must be a mapping"),
    "duplicate-id": Case(
        {"invariants.yaml": _good() + _good().split("invariants:\n")[1]}, message="SHP-001"
    ),
    "unknown-depends-on": Case(
        {"invariants.yaml": _good() + "    depends_on: [NOPE-001]\n"}, message="NOPE-001"
    ),
    "missing-owner": Case(
        {"invariants.yaml": _good().replace("    owner: shop-team\n", "")}, message="owner"
    ),
    "unresolvable-scope": Case(
        {"invariants.yaml": _good("shop.core:nothing_here")}, message="defines no function"
    ),
    "code-escapes-rootdir": Case(
        {"invariants.yaml": _good("../../etc/passwd")},
        message=r"invariants.yaml:7:\d+: .*`../../etc/passwd` is outside the project",
    ),
    "code-absolute-path": Case(
        {"invariants.yaml": _good("/etc/passwd")}, message="`/etc/passwd` is outside the project"
    ),
    "code-home-path": Case(
        {"invariants.yaml": _good("~/secrets.py")}, message="`~/secrets.py` is outside the project"
    ),
    "code-link-out-of-rootdir": Case(
        {"invariants.yaml": _good("shop/escape.py")},
        links={"shop/escape.py": "/etc/hostname"},
        message="`shop/escape.py` is outside the project",
    ),
    "dangling-link-in-folder": Case(
        {"invariants/a.yaml": _good()},
        links={"invariants/b.yaml": "/nowhere/b.yaml"},
        message=r"invariants/b.yaml: a symbolic link to /nowhere/b.yaml, which does not exist",
    ),
    "namespace-package-scope": Case(
        {"nspkg/sub/rules.py": SHOP, "invariants.yaml": _good("nspkg.sub.rules:total")},
        exit=0,
        message="1 invariant",
    ),
    "namespace-package-as-module": Case(
        {"nspkg/sub/rules.py": SHOP, "invariants.yaml": _good("nspkg.sub")},
        message="is a namespace package",
    ),
    "utf16-le-file": Case({"invariants.yaml": _good().encode("utf-16")}, exit=0, message="valid"),
    "utf16-be-file": Case(
        {"invariants.yaml": b"\xfe\xff" + _good().encode("utf-16-be")}, exit=0, message="valid"
    ),
    "utf8-bom-file": Case({"invariants.yaml": b"\xef\xbb\xbf" + _good().encode()}, exit=0),
    "latin1-bytes": Case(
        {"invariants.yaml": _good().replace("Totals", "Tötals").encode("latin-1")},
        message="not UTF-8",
    ),
    "binary-garbage": Case({"invariants.yaml": bytes(range(256)) * 4}, message="invariants.yaml"),
    "merge-keys": Case(
        {
            "invariants.yaml": _good().replace("  - id: SHP-001", "  - &base\n    id: SHP-001")
            + "  - <<: *base\n    id: SHP-002\n"
        },
        exit=0,
        message="2 invariant",
    ),
    "alias-bomb": Case({"invariants.yaml": BOMB}, message="invariants.yaml"),
    "deep-nesting": Case({"invariants.yaml": "a: " + "[" * 5000 + "]" * 5000}, message="yaml"),
    "bad-severity": Case({"invariants.yaml": _good() + "    severity: urgent\n"}, message="urgent"),
    "unknown-key": Case({"invariants.yaml": _good() + "    colour: red\n"}, message="colour"),
    "tab-indentation": Case(
        {"invariants.yaml": _good().replace("    title", "\ttitle")}, message="invariants.yaml:"
    ),
    "check-a-folder": Case(
        {"rules/a.yaml": _good()}, argv=("check", "rules"), exit=0, message="1 invariant"
    ),
    "check-a-missing-path": Case(argv=("check", "nowhere.yaml"), message="does not exist"),
    "check-an-empty-folder": Case(
        {"rules/README": "x"}, argv=("check", "rules"), message="holds no"
    ),
}


@pytest.mark.invariant("LOAD-001")
@pytest.mark.parametrize("name", sorted(LOADING))
def test_loading(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = LOADING[name]
    _lay_out(tmp_path, case)
    monkeypatch.chdir(tmp_path)
    status, out = _run([*case.argv, "--rootdir", str(tmp_path)], capsys)
    assert status == case.exit, out
    assert re.search(case.message, out, re.I), out
    assert "Traceback" not in out


# -- gate policies and results files ------------------------------------------------


POLICIES = {
    "empty": ("", "is empty"),
    "only-separators": (";;;", "is empty"),
    "blank": ("   ", "is empty"),
    "severity-without-statuses": ("critical:", "'critical' names no status"),
    "second-severity-empty": ("critical:unverified;high:", "'high' names no status"),
    "only-commas": ("critical: , ,", "'critical' names no status"),
    "unknown-severity": ("urgent:failing", "must read SEVERITY:STATUS"),
    "unknown-status": ("critical:flaky", "unknown status flaky"),
    "no-colon": ("critical", "must read SEVERITY:STATUS"),
}


def _results_file(root: Path) -> Path:
    path = root / "results.json"
    path.write_text(json.dumps(to_dict(sample_results())))
    return path


@pytest.mark.invariant("GATE-001")
@pytest.mark.parametrize("name", sorted(POLICIES))
def test_gate_policy(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy, message = POLICIES[name]
    status, out = _run(["gate", str(_results_file(tmp_path)), "--policy", policy], capsys)
    assert status == ExitCode.USAGE and message in out, out


def _fifo(path: Path) -> None:
    os.mkfifo(path)


RESULTS_INPUTS: dict[str, tuple[Any, str]] = {
    "missing": (None, "no such results file"),
    "not-json": ("{not json", "not JSON"),
    "foreign-schema": ('{"schema": "other/1"}', "schema is 'other/1'"),
    "a-list": ("[1, 2]", "not a pytest-invariants results file"),
    "nested-deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply|not a pytest-invariants"),
    "wrong-type": (
        json.dumps({**to_dict(sample_results()), "tests": [{"nodeid": 5}]}),
        "damaged results file",
    ),
    "a-directory": ("DIR", "not a regular file"),
    "a-fifo": ("FIFO", "not a regular file"),
    "over-the-size-cap": ("HUGE", "more than the"),
}


@pytest.mark.invariant("RES-002")
@pytest.mark.parametrize("name", sorted(RESULTS_INPUTS))
def test_results_input(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content, message = RESULTS_INPUTS[name]
    path = tmp_path / "results.json"
    if content == "DIR":
        path.mkdir()
    elif content == "FIFO":
        _fifo(path)  # reading it would hang for ever: it is refused before it is opened
    elif content == "HUGE":
        with path.open("wb") as sparse:
            sparse.truncate(MAX_RESULTS_BYTES + 1)  # a sparse file: no disk, no memory used
    elif content is not None:
        path.write_text(content)
    status, out = _run(["gate", str(path)], capsys)
    assert status == ExitCode.USAGE and re.search(message, out), out


# -- writing ------------------------------------------------------------------------


def _target(tmp_path: Path, kind: str) -> Path:
    """Make the hostile write target `kind` and return the path to give the command."""
    path = tmp_path / "out" / "graph.json"
    path.parent.mkdir()
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        _fifo(path)
    elif kind == "device":
        os.symlink("/dev/null", path)
    elif kind == "under-a-file":
        (tmp_path / "blocker").write_text("previous")
        path = tmp_path / "blocker" / "graph.json"
    elif kind == "symlink":
        (tmp_path / "real.json").write_text("previous")
        os.symlink(tmp_path / "real.json", path)
    elif kind == "dangling-symlink":
        os.symlink(tmp_path / "made.json", path)
    return path


WRITES = {
    # kind: (exit, message)
    "directory": (ExitCode.RESULTS_UNWRITABLE, r"cannot write \S+graph.json: it is a directory"),
    "fifo": (ExitCode.RESULTS_UNWRITABLE, r"cannot write \S+graph.json: it is a special file"),
    "device": (ExitCode.RESULTS_UNWRITABLE, r"cannot write \S+graph.json: it is a special file"),
    "under-a-file": (ExitCode.RESULTS_UNWRITABLE, r"cannot write \S+blocker/graph.json: "),
    "symlink": (ExitCode.OK, "wrote|combined"),
    "dangling-symlink": (ExitCode.OK, "wrote|combined"),
}


def _command(which: str, results: Path, target: Path) -> list[str]:
    if which == "graph":
        return ["graph", str(results), "-o", str(target)]
    if which == "combine":
        return ["combine", str(results), "-o", str(target)]
    return ["report", str(results), "--md", str(target)]


@pytest.mark.invariant("RES-001")
@pytest.mark.parametrize("kind", sorted(WRITES))
@pytest.mark.parametrize("which", ["graph", "combine", "report"])
def test_writing(which: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected, message = WRITES[kind]
    results = _results_file(tmp_path)
    target = _target(tmp_path, kind)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.is_fifo()}
    status, out = _run(_command(which, results, target), capsys)
    assert status == expected and re.search(message, out), out
    assert "Traceback" not in out
    if expected == ExitCode.OK:
        assert target.is_symlink(), "the link stays a link; its target was written"
        assert Path(os.path.realpath(target)).read_text() != "previous"
    else:
        after = {p: p.read_bytes() for p in before if p.exists()}
        assert after == before, "a refused write changes nothing"
        leftovers = [p for p in tmp_path.rglob(".*.tmp")]
        assert not leftovers


@pytest.mark.invariant("RES-001")
def test_one_unwritable_report_never_stops_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _results_file(tmp_path)
    (tmp_path / "html").mkdir()
    md, sarif = tmp_path / "r.md", tmp_path / "r.sarif"
    argv = ["report", str(results), "--html", str(tmp_path / "html"), "--md", str(md)]
    status, out = _run([*argv, "--sarif", str(sarif)], capsys)
    assert status == ExitCode.RESULTS_UNWRITABLE
    assert f"cannot write {tmp_path / 'html'}: it is a directory" in out
    assert md.read_text().startswith("## pytest-invariants") and json.loads(sarif.read_text())


@pytest.mark.invariant("RES-001")
def test_review_writes_through_a_symlinked_invariants_file_in_its_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _lay_out(tmp_path, Case({"team/rules.yaml": b""}))
    (tmp_path / "team" / "rules.yaml").write_bytes(_good().encode("utf-16"))
    os.symlink(tmp_path / "team" / "rules.yaml", tmp_path / "invariants.yaml")
    status, out = _run(["review", "--all", "--rootdir", str(tmp_path)], capsys)
    assert status == 0, out
    assert (tmp_path / "invariants.yaml").is_symlink()
    text = (tmp_path / "team" / "rules.yaml").read_bytes().decode("utf-16")
    assert "reviewed: " in text and text.startswith("version: 1")


@pytest.mark.invariant("RES-001")
def test_the_writer_refuses_a_fifo_without_blocking_or_replacing_it(tmp_path: Path) -> None:
    fifo = tmp_path / "results.json"
    _fifo(fifo)
    with pytest.raises(WriteError, match=r"cannot write .*results.json: it is a special file"):
        write_atomically(fifo, "{}")
    assert fifo.is_fifo() and os.listdir(tmp_path) == ["results.json"]


# -- markers (one real pytest run, every bad marker located) ------------------------


MARKERS = {
    "no-ids": ("@pytest.mark.invariant()", "names no invariant id"),
    "bare-decorator": ("@pytest.mark.invariant", "names no invariant id"),
    "ids-a-number": ("@pytest.mark.invariant(ids=5)", "ids=5 is not a list of id strings"),
    "ids-one-string": (
        '@pytest.mark.invariant(ids="SHP-001")',
        "ids='SHP-001' is one string, not a list of ids",
    ),
    "unknown-keyword": (
        '@pytest.mark.invariant(id="SHP-001")',
        r"unknown keyword argument\(s\) id \(only ids= is known\)",
    ),
    "a-number": ("@pytest.mark.invariant(5)", "5 is not an id string"),
    "unknown-id": ('@pytest.mark.invariant("SHP-01")', "claims unknown invariant 'SHP-01'"),
}


def _marker_project(root: Path) -> None:
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    _lay_out(root, Case({"invariants.yaml": _good()}))
    (root / "tests").mkdir()
    for name, (marker, _) in MARKERS.items():
        test = name.replace("-", "_")
        (root / "tests" / f"test_{test}.py").write_text(
            f"import pytest\n\n\n{marker}\ndef test_{test}():\n    pass\n"
        )


@pytest.fixture(scope="module", params=["serial", "xdist"])
def marker_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, str]:
    """One real run of a project with every bad marker: each must be located, none crash."""
    root = tmp_path_factory.mktemp(f"markers-{request.param}")
    _marker_project(root)
    xdist = ["-n", "2"] if request.param == "xdist" else []
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--invariants", "-p", "no:cacheprovider", *xdist],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.invariant("LOAD-001")
@pytest.mark.parametrize("name", sorted(MARKERS))
def test_marker(name: str, marker_run: tuple[int, str]) -> None:
    status, out = marker_run
    test = name.replace("-", "_")
    assert status == pytest.ExitCode.USAGE_ERROR, out
    assert "INTERNALERROR" not in out and "Traceback" not in out
    line = next((ln for ln in out.splitlines() if f"tests/test_{test}.py:4" in ln), "")
    assert re.search(MARKERS[name][1], line), out


# -- faults: an incomplete session writes nothing (serial and xdist) -----------------


def _exiting(call: str) -> str:
    return f"import pytest\n\n\ndef test_zz():\n    {call}\n"


INCOMPLETE = [
    pytest.param(("--collect-only",), {}, id="collect-only"),
    pytest.param((), {"test_broken.py": "import nowhere_to_be_found\n"}, id="collection-error"),
    pytest.param(
        (), {"test_bad_marker.py": VOUCHERS.replace("LOY-002", "LOY-02")}, id="unknown-marker"
    ),
    pytest.param((), {"test_zz_exit.py": _exiting("pytest.exit('bye')")}, id="pytest-exit"),
    pytest.param(
        (), {"test_zz_exit.py": _exiting("pytest.exit('ok', returncode=0)")}, id="pytest-exit-0"
    ),
    pytest.param((), {"test_zz_intr.py": _exiting("raise KeyboardInterrupt")}, id="interrupt"),
    pytest.param(
        (),
        {"conftest.py": "def pytest_collection_finish(session):\n    raise RuntimeError('x')\n"},
        id="internal-error",
    ),
]


@pytest.mark.invariant("RUN-001", "RES-001")
@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
@pytest.mark.parametrize(("args", "files"), INCOMPLETE)
def test_an_incomplete_session_leaves_the_previous_results_byte_identical(
    pytester: pytest.Pytester, args: tuple[str, ...], files: dict[str, str], xdist: tuple[str, ...]
) -> None:
    make_project(pytester)
    first, _ = run(pytester)
    assert first.ret == 0
    saved = (pytester.path / RESULTS).read_bytes()
    for name, text in files.items():
        (pytester.path / "tests" / name).write_text(text)
    result, _ = run(pytester, *args, *xdist)
    assert (pytester.path / RESULTS).read_bytes() == saved, output(result)
    assert not list((pytester.path / ".invariants").rglob("*.tmp"))  # no half-written file


# -- hostile objects in what the scope code reads (the assignment watch) -------------

HOSTILE_READS = """
    import sys


    def __getattr__(name):  # PEP 562: any missing name blows up
        raise RuntimeError(f"no {name} here")


    class Meta(type):
        def __getattribute__(cls, name):
            raise RuntimeError("metaclass says no")


    class Closed(metaclass=Meta):
        pass


    class Prickly:
        @property
        def __dict__(self):
            raise RuntimeError("no dict for you")

        def __getattribute__(self, name):
            raise RuntimeError("no attributes either")

        def __eq__(self, other):
            raise RuntimeError("no comparing")

        __hash__ = None


    class Slotted:
        __slots__ = ("value",)

        def __init__(self):
            self.value = 1


    class Angry(list):
        def __iter__(self):
            raise RuntimeError("no iterating")


    prickly = Prickly()
    slotted = Slotted()
    angry = Angry()


    def helper(n):
        return n


    def total(n):
        if n < 0:
            return helper(n)
        return (prickly, slotted, angry, Closed, helper(n), sys.modules.get("nowhere"))[4]
"""

HOSTILE_TESTS = """
    import sys

    import pytest

    from shop import core


    @pytest.fixture
    def without_helper():
        saved = core.helper
        del core.helper  # deleted while the scope code runs
        yield
        core.helper = saved


    @pytest.mark.invariant("SHP-001")
    def test_hostile_objects_are_never_asked():
        assert core.total(3) == 3


    @pytest.mark.invariant("SHP-002")
    def test_a_name_deleted_during_the_test(without_helper):
        with pytest.raises(NameError):
            core.total(-1)


    @pytest.mark.invariant("SHP-003")
    def test_a_module_that_replaces_itself_in_sys_modules(monkeypatch):
        monkeypatch.setitem(sys.modules, "shop.core", object())
        assert core.total(2) == 2
"""


@pytest.mark.invariant("DBL-002")
def test_hostile_objects_in_what_the_scope_reads(pytester: pytest.Pytester) -> None:
    from tests.projects import doubles, make, statuses
    from tests.projects import run as run_project

    invariants = "version: 1\ndefaults: {owner: shop}\ninvariants:\n" + "".join(
        f"  - {{id: SHP-00{n}, title: t, why: w, code: [shop.core:total]}}\n" for n in (1, 2, 3)
    )
    make(
        pytester,
        {
            "src/shop/__init__.py": "",
            "src/shop/core.py": HOSTILE_READS,
            "invariants.yaml": invariants,
            "tests/test_core.py": HOSTILE_TESTS,
        },
    )
    result, data = run_project(pytester)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 0, out
    assert "Traceback" not in out and "could not" not in out, out
    # SHP-002: a deletion installs nothing (a configuration change of the name);
    # SHP-003: replacing the module in sys.modules is a patch of it (monkeypatch's record).
    assert statuses(data) == {"SHP-001": "verified", "SHP-002": "verified", "SHP-003": "mock-only"}
    itself = "tests/test_core.py::test_a_module_that_replaces_itself_in_sys_modules"
    replaced = doubles(data, itself)
    assert [d["via"] for d in replaced] == ["monkeypatch.setitem"]
    (deleted,) = doubles(data, "tests/test_core.py::test_a_name_deleted_during_the_test")
    assert (deleted["target"], deleted["replacement"]) == ("shop.core.helper", "deleted")
    assert deleted["kind"] == "config"
    warnings = [w for t in data["tests"] for w in t["observation_warnings"]]
    assert warnings == []

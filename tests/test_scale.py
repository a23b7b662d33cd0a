"""Scale-out: CI shards combined, xdist runs, and the indexes that keep big runs fast.

A combine of shards must say exactly what one serial run of the whole suite
says; an `-n 2` run must say what a serial run says, deselections included.
The indexes added for 10,000 tests x 1,000 invariants (benchmarks/scale.py)
are checked against the plain definitions they replace.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_invariants.cli.main import main as cli_main
from pytest_invariants.graph import _ReplacedIndex
from pytest_invariants.linking import mocked_out, scope_lines_run
from pytest_invariants.model import (
    DoubleKind,
    DoubleRecord,
    Invariant,
    LineSet,
    ObjectRef,
    Outcome,
    ScopeEntry,
    ScopeKind,
    Severity,
    TestEvidence,
)

from .test_plugin import INVARIANTS, TESTS, links, make_project, run, statuses

pytest_plugins = ["pytester"]

SECOND_FILE = """\
import pytest

from shop.billing import order_total, refund_order


@pytest.mark.invariant("PAY-003")
def test_total():
    assert order_total([(2, 3)]) == 6


@pytest.mark.invariant("PAY-002")
def test_real_refund():
    assert refund_order("o-1", {"o-1": 5}) == 5
"""


def _shard(pytester: pytest.Pytester, name: str, *args: str) -> Path:
    result, _ = run(pytester, *args)
    assert result.ret == 0, result.stdout.str()
    target = pytester.path / name
    (pytester.path / "out.json").rename(target)
    return target


def _every_link(data: dict[str, Any]) -> dict[str, dict[str, tuple[str, str]]]:
    return {
        inv["id"]: {t["nodeid"]: (t["link"], t["outcome"]) for t in inv["tests"]}
        for inv in data["invariants"]
    }


def _verdicts(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (i["id"], i["status"], i["partial"], i["at_risk"], i["scope_coverage"])
        for i in data["invariants"]
    ]


@pytest.mark.invariant("STAT-001")
def test_shards_split_by_file_combine_to_the_serial_run(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    (pytester.path / "tests" / "test_more.py").write_text(SECOND_FILE)
    first = _shard(pytester, "a.json", "tests/test_billing.py")
    second = _shard(pytester, "b.json", "tests/test_more.py")
    whole = json.loads(_shard(pytester, "whole.json").read_text())
    shard_run = json.loads(first.read_text())["run"]
    assert shard_run["partial"] is True  # a file split is a narrowed run (SPEC section 5)
    assert shard_run["partial_reasons"] == ["arguments tests/test_billing.py"]
    merged = pytester.path / "merged.json"
    assert cli_main(["combine", str(first), str(second), "-o", str(merged)]) == 0
    combined = json.loads(merged.read_text())
    assert _verdicts(combined) == _verdicts(whole)
    assert _every_link(combined) == _every_link(whole)
    assert statuses(combined)["PAY-002"] == "verified"  # only the second shard ran it for real
    assert combined["summary"] == whole["summary"]
    assert combined["run"]["partial"] is False


def test_combining_a_shard_with_itself_adds_nothing(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    make_project(pytester)
    shard = _shard(pytester, "a.json")
    merged = tmp_path / "merged.json"
    assert cli_main(["combine", str(shard), str(shard), "-o", str(merged)]) == 0
    once, twice = json.loads(shard.read_text()), json.loads(merged.read_text())
    assert len(twice["tests"]) == len(once["tests"]) and _every_link(twice) == _every_link(once)


def test_shards_of_other_invariant_files_are_refused(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(pytester)
    first = _shard(pytester, "a.json", "-k", "charge")
    (pytester.path / "invariants.yaml").write_text(
        INVARIANTS.replace("Chargebacks.", "Chargebacks cost us twice.")
    )
    second = _shard(pytester, "b.json", "-k", "not charge")
    merged = pytester.path / "merged.json"
    assert cli_main(["combine", str(first), str(second), "-o", str(merged)]) == 2
    err = capsys.readouterr().err
    assert f"{second}: made from other invariant files than {first}" in err
    assert "re-run every shard on the same commit" in err
    assert not merged.exists()


def test_shards_of_another_tool_version_are_refused(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(pytester)
    first = _shard(pytester, "a.json", "-k", "charge")
    second = _shard(pytester, "b.json", "-k", "not charge")
    data = json.loads(second.read_text())
    data["tool_version"] = "0.0.1"
    second.write_text(json.dumps(data))
    merged = pytester.path / "merged.json"
    assert cli_main(["combine", str(first), str(second), "-o", str(merged)]) == 2
    err = capsys.readouterr().err
    assert f"{second}: made by pytest-invariants 0.0.1" in err and not merged.exists()


def test_xdist_with_deselection_matches_the_serial_run(pytester: pytest.Pytester) -> None:
    # An xdist controller collects nothing; deselected claims come from the workers.
    pytest.importorskip("xdist")
    make_project(pytester, tests=TESTS)
    _, serial = run(pytester, "-k", "not refund")
    result, parallel = run(pytester, "-n", "2", "-k", "not refund")
    assert result.ret == 0, result.stdout.str()
    assert _verdicts(parallel) == _verdicts(serial)
    for iid in statuses(serial):
        assert links(parallel, iid) == links(serial, iid)
    assert parallel["run"]["partial"] is True
    assert parallel["run"]["recorder"] == serial["run"]["recorder"] != ""


# -- the indexes behind benchmarks/scale.py --------------------------------------------

_FILES = ("pkg/a.py", "pkg/b.py")
_DOTTED = ("pkg.a", "pkg.a.f", "pkg.a.g", "pkg.b", "pkg.b.f", "pkg.ab")

_entries = st.builds(
    lambda file, dotted, span: ScopeEntry(
        raw=dotted,
        kind=ScopeKind.QUALNAME if span else ScopeKind.MODULE,
        file=file,
        dotted=dotted,
        lines=(min(span), max(span)) if span else None,
    ),
    st.sampled_from(_FILES),
    st.sampled_from(_DOTTED),
    st.one_of(st.none(), st.tuples(st.integers(1, 40), st.integers(1, 40))),
)

_invariants = st.lists(
    st.builds(
        lambda n, code: Invariant(
            id=f"I-{n}", title="t", why="w", owner="o", severity=Severity.LOW, code=tuple(code)
        ),
        st.integers(0, 99),
        st.lists(_entries, max_size=3),
    ),
    max_size=8,
)

_doubles = st.builds(
    lambda target, ref: DoubleRecord(
        target, DoubleKind.DOUBLE, "MagicMock", "patch", "t.py:1", ref
    ),
    st.sampled_from((*_DOTTED, "pkg", "pkg.a.f.inner", "other.f")),
    st.one_of(
        st.none(),
        st.builds(
            ObjectRef,
            st.just("pkg.a"),
            st.just("f"),
            st.sampled_from((*_FILES, None)),
            st.one_of(st.none(), st.integers(1, 40)),
            st.sampled_from(("function", "module")),
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(_invariants, _doubles)
def test_the_graph_index_finds_exactly_the_invariants_a_double_replaces(
    invariants: list[Invariant], double: DoubleRecord
) -> None:
    scoped = [inv for inv in invariants if inv.scoped]
    expected = [inv for inv in scoped if mocked_out(double, inv)]
    assert _ReplacedIndex(scoped).replaced(double) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_entries, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(_FILES), st.frozensets(st.integers(1, 45), max_size=30)),
    st.booleans(),
)
def test_scope_lines_run_equals_the_line_by_line_definition(
    code: list[ScopeEntry], executed: dict[str, frozenset[int]], compact: bool
) -> None:
    inv = Invariant(id="I", title="t", why="w", owner="o", severity=Severity.LOW, code=tuple(code))
    # The recorders hand over LineSets; evidence made by hand may hold frozensets.
    held = {path: LineSet(lines) for path, lines in executed.items()} if compact else executed
    ev = TestEvidence(nodeid="t::x", outcome=Outcome.PASSED, executed=held)  # type: ignore[arg-type]
    expected: dict[str, set[int]] = {}
    for entry in code:
        hit = {n for n in executed.get(entry.file, ()) if entry.contains_line(n)}
        if hit:
            expected.setdefault(entry.file, set()).update(hit)
    assert scope_lines_run(inv, ev) == {path: frozenset(s) for path, s in expected.items()}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 5000), max_size=60),
    st.lists(st.integers(-3, 5000), max_size=20),
    st.integers(-5, 5000),
    st.integers(-5, 5000),
)
def test_a_line_set_is_the_frozenset_of_its_lines(
    lines: list[int], others: list[int], low: int, high: int
) -> None:
    # Evidence is kept as LineSets (4 bytes a line) and read as sets by every stage.
    compact, plain = LineSet(lines), frozenset(lines)
    assert compact == plain and plain == compact and hash(compact) == hash(plain)
    assert list(compact) == sorted(plain) and len(compact) == len(plain)
    assert all((n in compact) == (n in plain) for n in [*others, *lines, "x", None])
    assert compact.intersection(range(low, high)) == plain.intersection(range(low, high))
    assert compact.intersection(others) == plain.intersection(others)
    assert compact | LineSet(others) == plain | frozenset(others)
    assert compact & frozenset(others) == plain & frozenset(others)
    assert compact.isdisjoint(others) == plain.isdisjoint(others)
    assert LineSet.from_sorted(sorted(plain)) == compact
    odd = LineSet(others)  # a results file may hold any int: kept, if not packed
    assert all(n in odd for n in others) and odd == frozenset(others)
    assert pickle.loads(pickle.dumps(compact)) == compact

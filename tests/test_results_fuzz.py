"""Fuzz the results reader: whatever the file holds, RunResults or ResultsError, nothing else.

Results files come from other machines, other versions, half-finished
downloads and hand edits. `invariants gate/report/combine` must answer a bad
one with a located message, never a traceback. Inputs that once broke the
reader are kept in tests/data/crashers/ and replayed here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_invariants.model import (
    DoubleKind,
    DoubleRecord,
    Invariant,
    InvariantSet,
    Location,
    MockCall,
    ObjectRef,
    Outcome,
    RunResults,
    ScopeEntry,
    ScopeKind,
    Severity,
    TestEvidence,
)
from pytest_invariants.reports.files import render_format
from pytest_invariants.results import ResultsError, dumps, from_dict, read_results, to_dict
from pytest_invariants.status import classify

CRASHERS = Path(__file__).parent / "data" / "crashers"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _sample() -> dict[str, Any]:
    """Return the JSON form of a small run that uses every kind of record."""
    entry = ScopeEntry(
        raw="shop.billing:charge",
        kind=ScopeKind.QUALNAME,
        file="src/shop/billing.py",
        dotted="shop.billing.charge",
        lines=(3, 9),
        executable=frozenset({4, 5, 6}),
        reads=frozenset({"shop.billing.gateway"}),
        location=Location("invariants.yaml", 7, 5),
    )
    inv = Invariant(
        id="PAY-001",
        title="No double charge",
        why="Chargebacks.",
        owner="payments",
        severity=Severity.CRITICAL,
        code=(entry,),
        must_be_real=("shop.db",),
        allow_doubles=("shop.mail",),
        depends_on=(),
        links={"ticket": "https://example.org/1"},
        location=Location("invariants.yaml", 4),
    )
    tests = (
        TestEvidence(
            nodeid="tests/test_pay.py::test_real",
            outcome=Outcome.PASSED,
            claims=("PAY-001",),
            executed={"src/shop/billing.py": frozenset({4, 5})},
            location=Location("tests/test_pay.py", 3),
        ),
        TestEvidence(
            nodeid="tests/test_pay.py::test_mocked",
            outcome=Outcome.FAILED,
            claims=("PAY-001",),
            executed={"src/shop/billing.py": frozenset({4})},
            doubles=(
                DoubleRecord(
                    "shop.billing.gateway",
                    DoubleKind.DOUBLE,
                    "MagicMock",
                    "unittest.mock.patch",
                    "tests/test_pay.py:12",
                    ObjectRef("shop.gateway", "Gateway", "src/shop/gateway.py", 1, "class"),
                ),
            ),
            mock_calls=(
                MockCall("gateway.charge", "src/shop/billing.py", 6, "shop.billing.gateway"),
            ),
            observation_warnings=("something was disturbed",),
        ),
    )
    iset = InvariantSet((inv,), files=("invariants.yaml",), fingerprint="abc")
    return to_dict(RunResults(iset, classify(iset, tests), tests))


SAMPLE = _sample()


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path of every value inside a JSON document."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_paths(value, (*prefix, index)))
    return found


PATHS = [p for p in _paths(SAMPLE) if p]


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    changed = copy.deepcopy(data)
    holder = changed
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return changed


def _usable(results: RunResults) -> None:
    """Use accepted results the way the CLI does: every report, and a recount."""
    classify(results.invariant_set, results.tests)
    json.loads(dumps(results))
    for fmt in ("md", "sarif", "html"):
        render_format(fmt, results, None)


def _read_or_refuse(data: Any) -> None:
    try:
        results = from_dict(data)
    except ResultsError:
        return
    _usable(results)


def test_the_sample_round_trips() -> None:
    assert to_dict(from_dict(SAMPLE)) == SAMPLE


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_is_read_or_refused(data: Any) -> None:
    _read_or_refuse(data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_value_under_the_schema_key_is_read_or_refused(data: Any) -> None:
    _read_or_refuse({"schema": SAMPLE["schema"], "invariants": data, "tests": data, "run": data})


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1, max_size=3))
def test_a_damaged_real_file_is_read_or_refused(damage: list[tuple[tuple[Any, ...], Any]]) -> None:
    data: Any = SAMPLE
    for path, value in damage:
        try:
            data = _replace(data, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this path
    _read_or_refuse(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused(
    tmp_path_factory: pytest.TempPathFactory, blob: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "results.json"
    path.write_bytes(blob)
    try:
        _usable(read_results(path))
    except ResultsError as exc:
        assert str(path) in str(exc)


def test_deeply_nested_json_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ResultsError, match="deep.json"):
        read_results(path)


@pytest.mark.parametrize("crasher", sorted(CRASHERS.glob("*.json")), ids=lambda p: p.name)
def test_every_kept_crasher_is_read_or_refused(crasher: Path) -> None:
    try:
        _usable(read_results(crasher))
    except ResultsError as exc:
        assert crasher.name in str(exc)

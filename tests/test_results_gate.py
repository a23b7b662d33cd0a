"""The results file, the gate policy and the graph, on plain values."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import networkx as nx
import pytest

from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.gate import PolicyError, evaluate, not_judged, parse_policy
from pytest_invariants.graph import build_graph, export
from pytest_invariants.model import GatePolicy, InvariantSet, Lifecycle, RunInfo, RunResults, Status
from pytest_invariants.results import (
    SCHEMA,
    ResultsError,
    from_dict,
    read_results,
    to_dict,
    write_atomically,
)
from pytest_invariants.status import classify

from .test_classification import double, evidence, invariant


def sample_results() -> RunResults:
    invariants = (
        invariant("PAY-001"),
        invariant("PAY-002", severity=invariant().severity.HIGH, depends_on=("PAY-001",)),
        invariant("OLD-001", lifecycle=Lifecycle.DEPRECATED),
    )
    tests = (
        evidence("t::real", claims=("PAY-001",)),
        evidence("t::mocked", claims=("PAY-002",), doubles=(double("shop.billing.charge_order"),)),
    )
    iset = InvariantSet(invariants, ("invariants.yaml",), fingerprint="sha256:x")
    return RunResults(iset, classify(iset, tests), tests, RunInfo(rootdir="/r", tool_version="0"))


@pytest.mark.invariant("RES-002")
def test_results_survive_a_round_trip_through_json() -> None:
    results = sample_results()
    data = json.loads(json.dumps(to_dict(results)))
    assert data["schema"] == SCHEMA
    again = from_dict(data)
    assert to_dict(again) == to_dict(results)
    assert [r.status for r in again.invariants] == [
        Status.VERIFIED,
        Status.MOCK_ONLY,
        Status.INCIDENTAL,
    ]


@pytest.mark.invariant("RES-002")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "not a pytest-invariants results file"),
        ('{"schema": "coverage.py/3"}', "schema is 'coverage.py/3'"),
        (json.dumps({"schema": SCHEMA, "invariants": [{"id": "X"}]}), "damaged results file"),
        (json.dumps({"schema": SCHEMA}), "'invariants' is missing"),
    ],
)
def test_foreign_or_damaged_results_give_a_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(ResultsError, match=message) as info:
        read_results(path)
    assert str(path) in str(info.value)


def test_a_missing_results_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="run `pytest --invariants` first"):
        read_results(tmp_path / "nope.json")


@pytest.mark.invariant("RES-001")
def test_atomic_writes_never_show_a_half_written_file(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    big = "x" * 2_000_000
    write_atomically(target, "old")
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(target.read_text()[:3])

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(20):
        write_atomically(target, big)
        write_atomically(target, "old")
    stop.set()
    thread.join()
    assert seen <= {"old", "xxx"}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp files left


@pytest.mark.invariant("RES-001")
def test_a_failed_write_leaves_the_previous_file_and_no_debris(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    write_atomically(target, "previous")
    with pytest.raises(TypeError):
        write_atomically(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["results.json"]


@pytest.mark.invariant("GATE-001")
def test_the_gate_names_each_violation_and_never_gates_deprecated_invariants() -> None:
    results = sample_results()
    policy = parse_policy("critical:verified;high:mock-only,unverified")
    violations = evaluate(results.invariants, policy)
    assert [(v.invariant_id, v.reason) for v in violations] == [
        ("PAY-001", "verified"),
        ("PAY-002", "mock-only"),
    ]
    assert "PAY-002 (high, owner payments) is mock-only" in violations[1].render()
    assert ExitCode.GATE_FAILED not in range(0, 7)  # pytest's own codes stay distinguishable


@pytest.mark.invariant("GATE-001")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("critical", "must read SEVERITY:STATUS"),
        ("urgent:failing", "must read SEVERITY:STATUS"),
        ("critical:flaky", "unknown status flaky"),
        ("", "is empty"),
        (";;;", "is empty"),
        ("   ", "is empty"),
        ("critical:", "'critical' names no status"),
        ("critical:unverified;high:", "'high' names no status"),
        ("critical: , ,", "'critical' names no status"),
    ],
)
def test_bad_policies_say_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


@pytest.mark.invariant("GATE-001", "RUN-001")
def test_a_partial_invariant_is_gated_only_for_failing_and_for_the_partial_flag() -> None:
    results = sample_results()
    partial = tuple(replace(res, partial=True) for res in results.invariants)
    policy = parse_policy("critical:verified,partial;high:mock-only")
    assert [(v.invariant_id, v.reason) for v in evaluate(partial, policy)] == [
        ("PAY-001", "partial")
    ]
    assert not_judged(partial, policy) == ["PAY-001", "PAY-002"]
    failing = (replace(partial[0], status=Status.FAILING),)
    assert [v.reason for v in evaluate(failing, parse_policy("critical:failing"))] == ["failing"]


def test_policy_flags_partial_and_suspect() -> None:
    policy = parse_policy("critical:partial, suspect")
    assert policy == GatePolicy({"critical": frozenset({"partial", "suspect"})})


def test_the_graph_has_every_node_and_edge_kind_and_exports() -> None:
    graph = build_graph(sample_results())
    kinds = {attrs["kind"] for _, attrs in graph.nodes(data=True)}
    edges = {attrs["kind"] for _, _, attrs in graph.edges(data=True)}
    assert kinds == {"invariant", "code", "test", "double"}
    assert edges == {"depends_on", "guards", "claims", "executes", "replaces", "uses"}
    assert graph.has_edge("double:shop.billing.charge_order", "code:shop.billing:charge_order")
    assert json.loads(export(graph, "json"))["nodes"]
    assert (
        nx.read_graphml(
            __import__("io").BytesIO(export(graph, "graphml").encode())
        ).number_of_nodes()
        == graph.number_of_nodes()
    )
    dot = export(graph, "dot")
    assert (
        dot.startswith("digraph")
        and '"invariant:PAY-001" -> "code:shop.billing:charge_order"' in dot
    )

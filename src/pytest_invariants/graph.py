"""The graph of invariants, code, tests and doubles (docs/reports.md), built from results.

Node ids carry their kind as a prefix (`invariant:PAY-001`, `code:shop.billing:charge`,
`test:tests/test_pay.py::test_x`, `double:shop.billing.gateway`) so the four kinds
never collide. Every attribute is a scalar, so GraphML can hold it.
"""

from __future__ import annotations

import io
import json
from typing import Any

import networkx as nx

from pytest_invariants.linking import (
    mocked_out,  # the one definition of "this double replaces scope code"
)
from pytest_invariants.model import DoubleKind, DoubleRecord, Invariant, RunResults

__all__ = ["FORMATS", "build_graph", "export"]

FORMATS = ("json", "graphml", "dot")


def _inv(iid: str) -> str:
    return f"invariant:{iid}"


def _code(raw: str) -> str:
    return f"code:{raw}"


def _test(nodeid: str) -> str:
    return f"test:{nodeid}"


def _double(target: str) -> str:
    return f"double:{target}"


def _add_invariants(graph: nx.DiGraph, results: RunResults) -> None:
    for res in results.invariants:
        inv = res.invariant
        graph.add_node(
            _inv(inv.id),
            kind="invariant",
            label=inv.id,
            title=inv.title,
            status=res.status.value,
            severity=inv.severity.value,
            owner=inv.owner,
        )
        for entry in inv.code:
            graph.add_node(_code(entry.raw), kind="code", label=entry.raw, file=entry.file)
            graph.add_edge(_inv(inv.id), _code(entry.raw), kind="guards")
    for res in results.invariants:
        for dep in res.invariant.depends_on:
            graph.add_edge(_inv(res.invariant.id), _inv(dep), kind="depends_on")


def _add_tests(graph: nx.DiGraph, results: RunResults) -> None:
    for res in results.invariants:
        for link in res.links:
            graph.add_node(
                _test(link.nodeid), kind="test", label=link.nodeid, outcome=link.outcome.value
            )
            if link.kind.value != "incidental":
                graph.add_edge(
                    _test(link.nodeid),
                    _inv(res.invariant.id),
                    kind="claims",
                    link=link.kind.value,
                    detail=link.detail or "",
                )
            for entry in res.invariant.code:
                count = sum(
                    1 for line in link.executed.get(entry.file, ()) if entry.contains_line(line)
                )
                if count:
                    graph.add_edge(
                        _test(link.nodeid), _code(entry.raw), kind="executes", lines=count
                    )


class _ReplacedIndex:
    """Find the invariants whose code a double replaces without trying every invariant.

    Trying `mocked_out` on every (double, invariant) pair cost 2.5 s for 10,000
    tests x 1,000 invariants (benchmarks/scale.py). A double can only replace
    code of an invariant that has a scope entry named by a dotted prefix of its
    target, or an entry in the file its original object came from.
    """

    def __init__(self, invariants: list[Invariant]) -> None:
        self._by_dotted: dict[str, list[int]] = {}
        self._by_file: dict[str, list[int]] = {}
        self._invariants = invariants
        for position, inv in enumerate(invariants):
            for entry in inv.code:
                if entry.dotted:
                    self._by_dotted.setdefault(entry.dotted, []).append(position)
                self._by_file.setdefault(entry.file, []).append(position)

    def replaced(self, double: DoubleRecord) -> list[Invariant]:
        """Return, in file order, the invariants whose scope `double` replaces."""
        parts = double.target.split(".")
        found: set[int] = set()
        for size in range(1, len(parts) + 1):
            found.update(self._by_dotted.get(".".join(parts[:size]), ()))
        if double.original is not None and double.original.file:
            found.update(self._by_file.get(double.original.file, ()))
        candidates = (self._invariants[position] for position in sorted(found))
        return [inv for inv in candidates if mocked_out(double, inv)]


def _add_doubles(graph: nx.DiGraph, results: RunResults) -> None:
    index = _ReplacedIndex([res.invariant for res in results.invariants if res.invariant.scoped])
    for ev in results.tests:
        if not graph.has_node(_test(ev.nodeid)):
            continue
        for double in ev.doubles:
            if double.kind is not DoubleKind.DOUBLE:
                continue
            graph.add_node(
                _double(double.target),
                kind="double",
                label=double.target,
                replacement=double.replacement,
            )
            graph.add_edge(
                _test(ev.nodeid),
                _double(double.target),
                kind="uses",
                via=double.via,
                where=double.where,
            )
            for inv in index.replaced(double):
                for entry in inv.code:
                    graph.add_edge(_double(double.target), _code(entry.raw), kind="replaces")


def build_graph(results: RunResults) -> nx.DiGraph:
    """Return the DiGraph of docs/reports.md for a run's results."""
    graph = nx.DiGraph()
    _add_invariants(graph, results)
    _add_tests(graph, results)
    _add_doubles(graph, results)
    return graph


def _dot_quote(text: Any) -> str:
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


_SHAPES = {"invariant": "box", "code": "note", "test": "ellipse", "double": "diamond"}


def _to_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph invariants {", "  rankdir=LR;"]
    for node, attrs in graph.nodes(data=True):
        shape = _SHAPES.get(attrs.get("kind", ""), "ellipse")
        lines.append(
            f"  {_dot_quote(node)} [label={_dot_quote(attrs.get('label', node))}, shape={shape}];"
        )
    for src, dst, attrs in graph.edges(data=True):
        lines.append(
            f"  {_dot_quote(src)} -> {_dot_quote(dst)} [label={_dot_quote(attrs.get('kind', ''))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def export(graph: nx.DiGraph, fmt: str) -> str:
    """Return the graph as JSON (node-link), GraphML or Graphviz DOT text."""
    if fmt == "json":
        return json.dumps(nx.node_link_data(graph, edges="edges"), indent=1) + "\n"
    if fmt == "graphml":
        buffer = io.BytesIO()
        nx.write_graphml(graph, buffer)
        return buffer.getvalue().decode("utf-8")
    if fmt == "dot":
        return _to_dot(graph)
    raise ValueError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")

"""Small inline SVG pictures for the HTML report, drawn in Python at report time.

No graph service and no graphviz: the graph around one invariant is laid out in
fixed columns (doubles, tests, the invariant, its code), which reads left to right
as "what the tests replaced -> the tests -> the rule -> the code that enforces it".
`depends_on` runs in its own direction, top to bottom through the invariant's
column: the invariants that rest on it above, those it rests on below. Only the
doubles that spoiled a test as evidence for this invariant are drawn. Labels are
shortened in the middle, so a test keeps its file and its name; every label is
escaped; full names sit in <title>.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from pytest_invariants.model import DoubleKind, InvariantResult, LinkKind, TestEvidence

__all__ = [
    "KIND_COLOR",
    "LINK_COLOR",
    "STATUS_COLOR",
    "Edge",
    "Node",
    "draw_graph",
    "neighbourhood",
]

# One hue per status: failing (red) never looks like unverified (slate, nothing is
# known), verified (green) never like proven (blue).
STATUS_COLOR: dict[str, str] = {
    "failing": "#c62828",
    "unverified": "#546e7a",
    "incidental": "#e65100",
    "claimed": "#a0740b",
    "mock-only": "#8e24aa",
    "verified": "#2e7d32",
    "proven": "#1565c0",
}
LINK_COLOR: dict[str, str] = {
    "real": "#2e7d32",
    "mock-based": "#8e24aa",
    "claimed": "#a0740b",
    "incidental": "#757575",
}
KIND_COLOR = {"double": "#ad1457", "code": "#00695c", "invariant": "#37474f"}
DEPENDS_COLOR = "#5d4037"

# Each column shows at most this many nodes; the rest become one "+N more" node.
PER_COLUMN = 8
_W, _H, _STEP, _GAP, _PAD = 190, 26, 34, 56, 8


@dataclass(frozen=True)
class Node:
    key: str
    label: str
    column: int
    color: str
    title: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    dashed: bool = False
    kind: str = "flow"  # flow: left to right; depends: top to bottom


def _short(text: str, limit: int = 26) -> str:
    """Shorten in the middle: the start (a file, a module) and the end (a name) both stay."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[-(limit - 1 - head) :]


def _test_label(nodeid: str, limit: int = 28) -> str:
    """The test's file name, whole when it can be, and its name shortened in the middle."""
    path, sep, name = nodeid.partition("::")
    file = path.rpartition("/")[2]
    room = limit - len(file) - len(sep)
    if len(file) + len(sep) + len(name) <= limit or room < 10:
        return _short(f"{file}{sep}{name}", limit)
    return f"{file}{sep}{_short(name, room)}"


def _capped(nodes: list[Node], column: int) -> list[Node]:
    if len(nodes) <= PER_COLUMN:
        return nodes
    more = len(nodes) - PER_COLUMN + 1
    return [*nodes[: PER_COLUMN - 1], Node(f"more-{column}", f"+{more} more", column, "#9e9e9e")]


def _tests(res: InvariantResult) -> list[Node]:
    order = {LinkKind.REAL: 0, LinkKind.MOCK_BASED: 1, LinkKind.CLAIMED: 2, LinkKind.INCIDENTAL: 3}
    links = sorted(res.links, key=lambda link: (order[link.kind], link.nodeid))
    nodes = [
        Node(
            f"t:{link.nodeid}",
            _test_label(link.nodeid),
            1,
            LINK_COLOR[link.kind.value],
            f"{link.nodeid}: {link.kind.value}, {link.outcome.value}",
        )
        for link in links
    ]
    return _capped(nodes, 1)


def _doubles(
    res: InvariantResult, tests: Mapping[str, TestEvidence], shown: set[str]
) -> tuple[list[Node], list[Edge]]:
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    for link in res.links:
        ev = tests.get(link.nodeid)
        if ev is None or f"t:{link.nodeid}" not in shown:
            continue
        said = " ".join(link.evidence)
        for double in ev.doubles:
            # Only the doubles that made this test weaker evidence for this invariant.
            if double.kind is not DoubleKind.DOUBLE or double.target not in said:
                continue
            key = f"d:{double.target}"
            nodes.setdefault(
                key,
                Node(
                    key,
                    _short(double.target),
                    0,
                    KIND_COLOR["double"],
                    f"{double.target} replaced by {double.replacement}",
                ),
            )
            edges.append(Edge(key, f"t:{link.nodeid}", "used by", dashed=True))
    return _capped(list(nodes.values()), 0), edges


def _neighbour(iid: str, by_id: Mapping[str, InvariantResult], role: str) -> Node:
    other = by_id.get(iid)
    color = STATUS_COLOR[other.status.value] if other else "#9e9e9e"
    status = other.status.value if other else "unknown"
    return Node(f"i:{iid}", _short(iid), 2, color, f"{iid} ({status}): {role}")


def _neighbours(
    res: InvariantResult, by_id: Mapping[str, InvariantResult], dependents: Sequence[str]
) -> tuple[list[Node], list[Node], list[Edge]]:
    """Return (above, below, edges): who rests on it, what it rests on, arrows pointing down."""
    me = f"i:{res.invariant.id}"
    half = PER_COLUMN // 2
    above = [_neighbour(d, by_id, f"rests on {res.invariant.id}") for d in dependents][:half]
    below = [_neighbour(d, by_id, "it rests on this") for d in res.invariant.depends_on][:half]
    edges = [Edge(node.key, me, "depends_on", kind="depends") for node in above]
    edges += [Edge(me, node.key, "depends_on", kind="depends") for node in below]
    return above, below, edges


def neighbourhood(
    res: InvariantResult,
    by_id: Mapping[str, InvariantResult],
    dependents: Sequence[str],
    tests: Mapping[str, TestEvidence],
) -> tuple[list[Node], list[Edge]]:
    """Return the nodes and edges of the graph around one invariant."""
    inv = res.invariant
    me = f"i:{inv.id}"
    centre = Node(
        me,
        _short(inv.id),
        2,
        STATUS_COLOR[res.status.value],
        f"{inv.id} ({res.status.value}): {inv.title}",
    )
    code = _capped(
        [Node(f"c:{e.raw}", _short(e.raw), 3, KIND_COLOR["code"], e.raw) for e in inv.code], 3
    )
    test_nodes = _tests(res)
    shown = {node.key for node in test_nodes}
    doubles, double_edges = _doubles(res, tests, shown)
    above, below, neighbour_edges = _neighbours(res, by_id, dependents)
    edges = [Edge(me, node.key, "guards") for node in code]
    for link in res.links:
        if f"t:{link.nodeid}" in shown:
            claims = link.kind is not LinkKind.INCIDENTAL
            edges.append(
                Edge(
                    f"t:{link.nodeid}",
                    me,
                    "claims" if claims else "runs its code",
                    dashed=not claims,
                )
            )
    nodes = [*doubles, *test_nodes, *above, centre, *below, *code]
    return nodes, [*edges, *double_edges, *neighbour_edges]


def _step(column: int, count: int) -> int:
    """Rows are further apart in the invariant's column, to leave room for depends_on arrows."""
    return _STEP + 20 if column == 2 and count > 1 else _STEP


def _positions(nodes: Sequence[Node]) -> tuple[dict[str, tuple[int, int]], int, int]:
    columns: dict[int, list[Node]] = {}
    for node in nodes:
        columns.setdefault(node.column, []).append(node)
    used = sorted(columns)
    height = max(len(col) * _step(c, len(col)) for c, col in columns.items()) + 2 * _PAD
    where = {}
    for x_index, column in enumerate(used):
        step = _step(column, len(columns[column]))
        top = (height - len(columns[column]) * step) // 2
        for y_index, node in enumerate(columns[column]):
            where[node.key] = (_PAD + x_index * (_W + _GAP), top + y_index * step + 4)
    width = len(used) * (_W + _GAP) - _GAP + 2 * _PAD
    return where, width, height


def _vertical(edge: Edge, where: Mapping[str, tuple[int, int]]) -> str:
    (sx, sy), (_, ty) = where[edge.source], where[edge.target]
    x = sx + _W // 2
    y1, y2 = (sy + _H, ty) if sy < ty else (sy, ty + _H)
    return (
        f'<path d="M{x},{y1} L{x},{y2}" fill="none" stroke="{DEPENDS_COLOR}" stroke-width="2"'
        f' marker-end="url(#arrow-dep)"><title>{escape(edge.label)}</title></path>'
    )


def _edge(edge: Edge, where: Mapping[str, tuple[int, int]]) -> str:
    if edge.kind == "depends":
        return _vertical(edge, where)
    (sx, sy), (tx, ty) = where[edge.source], where[edge.target]
    forward = sx < tx
    x1, x2 = (sx + _W, tx) if forward else (sx, tx + _W)
    y1, y2 = sy + _H // 2, ty + _H // 2
    mid = (x1 + x2) // 2
    dash = ' stroke-dasharray="4 3"' if edge.dashed else ""
    return (
        f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" stroke="#90a4ae"'
        f'{dash} marker-end="url(#arrow)"><title>{escape(edge.label)}</title></path>'
    )


def _node(node: Node, x: int, y: int) -> str:
    return (
        f"<g><title>{escape(node.title or node.label)}</title>"
        f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="5" fill="{node.color}"/>'
        f'<text x="{x + 8}" y="{y + 17}" fill="#fff" font-size="12">{escape(node.label)}</text>'
        "</g>"
    )


def draw_graph(nodes: Sequence[Node], edges: Sequence[Edge], label: str = "graph") -> Markup:
    """Return an inline SVG drawing of the nodes in their columns, with the edges."""
    where, width, height = _positions(nodes)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" '
        f'aria-label="{escape(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#90a4ae"/>'
        '</marker><marker id="arrow-dep" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{DEPENDS_COLOR}"/></marker></defs>',
    ]
    parts += [_edge(e, where) for e in edges if e.source in where and e.target in where]
    parts += [_node(n, *where[n.key]) for n in nodes]
    parts.append("</svg>")
    return Markup("".join(parts))

"""The HTML report: one self-contained file a product owner can read in a minute.

Like coverage.py's html.py, the data is first turned into plain view dataclasses
(`PageView`, `RowView`, `DetailView`...), then one jinja2 template with
autoescape renders them. No CDN, no font, no request: CSS and JS are inline,
and a Content-Security-Policy allows only our own script (by its hash), so even
a title that slipped through escaping could not run code.

Stays fast at 1,000 invariants x 10,000 tests: the table is one row per
invariant filtered in plain JS over an embedded JSON array, and each detail
section sits in an inert <template> that is put into the page only when opened.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from pytest_invariants.gate import Violation
from pytest_invariants.model import (
    SEVERITIES,
    InvariantResult,
    LinkKind,
    MutantOutcome,
    Proof,
    RunResults,
    ScopeEntry,
    TestEvidence,
)
from pytest_invariants.reports import STATUS_MEANING, STATUSES
from pytest_invariants.reports.coderules import CodeFileView, code_files
from pytest_invariants.reports.svg import (
    DEPENDS_COLOR,
    KIND_COLOR,
    LINK_COLOR,
    STATUS_COLOR,
    draw_graph,
    neighbourhood,
)
from pytest_invariants.reports.view import InvariantView, RunView
from pytest_invariants.results import write_atomically

__all__ = [
    "CardView",
    "CodeLine",
    "CodeView",
    "DetailView",
    "GateItem",
    "HrefView",
    "MutantView",
    "PageView",
    "ProofView",
    "RowView",
    "TestView",
    "build_page",
    "render",
    "render_to",
    "render_view",
]

# A scope entry longer than this shows its first lines only, with a count of the rest.
MAX_CODE_LINES = 400
# "Why the gate failed" lists this many violations; the rest fold, so the table stays
# on the first screen.
GATE_SHOWN = 5
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class RowView:
    """One row of the invariants table (also sent to the page's JS as a JSON array)."""

    index: int
    id: str
    title: str
    status: str
    severity: str
    owner: str
    coverage: float | None
    flags: tuple[str, ...]
    tags: tuple[str, ...]
    coverage_text: str = "—"  # says who ran the code when no claiming test did

    def as_json(self) -> list[object]:
        return [
            self.id,
            self.title,
            self.status,
            STATUSES.index(self.status),
            self.severity,
            SEVERITIES.index(self.severity),
            self.owner,
            self.coverage,
            " ".join(self.flags),
            " ".join(self.tags),
        ]


@dataclass(frozen=True)
class HrefView:
    label: str
    text: str
    href: str | None  # None when the target is not http(s) or relative: shown, not linked


@dataclass(frozen=True)
class TestView:
    nodeid: str
    kind: str
    detail: str | None
    outcome: str
    evidence: tuple[str, ...]
    counts: bool  # a plainly passed test: evidence for the status


@dataclass(frozen=True)
class CodeLine:
    number: int
    text: str
    mark: str  # real | unclaimed | doubles | never | none (not executable)


@dataclass(frozen=True)
class CodeView:
    entry: str
    file: str
    span: str
    note: str  # why the source is missing, or that it was cut
    lines: tuple[CodeLine, ...]


@dataclass(frozen=True)
class MutantView:
    id: str
    status: str
    diff: str
    killed_by: str


@dataclass(frozen=True)
class ProofView:
    score: str
    total: int
    survivors: tuple[MutantView, ...]


@dataclass(frozen=True)
class DetailView:
    row: RowView
    why: str
    lifecycle: str
    reason: str
    meaning: str
    flag_words: tuple[str, ...]
    gate_reasons: tuple[str, ...]
    location: str
    links: tuple[HrefView, ...]
    scope: tuple[str, ...]
    must_be_real: tuple[str, ...]
    allow_doubles: tuple[str, ...]
    depends_on: tuple[str, ...]
    tests: tuple[TestView, ...]
    suggested: tuple[str, ...]
    proof: ProofView | None
    code: tuple[CodeView, ...]
    graph: Markup


@dataclass(frozen=True)
class CardView:
    """A status with its count and, in words, how many of each severity."""

    status: str
    count: int
    by_severity: str  # "1 critical · 2 high"


@dataclass(frozen=True)
class GateItem:
    """One line of "why the gate failed", linking to its invariant's detail."""

    index: int | None  # the invariant's row, None when the results lack it
    text: str


@dataclass(frozen=True)
class PageView:
    title: str
    info: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]
    total: int
    tests: int
    cards: tuple[CardView, ...]  # one per status present: the one count view
    gate: tuple[GateItem, ...] | None  # None: no policy; empty: passed
    gate_count: int
    rows: tuple[RowView, ...]
    details: tuple[DetailView, ...]
    owners: tuple[str, ...]
    code_files: tuple[CodeFileView, ...] = ()  # the "code → rules" view


# -- building the views ---------------------------------------------------------


def safe_href(target: str) -> str | None:
    """Return `target` when it is an http(s) URL or a relative reference, else None.

    A backslash never makes a link: browsers read it as `/`, so `/\\evil.example`
    would be a link to another host; control characters never either.
    """
    text = target.strip()
    if not text or "\\" in text or any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in text):
        return None
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        return text
    if parts.scheme or text.startswith("//") or ":" in text.split("/")[0]:
        return None
    return text


def _row(index: int, item: InvariantView) -> RowView:
    inv = item.invariant
    return RowView(
        index,
        inv.id,
        inv.title,
        item.status,
        item.severity,
        inv.owner,
        item.result.scope_coverage,
        item.flags,
        inv.tags,
        "—" if item.coverage is None else item.coverage.text,
    )


def _tests(res: InvariantResult) -> tuple[TestView, ...]:
    order = {LinkKind.REAL: 0, LinkKind.MOCK_BASED: 1, LinkKind.CLAIMED: 2, LinkKind.INCIDENTAL: 3}
    links = sorted(res.links, key=lambda link: (order[link.kind], link.nodeid))
    return tuple(
        TestView(
            link.nodeid,
            link.kind.value,
            link.detail,
            link.outcome.value,
            link.evidence,
            link.is_evidence,
        )
        for link in links
    )


def _mutant(m: MutantOutcome) -> MutantView:
    # The id is file:line:col:operator: where the change is and which operator made it.
    return MutantView(m.id, m.status.value, m.diff, m.killed_by or "")


def _proof(proof: Proof | None) -> ProofView | None:
    if not proof:
        return None
    # A waived (equivalent) mutant is never a finding; survivors are listed with their diffs.
    counted = [m for m in proof.mutants if not m.waived]
    survivors = tuple(_mutant(m) for m in proof.survivors)
    score_text = "—" if proof.score is None else f"{proof.score:.0%}"
    return ProofView(score_text, len(counted), survivors)


class SourceReader:
    """Read scope source files at report time, once each, only inside the rootdir."""

    def __init__(self, rootdir: str) -> None:
        self._root = Path(rootdir).resolve() if rootdir else None
        self._cache: dict[str, list[str] | str] = {}

    def lines(self, file: str) -> list[str] | str:
        """Return the file's lines, or a sentence saying why they cannot be shown."""
        if file not in self._cache:
            self._cache[file] = self._read(file)
        return self._cache[file]

    def _read(self, file: str) -> list[str] | str:
        if self._root is None:
            return "source not shown: the results do not name the rootdir"
        path = (self._root / file).resolve()
        if not path.is_relative_to(self._root):
            return f"source not shown: {file} lies outside the rootdir"
        try:
            return path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return f"source not available: {path} cannot be read at report time"


def _mark(number: int, file: str, item: InvariantView, entry: ScopeEntry) -> str:
    res = item.result
    if number in res.real_lines.get(file, frozenset()):
        return "real"
    unclaimed = item.coverage.unclaimed_lines if item.coverage else {}
    if number in unclaimed.get(file, frozenset()):
        return "unclaimed"
    if number in res.double_lines.get(file, frozenset()):
        return "doubles"
    return "never" if number in entry.executable else "none"


def _code(entry: ScopeEntry, item: InvariantView, reader: SourceReader) -> CodeView:
    span = f"lines {entry.lines[0]}–{entry.lines[1]}" if entry.lines else "whole file"
    source = reader.lines(entry.file)
    if isinstance(source, str):
        return CodeView(entry.raw, entry.file, span, source, ())
    first, last = entry.lines or (1, len(source))
    last = min(last, len(source))
    note = (
        ""
        if entry.lines is None or entry.lines[1] <= len(source)
        else "the file is shorter than at run time: it changed since"
    )
    shown = range(first, min(last, first + MAX_CODE_LINES - 1) + 1)
    if last - first + 1 > MAX_CODE_LINES:
        note = f"showing the first {MAX_CODE_LINES} of {last - first + 1} lines"
    lines = tuple(CodeLine(n, source[n - 1], _mark(n, entry.file, item, entry)) for n in shown)
    return CodeView(entry.raw, entry.file, span, note, lines)


@dataclass(frozen=True)
class _Context:
    by_id: Mapping[str, InvariantResult]
    dependents: Mapping[str, list[str]]
    tests: Mapping[str, TestEvidence]
    reader: SourceReader


def _detail(row: RowView, item: InvariantView, ctx: _Context) -> DetailView:
    res, inv = item.result, item.invariant
    nodes, edges = neighbourhood(res, ctx.by_id, ctx.dependents.get(inv.id, []), ctx.tests)
    return DetailView(
        row=row,
        why=inv.why,
        lifecycle=inv.lifecycle,
        reason=item.reason,
        meaning=item.meaning,
        flag_words=item.flag_words,
        gate_reasons=item.gate_reasons,
        location=str(inv.location),
        links=tuple(HrefView(k, v, safe_href(v)) for k, v in inv.links.items()),
        scope=tuple(e.raw for e in inv.code),
        must_be_real=inv.must_be_real,
        allow_doubles=inv.allow_doubles,
        depends_on=inv.depends_on,
        tests=_tests(res),
        suggested=res.suggested_tests,
        proof=_proof(res.proof),
        code=tuple(_code(entry, item, ctx.reader) for entry in inv.code),
        graph=draw_graph(nodes, edges, f"graph around {inv.id}"),
    )


def _dependents(results: Sequence[InvariantResult]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for res in results:
        for dep in res.invariant.depends_on:
            found.setdefault(dep, []).append(res.invariant.id)
    return found


def _info(results: RunResults) -> tuple[tuple[str, str], ...]:
    info = results.info
    pairs = [
        ("rootdir", info.rootdir),
        ("python", info.python),
        ("recorder", info.recorder),
        ("started", info.started),
        ("finished", info.finished),
        ("pytest-invariants", info.tool_version),
        ("invariants files", ", ".join(results.invariant_set.files)),
    ]
    if info.partial:
        pairs.append(("partial run", "some claiming tests did not run"))
    if not info.complete:
        pairs.append(("interrupted", "the run did not finish: results are incomplete"))
    return tuple((k, v) for k, v in pairs if v)


def build_page(results: RunResults, violations: Sequence[Violation] | None) -> PageView:
    """Turn results and the gate's verdict into the plain views the template renders."""
    return page_of(RunView.of(results, violations))


def _cards(view: RunView) -> tuple[CardView, ...]:
    def split(status: str) -> str:
        parts = [f"{view.matrix[sev][status]} {sev}" for sev in SEVERITIES]
        return " · ".join(p for p in parts if not p.startswith("0 "))

    return tuple(CardView(s, n, split(s)) for s, n in view.counts.items() if n)


def page_of(view: RunView) -> PageView:
    """Turn a run's view into the plain views the template renders."""
    results = view.results
    ctx = _Context(
        {r.invariant.id: r for r in results.invariants},
        _dependents(results.invariants),
        {t.nodeid: t for t in results.tests},
        SourceReader(results.info.rootdir),
    )
    rows = tuple(_row(i, item) for i, item in enumerate(view.items))
    violations = view.violations
    where = {row.id: row.index for row in rows}
    gate = (
        None
        if violations is None
        else tuple(GateItem(where.get(v.invariant_id), v.render()) for v in violations)
    )
    return PageView(
        title="pytest-invariants report",
        info=_info(results),
        warnings=view.warnings,
        total=view.total,
        tests=view.tests,
        cards=_cards(view),
        gate=gate,
        gate_count=view.gate_count,
        rows=rows,
        details=tuple(_detail(row, item, ctx) for row, item in zip(rows, view.items, strict=True)),
        owners=tuple(sorted({r.owner for r in rows})),
        code_files=code_files(results.invariants, ctx.reader.lines),
    )


# -- rendering ------------------------------------------------------------------


def json_for_script(data: object) -> Markup:
    """Return JSON safe inside <script type="application/json">: no `<`, `>` or `&` in it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, code in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, code)
    return Markup(text)


@functools.lru_cache(maxsize=65536)  # a test id shows in every invariant it links to
def breakable(text: str) -> Markup:
    """Escape a test id, with a line-break chance after each `/` and `::` (never mid-word)."""
    escaped = str(escape(text))
    return Markup(escaped.replace("::", "::<wbr>").replace("/", "/<wbr>"))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,  # every user string is escaped unless we say otherwise
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["breakable"] = breakable
    return env


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render(results: RunResults, violations: Sequence[Violation] | None) -> str:
    """Return the HTML report as one self-contained document."""
    return render_view(RunView.of(results, violations))


def render_view(view: RunView) -> str:
    """Return the HTML report of a run's view as one self-contained document."""
    page = page_of(view)
    script = (_TEMPLATES / "report.js").read_text(encoding="utf-8")
    style = (_TEMPLATES / "report.css").read_text(encoding="utf-8")
    template = _environment().get_template("report.html.j2")
    return template.render(
        page=page,
        statuses=STATUSES,
        severities=SEVERITIES,
        meaning=STATUS_MEANING,
        colors=STATUS_COLOR,
        link_colors=LINK_COLOR,
        kind_colors=KIND_COLOR,
        depends_color=DEPENDS_COLOR,
        script=Markup(script),
        style=Markup(style),
        script_hash=_csp_hash(script),
        gate_shown=GATE_SHOWN,
        rows_json=json_for_script([row.as_json() for row in page.rows]),
    )


def render_to(
    path: Path | str, results: RunResults, violations: Sequence[Violation] | None
) -> None:
    """Write the HTML report to `path` atomically (readers never see half a file)."""
    write_atomically(Path(path), render(results, violations))

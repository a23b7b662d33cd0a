"""The terminal report (rich): a summary, what needs attention, and the gate's verdict.

User strings (titles, owners, node ids) go in as `Text`, never as markup, so a
title such as `[bold]x[/]` prints as written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pytest_invariants.gate import Violation
from pytest_invariants.model import SEVERITIES, Link, RunResults
from pytest_invariants.reports import STATUS_MEANING, STATUSES
from pytest_invariants.reports.view import InvariantView, RunView

__all__ = ["ATTENTION_LIMIT", "make_console", "render", "render_view"]

# Without -v, list this many invariants that need attention; the rest are counted.
ATTENTION_LIMIT = 25

STATUS_STYLE: dict[str, str] = {
    "failing": "bold red",
    "unverified": "red",
    "incidental": "yellow",
    "claimed": "yellow",
    "mock-only": "magenta",
    "verified": "green",
    "proven": "bold green",
}


def make_console(
    file: IO[str] | None = None,
    force_terminal: bool | None = None,
    width: int | None = None,
) -> Console:
    """Return a Console for our reports: no colour when NO_COLOR is set (no-color.org)."""
    return Console(
        file=file,
        force_terminal=force_terminal,
        width=width,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        emoji=False,
    )


def _status(value: str) -> Text:
    return Text(value, style=STATUS_STYLE.get(value, ""))


def _summary_line(view: RunView) -> Text:
    parts = [f"{n} {status}" for status, n in view.counts.items() if n]
    line = Text(f"invariants: {view.total} ({', '.join(parts) or 'none'})")
    if view.partial:
        line.append("; partial run: some claiming tests did not run", style="yellow")
    if not view.complete:
        line.append("; the run was interrupted", style="yellow")
    return line


def _summary_table(view: RunView) -> Table:
    matrix, counts = view.matrix, view.counts
    table = Table(title="pytest-invariants", box=box.SIMPLE, title_justify="left")
    table.add_column("status")
    table.add_column("total", justify="right")
    for severity in SEVERITIES:
        table.add_column(severity, justify="right")
    table.add_column("meaning")
    for status in STATUSES:
        if not counts[status]:
            continue
        cells = [str(matrix[sev][status] or "") for sev in SEVERITIES]
        table.add_row(_status(status), str(counts[status]), *cells, STATUS_MEANING[status])
    return table


def _attention_table(items: Sequence[InvariantView]) -> Table:
    table = Table(title="needs attention (worst first)", box=box.SIMPLE, title_justify="left")
    for name in ("status", "id", "severity", "owner", "title / why"):
        table.add_column(name, overflow="fold")
    for item in items:
        inv = item.invariant
        detail = Text(inv.title)
        detail.append(f"\n{item.reason}", style="dim")
        for words in item.flag_words:
            detail.append(f"\n{words}", style="yellow")
        table.add_row(_status(item.status), Text(inv.id), item.severity, Text(inv.owner), detail)
    return table


def _gate(violations: Sequence[Violation], console: Console) -> None:
    if not violations:
        console.print(Text("invariants gate: passed", style="green"))
        return
    count = len({v.invariant_id for v in violations})
    console.print(Text(f"invariants gate: FAILED by {count} invariant(s)", style="bold red"))
    for violation in violations:
        console.print(Text(f"  {violation.render()}"))


def _link_line(link: Link) -> Text:
    kind = link.kind.value + (f" ({link.detail})" if link.detail else "")
    line = Text(f"    {kind:<28} {link.outcome.value:<9} ")
    line.append(Text(link.nodeid))
    for words in link.evidence:
        line.append(f"\n        {words}", style="dim")
    return line


def _every_invariant(view: RunView, console: Console) -> None:
    console.print(Text("every invariant", style="bold"))
    for item in view.ordered:
        inv = item.invariant
        head = Text("  ")
        head.append(_status(item.status))
        head.append(f" {inv.id} [{item.severity}, {inv.owner}] {inv.title}")
        if item.flags:
            head.append(f" ({', '.join(item.flags)})", style="yellow")
        console.print(head)
        for link in item.result.links:
            console.print(_link_line(link))
        if not item.result.links:
            console.print(Text("    no test is linked to it", style="dim"))


def render(
    results: RunResults,
    violations: Sequence[Violation] | None,
    console: Console,
    verbosity: int = 0,
) -> None:
    """Print the invariants report; -q prints one line and the gate's failures only."""
    render_view(RunView.of(results, violations), console, verbosity)


def render_view(view: RunView, console: Console, verbosity: int = 0) -> None:
    """Print the report of a run's view (see `render`)."""
    violations = view.violations
    if verbosity < 0:
        console.print(_summary_line(view))
        if violations:
            _gate(violations, console)
        return
    console.print(_summary_table(view))
    console.print(_summary_line(view))
    attention = view.attention
    shown = attention if verbosity >= 1 else attention[:ATTENTION_LIMIT]
    if shown:
        console.print(_attention_table(shown))
    if len(attention) > len(shown):
        more = len(attention) - len(shown)
        console.print(Text(f"... and {more} more: use -v, or the HTML report", style="dim"))
    for warning in view.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    if verbosity >= 1:
        _every_invariant(view, console)
    if violations is not None:
        _gate(violations, console)

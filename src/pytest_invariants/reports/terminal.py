"""The terminal report (rich): a summary, what needs attention, and the gate's verdict.

User strings (titles, owners, node ids, mock names) go in as `Text`, never as
markup, so a title such as `[bold]x[/]` prints as written, and through
`text.printable`, so no control character from them reaches the terminal raw.

The attention table is laid out for the console's width (CI logs are often 80
columns): the title column gets the room, and its text is wrapped here, between
words or after a `/`, `::` or `[` of a test id, never in the middle of a word.
"""

from __future__ import annotations

import os
import re
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
from pytest_invariants.text import printable

__all__ = ["ATTENTION_LIMIT", "make_console", "render", "render_view", "wrap"]

# Without -v, list this many invariants that need attention; the rest are counted.
ATTENTION_LIMIT = 25
# Below this width for titles, severity and owner move under status and id; above
# MAX_TITLE the lines get too long to read, so a wide terminal keeps some room.
WIDE_TITLE = 60
MAX_TITLE = 100
# What a table of n columns adds to its columns' widths (box.SIMPLE, padding 1).
_EDGES = 1
_PER_COLUMN = 3
# Where a long word (a test id, a dotted name) may break: after these, and when a
# piece is still too long, after the `_`, `-` or `.` between the words of a name.
_BREAKS = re.compile(r"(?<=/)|(?<=::)|(?<=\[)")
_SOFT_BREAKS = re.compile(r"(?<=[_\-.])")

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


def _user(text: object, style: str = "") -> Text:
    """User text as a Text: never markup, never a raw control character."""
    return Text(printable(text), style=style)


def _pieces(word: str, width: int, breaks: re.Pattern[str] = _BREAKS) -> list[str]:
    """Split a word longer than `width` at its break points; fold only what still overflows."""
    out: list[str] = []
    for part in filter(None, breaks.split(word)):
        if out and len(out[-1]) + len(part) <= width:
            out[-1] += part
        elif len(part) <= width:
            out.append(part)
        elif breaks is _BREAKS:
            out.extend(_pieces(part, width, _SOFT_BREAKS))
        else:
            out.extend(part[i : i + width] for i in range(0, len(part), width))
    return out


def wrap(text: str, width: int) -> list[str]:
    """Return `text` in lines of at most `width`, broken between words where it can.

    A word longer than a line (a test id) is broken after a `/`, `::` or `[` of it,
    its pieces never separated by a space; only a piece still too long is folded.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        pieces = _pieces(word, width) if len(word) > width else [word]
        for index, piece in enumerate(pieces):
            sep = " " if current and index == 0 else ""
            if len(current) + len(sep) + len(piece) <= width:
                current += sep + piece
                continue
            if current:
                lines.append(current)
            current = piece
    return [*lines, current] if current or not lines else lines


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


def _wrapped(parts: Sequence[tuple[str, str]], width: int) -> Text:
    """Return (text, style) parts as one Text, each part wrapped to `width` on its own lines."""
    out = Text()
    for text, style in parts:
        for line in wrap(printable(text), width):
            if out:
                out.append("\n")
            out.append(line, style=style)
    return out


def _hanging(text: str, width: int, indent: str, style: str = "") -> Text:
    """User text wrapped with a hanging indent: a continuation never starts a line of its own."""
    lines = wrap(printable(text), max(width - len(indent) - 4, 20))
    return Text(indent + f"\n{indent}    ".join(lines), style=style)


def _detail(item: InvariantView, width: int) -> Text:
    parts = [(item.invariant.title, ""), (item.reason, "dim")]
    parts += [(words, "yellow") for words in item.flag_words]
    return _wrapped(parts, width)


def _column_widths(items: Sequence[InvariantView], width: int) -> tuple[bool, list[int]]:
    """Return (wide, widths): five columns when the title keeps WIDE_TITLE, else three."""
    status = max(len(name) for name in ("status", *(i.status for i in items)))
    ident = max(len("id"), *(len(printable(i.id)) for i in items))
    owner = min(max(len("owner"), *(len(printable(i.invariant.owner)) for i in items)), 24)
    wide = [status, ident, len("critical"), owner]
    title = width - sum(wide) - _EDGES - _PER_COLUMN * 5
    if title >= WIDE_TITLE:
        return True, [*wide, min(title, MAX_TITLE)]
    status = max(status, len("critical"))
    # The id and its owner share a column; an owner longer than a sixth of the line wraps.
    ident = max(len("id / owner"), min(max(ident, owner), width // 6))
    title = width - status - ident - _EDGES - _PER_COLUMN * 3
    return False, [status, ident, max(title, 20)]


def _attention_table(items: Sequence[InvariantView], width: int) -> Table:
    table = Table(title="needs attention (worst first)", box=box.SIMPLE, title_justify="left")
    wide, widths = _column_widths(items, width)
    names = ("status", "id", "severity", "owner") if wide else ("status", "id / owner")
    for name, size in zip((*names, "title / why"), widths, strict=True):
        table.add_column(name, width=size, no_wrap=True, overflow="fold")
    for item in items:
        inv = item.invariant
        detail = _detail(item, widths[-1])
        if wide:
            owner = _wrapped([(inv.owner, "")], widths[3])
            table.add_row(_status(item.status), _user(inv.id), item.severity, owner, detail)
            continue
        status = _status(item.status).append(f"\n{item.severity}")
        who = _wrapped([(inv.id, ""), (inv.owner, "dim")], widths[1])
        table.add_row(status, who, detail)
    return table


def _gate(violations: Sequence[Violation], console: Console) -> None:
    if not violations:
        console.print(Text("invariants gate: passed", style="green"))
        return
    count = len({v.invariant_id for v in violations})
    console.print(Text(f"invariants gate: FAILED by {count} invariant(s)", style="bold red"))
    for violation in violations:
        console.print(_hanging(violation.render(), console.width, "  "))


def _link_line(link: Link) -> Text:
    kind = link.kind.value + (f" ({link.detail})" if link.detail else "")
    line = Text(f"    {kind:<28} {link.outcome.value:<9} ")
    line.append(_user(link.nodeid))
    for words in link.evidence:
        line.append(f"\n        {printable(words)}", style="dim")
    return line


def _every_invariant(view: RunView, console: Console) -> None:
    console.print(Text("every invariant", style="bold"))
    for item in view.ordered:
        inv = item.invariant
        head = Text("  ")
        head.append(_status(item.status))
        head.append(printable(f" {inv.id} [{item.severity}, {inv.owner}] {inv.title}"))
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
        console.print(_attention_table(shown, console.width))
    if len(attention) > len(shown):
        more = len(attention) - len(shown)
        console.print(Text(f"... and {more} more: use -v, or the HTML report", style="dim"))
    for warning in view.warnings:
        console.print(_hanging(f"warning: {warning}", console.width, "", "yellow"))
    if verbosity >= 1:
        _every_invariant(view, console)
    if violations is not None:
        _gate(violations, console)

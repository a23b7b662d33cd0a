"""The Markdown report: compact, for pull-request comments and $GITHUB_STEP_SUMMARY.

GitHub keeps at most 1 MiB of step summary per step, so long lists are cut
with a count of what was left out, and the whole text stays under `MAX_BYTES`.
User strings are escaped: GitHub renders HTML and Markdown inside a comment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from pytest_invariants.gate import Violation
from pytest_invariants.model import SEVERITIES, RunResults
from pytest_invariants.reports import STATUS_MEANING, STATUSES
from pytest_invariants.reports.view import InvariantView, RunView
from pytest_invariants.text import words

__all__ = [
    "MAX_BYTES",
    "append_step_summary",
    "code",
    "escape",
    "mention",
    "owner_label",
    "render",
    "render_view",
]

# GitHub's limit is 1 MiB per step; keep room for what other steps append.
MAX_BYTES = 1024 * 1024 - 16 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

ICON = {
    "failing": "❌",
    "unverified": "⛔",
    "incidental": "⚠️",
    "claimed": "⚠️",
    "mock-only": "🎭",
    "verified": "✅",
    "proven": "🏅",
}

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~@&])")
_TICKS = re.compile(r"`+")


def _flat(text: object) -> str:
    """One line, no control character (they mean nothing in Markdown but can hide text)."""
    return words(_CONTROL.sub(" ", str(text)))


def escape(text: object) -> str:
    """Return `text` safe in a Markdown line or table cell: no markup, no HTML, no mention.

    Every report that writes Markdown (this one, `invariants diff`) uses it for user
    text, so a title cannot embed an image, a link, an @-mention or a table break.
    """
    return _SPECIAL.sub(r"\\\1", _flat(text))


def code(text: object, *, cell: bool = False) -> str:
    """Return `text` as an inline code span: shown as written, inert (no HTML, no mention).

    The fence is one backtick longer than any run inside the text, so a backtick
    cannot close the span early; in a table `cell`, `|` is escaped (GFM splits cells
    on it even inside code).
    """
    flat = _flat(text)
    if not flat:
        return ""
    if cell:
        flat = flat.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in _TICKS.findall(flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


_HANDLE = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:/[A-Za-z0-9][\w.-]*)?")


def mention(owner: str) -> str:
    """Return a code-host handle live (`@org/team`: the host notifies it), anything else escaped."""
    return owner if _HANDLE.fullmatch(owner) else escape(owner)


def owner_label(owner: str) -> str:
    """Return the owner shown, never notified: a handle in a code span, anything else escaped."""
    return code(owner) if _HANDLE.fullmatch(owner) else escape(owner) or "(no owner)"


def _cut(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _headline(violations: Sequence[Violation] | None) -> str:
    if violations is None:
        verdict = "no gate policy"
    elif violations:
        count = len({v.invariant_id for v in violations})
        verdict = f"❌ gate failed by {count} invariant(s)"
    else:
        verdict = "✅ gate passed"
    return f"## pytest-invariants: {verdict}"


def _overview(view: RunView) -> list[str]:
    counts, matrix = view.counts, view.matrix
    lines = [
        f"**{view.total} invariants**, {view.tests} tests.",
        "",
        "| status | total | " + " | ".join(SEVERITIES) + " | meaning |",
        "|---|---:|" + "---:|" * len(SEVERITIES) + "---|",
    ]
    for status in STATUSES:
        if counts[status]:
            cells = " | ".join(str(matrix[sev][status] or "") for sev in SEVERITIES)
            lines.append(
                f"| {ICON[status]} {status} | {counts[status]} | {cells} | "
                f"{STATUS_MEANING[status]} |"
            )
    if view.partial:
        lines += [
            "",
            "> **Partial run**: some claiming tests did not run (-k, a single file or "
            "a shard), so some statuses rest on less evidence than usual.",
        ]
    if not view.complete:
        lines += ["", "> **Interrupted run**: the results are incomplete."]
    return lines


def _by_owner(owners: Sequence[str]) -> list[str]:
    """Return the owners in the order of their first (worst) finding."""
    return list(dict.fromkeys(owners))


def _gate_lines(violations: Sequence[Violation]) -> list[str]:
    lines = ["", "### Gate failures, by owner", ""]
    for owner in _by_owner([v.owner for v in violations]):
        lines.append(f"- {owner_label(owner)}")
        lines += [
            f"  - **{escape(v.invariant_id)}** ({v.severity.value}) "
            f"is **{v.reason}**: {escape(_cut(v.title))}"
            for v in violations
            if v.owner == owner
        ]
    return lines


def _row(item: InvariantView) -> str:
    inv = item.invariant
    flag = f" ({', '.join(item.flags)})" if item.flags else ""
    return (
        f"| {ICON[item.status]} {item.status}{flag} | {escape(inv.id)} | "
        f"{item.severity} | {escape(_cut(inv.title))} | "
        f"{escape(_cut(item.reason, 240))} |"
    )


def _attention_head() -> list[str]:
    return ["", "### Needs attention, by owner (worst first)"]


def _attention_rows(attention: Sequence[InvariantView]) -> list[str]:
    """Return one table per owner, owners in the order of their worst finding."""
    rows: list[str] = []
    for owner in _by_owner([item.invariant.owner for item in attention]):
        mine = [item for item in attention if item.invariant.owner == owner]
        rows += ["", f"#### {owner_label(owner)} ({len(mine)})", ""]
        rows += ["| status | id | severity | title | why |", "|---|---|---|---|---|"]
        rows += [_row(item) for item in mine]
    return rows


def _is_item(line: str) -> bool:
    """Return True for a finding's line: a table row or a gate failure, not an owner's heading."""
    return line.startswith(("| ", "  - ")) and not line.startswith("| status |")


def _fit(head: list[str], rows: list[str], budget: int, what: str) -> list[str]:
    """Return head + as many rows as fit in `budget` bytes, then a count of the findings left."""
    out, used = list(head), sum(len(line.encode()) + 1 for line in head)
    for index, row in enumerate(rows):
        size = len(row.encode()) + 1
        if used + size > budget:
            out.append(
                f"\n*… and {sum(map(_is_item, rows[index:]))} more {what} not shown "
                "(see the HTML or JSON report).*"
            )
            break
        out.append(row)
        used += size
    return out


def render(results: RunResults, violations: Sequence[Violation] | None) -> str:
    """Return the Markdown report, at most MAX_BYTES long."""
    return render_view(RunView.of(results, violations))


def render_view(view: RunView) -> str:
    """Return the Markdown report of a run's view, at most MAX_BYTES long."""
    violations = view.violations
    lines = [_headline(violations), "", *_overview(view)]
    tail = ["", "<sub>pytest-invariants " + escape(view.results.info.tool_version) + "</sub>"]
    budget = MAX_BYTES - sum(len(line.encode()) + 1 for line in lines + tail) - 512
    if violations:
        gate = _gate_lines(violations)
        lines += _fit(gate[:3], gate[3:], budget // 2, "gate failures")
    budget = MAX_BYTES - sum(len(line.encode()) + 1 for line in lines + tail) - 512
    attention = view.attention
    if attention:
        lines += _fit(_attention_head(), _attention_rows(attention), budget, "invariants")
    return "\n".join(lines + tail) + "\n"


def append_step_summary(text: str) -> None:
    """Append `text` to the file named by GITHUB_STEP_SUMMARY; do nothing when it is unset."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(text if text.endswith("\n") else text + "\n")

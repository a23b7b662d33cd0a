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
from pytest_invariants.model import SEVERITIES, InvariantResult, RunResults
from pytest_invariants.reports import (
    STATUS_MEANING,
    STATUSES,
    by_severity,
    by_status,
    flags,
    needs_attention,
    reason,
)

__all__ = ["MAX_BYTES", "append_step_summary", "escape", "render"]

# GitHub's limit is 1 MiB per step; keep room for what other steps append.
MAX_BYTES = 1024 * 1024 - 16 * 1024

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


def escape(text: str) -> str:
    """Return `text` safe inside a Markdown table cell: one line, no markup, no HTML."""
    flat = " ".join(text.split())
    return _SPECIAL.sub(r"\\\1", flat)


def _cut(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _headline(results: RunResults, violations: Sequence[Violation] | None) -> str:
    if violations is None:
        verdict = "no gate policy"
    elif violations:
        count = len({v.invariant_id for v in violations})
        verdict = f"❌ gate failed by {count} invariant(s)"
    else:
        verdict = "✅ gate passed"
    return f"## pytest-invariants: {verdict}"


def _overview(results: RunResults) -> list[str]:
    counts = by_status(results.invariants)
    matrix = by_severity(results.invariants)
    lines = [
        f"**{len(results.invariants)} invariants**, {len(results.tests)} tests.",
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
    if results.info.partial:
        lines += [
            "",
            "> **Partial run**: some claiming tests did not run (-k, a single file or "
            "a shard), so some statuses rest on less evidence than usual.",
        ]
    if not results.info.complete:
        lines += ["", "> **Interrupted run**: the results are incomplete."]
    return lines


def _gate_lines(violations: Sequence[Violation]) -> list[str]:
    lines = ["", "### Gate failures", ""]
    for v in violations:
        lines.append(
            f"- **{escape(v.invariant_id)}** ({v.severity.value}, owner {escape(v.owner)}) "
            f"is **{v.reason}**: {escape(_cut(v.title))}"
        )
    return lines


def _row(res: InvariantResult) -> str:
    inv = res.invariant
    flag = f" ({', '.join(flags(res))})" if flags(res) else ""
    return (
        f"| {ICON[res.status.value]} {res.status.value}{flag} | {escape(inv.id)} | "
        f"{inv.severity.value} | {escape(inv.owner)} | {escape(_cut(inv.title))} | "
        f"{escape(_cut(reason(res), 240))} |"
    )


def _attention_head() -> list[str]:
    return [
        "",
        "### Needs attention (worst first)",
        "",
        "| status | id | severity | owner | title | why |",
        "|---|---|---|---|---|---|",
    ]


def _fit(head: list[str], rows: list[str], budget: int, what: str) -> list[str]:
    """Return head + as many rows as fit in `budget` bytes, then a count of the rest."""
    out, used = list(head), sum(len(line.encode()) + 1 for line in head)
    for index, row in enumerate(rows):
        size = len(row.encode()) + 1
        if used + size > budget:
            out.append(
                f"\n*… and {len(rows) - index} more {what} not shown "
                "(see the HTML or JSON report).*"
            )
            break
        out.append(row)
        used += size
    return out


def render(results: RunResults, violations: Sequence[Violation] | None) -> str:
    """Return the Markdown report, at most MAX_BYTES long."""
    lines = [_headline(results, violations), "", *_overview(results)]
    tail = ["", "<sub>pytest-invariants " + escape(results.info.tool_version) + "</sub>"]
    budget = MAX_BYTES - sum(len(line.encode()) + 1 for line in lines + tail) - 512
    if violations:
        gate = _gate_lines(violations)
        lines += _fit(gate[:3], gate[3:], budget // 2, "gate failures")
    budget = MAX_BYTES - sum(len(line.encode()) + 1 for line in lines + tail) - 512
    attention = needs_attention(results)
    if attention:
        lines += _fit(_attention_head(), [_row(res) for res in attention], budget, "invariants")
    return "\n".join(lines + tail) + "\n"


def append_step_summary(text: str) -> None:
    """Append `text` to the file named by GITHUB_STEP_SUMMARY; do nothing when it is unset."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(text if text.endswith("\n") else text + "\n")

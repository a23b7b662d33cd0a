"""`invariants diff` rendered: Markdown for a PR comment, JSON, GitHub annotations."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pytest_invariants.model import Location
from pytest_invariants.reports.markdown import code, mention
from pytest_invariants.reports.markdown import escape as _md
from pytest_invariants.review.compare import (
    Change,
    DiffReport,
    Effect,
    FieldChange,
    Impact,
    severity_rank,
)

__all__ = ["impact_summary", "render_github", "render_json", "render_markdown"]

# Version history of the JSON output:
# 1: first version (changes, gate changes, impacted invariants, suspects, summary).
JSON_SCHEMA: Final = "pytest-invariants/diff/1"


def impact_summary(report: DiffReport) -> str:
    """Return the one-sentence summary of the code impact."""
    count = len(report.impacts)
    noun = "invariant guards" if count == 1 else "invariants guard"
    sentence = f"{count} {noun} code this PR changes"
    if report.has_results:
        sentence += f"; {len(report.unverified_impacts)} of them are not verified"
    return sentence + "."


def _cell(text: object) -> str:
    """User text as inline code inside a table cell (the Markdown report's own escaping)."""
    return code(text, cell=True)


def _md_value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{_md(k)}: {_md(v)}" for k, v in value.items())
    return _md(value)


_BADGE: Final = {
    Effect.WEAKENED: "⚠️ weakened",
    Effect.STRENGTHENED: "✅ strengthened",
    Effect.NEUTRAL: "neutral",
}


def _md_headline(report: DiffReport) -> list[str]:
    counts = [f"{len(report.of_kind(k))} {k}" for k in ("added", "removed", "renamed", "changed")]
    lines = [
        f"## Invariants: {code(report.base)} → {code(report.head)}",
        "",
        f"{', '.join(counts)}; **{len(report.weakened)} weakened**. {impact_summary(report)}",
    ]
    if report.base_problems:
        lines += [
            "",
            f"> **Note:** the invariants at {code(report.base)} are invalid "
            f"({len(report.base_problems)} problem(s)); they were compared as far as they "
            "could be read.",
        ]
    return lines


def _md_change(change: Change, suspects: set[str]) -> list[str]:
    name = code(change.id)
    if change.old_id:
        name = f"{code(change.old_id)} → {name}"
    flag = " — 🔎 suspect (needs review)" if change.id in suspects else ""
    head = (
        f"#### {name} ({_md(change.severity)}) {_md(change.title)} — {_BADGE[change.effect]}{flag}"
    )
    if not change.fields:
        return [head, ""]
    rows = ["| field | before | after | effect |", "|---|---|---|---|"]
    rows += [
        f"| {f.field} | {_md_value(f.old)} | {_md_value(f.new)} | "
        f"{_BADGE[f.effect]}: {_md(f.reason)} |"
        for f in change.fields
    ]
    return [head, "", *rows, ""]


def _md_list(title: str, changes: Sequence[Change], where: str) -> list[str]:
    if not changes:
        return []
    items = [
        f"- {code(c.id)} ({_md(c.severity)}) {_md(c.title)} — {where} {code(c.location)}"
        for c in changes
    ]
    return [f"### {title}", "", *items, ""]


def _md_impacts(report: DiffReport, suspects: set[str]) -> list[str]:
    if not report.impacts:
        return []
    rows = [
        "### Code changes guarded by invariants",
        "",
        "| invariant | severity | status | changed scope | tests |",
        "|---|---|---|---|---|",
    ]
    for imp in sorted(report.impacts, key=_impact_order):
        scope = "<br>".join(
            f"{_cell(e.entry)} ({e.how}, {_md(e.file)}:{_lines(e.lines)})" for e in imp.entries
        )
        tests = "<br>".join(f"{_cell(n)} {link}, {outcome}" for n, link, outcome in imp.tests)
        status = imp.status or ("not in results" if report.has_results else "—")
        flag = " 🔎" if imp.id in suspects else ""
        rows.append(
            f"| {_cell(imp.id)}{flag} {_md(imp.title)} | {imp.severity} | {status} | "
            f"{scope} | {tests or '—'} |"
        )
    return [*rows, ""]


def _owner_items(report: DiffReport) -> dict[str, list[str]]:
    """Group, per owner, what happened to their invariants: removed, weakened, code changed."""
    items: dict[str, list[str]] = {}
    for change in report.changes:
        if change.kind == "removed":
            items.setdefault(change.owner, []).append(f"{code(change.id)} removed")
        elif change.effect == Effect.WEAKENED:
            items.setdefault(change.owner, []).append(f"{code(change.id)} weakened")
    for imp in sorted(report.impacts, key=_impact_order):
        status = f" ({_md(imp.status)})" if imp.status else ""
        items.setdefault(imp.owner, []).append(f"{code(imp.id)} code changed{status}")
    return items


def _md_owners(report: DiffReport) -> list[str]:
    """Name the owners of every invariant removed, weakened or whose code changed.

    A code-host handle is written live (`@org/team`), so the host notifies its
    owners; any other owner is escaped, so it can neither mention nor format.
    """
    items = _owner_items(report)
    if not items:
        return []
    lines = ["### Owners to notify", ""]
    for owner in sorted(items, key=lambda o: (mention(o) != o, o.casefold())):
        who = mention(owner) if owner else "(no owner)"
        lines.append(f"- {who}: {', '.join(items[owner])}")
    return [*lines, ""]


def _lines(lines: Sequence[int]) -> str:
    return ",".join(str(n) for n in lines[:8]) + ("…" if len(lines) > 8 else "")


def _impact_order(imp: Impact) -> tuple[bool, int, str]:
    return (imp.verified, severity_rank(imp.severity), imp.id)


def render_markdown(report: DiffReport) -> str:
    """Return the diff as Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY`."""
    suspects = set(report.suspects)
    lines = _md_headline(report) + [""]
    lines += _md_list("Removed", report.of_kind("removed"), "was at")
    changed = sorted(
        (c for c in report.changes if c.kind in ("changed", "renamed")),
        key=lambda c: (Effect.ORDER.index(c.effect), severity_rank(c.severity)),
    )
    if changed:
        lines += ["### Changed", "", *[ln for c in changed for ln in _md_change(c, suspects)]]
    if report.gate_changes:
        lines += [
            "### Gate policy",
            "",
            *[f"- {_BADGE[g.effect]}: {_md(g.reason)}" for g in report.gate_changes],
            "",
        ]
    lines += _md_list("Added", report.of_kind("added"), "at")
    lines += _md_impacts(report, suspects)
    lines += _md_owners(report)
    if report.suspects:
        lines += [
            "### Suspect (meaning or scope code changed since `invariants review`)",
            "",
            *[f"- {code(s)}" for s in report.suspects],
            "",
        ]
    if not (report.changes or report.gate_changes or report.impacts or report.suspects):
        lines += ["No invariant changed, and no guarded code changed.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _json_field(f: FieldChange) -> dict[str, Any]:
    return {"field": f.field, "old": f.old, "new": f.new, "effect": f.effect, "reason": f.reason}


def _json_change(change: Change, suspects: set[str]) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "id": change.id,
        "old_id": change.old_id,
        "title": change.title,
        "severity": change.severity,
        "effect": change.effect,
        "file": change.location.path,
        "line": change.location.line,
        "suspect": change.id in suspects,
        "owner": change.owner,
        "fields": [_json_field(f) for f in change.fields],
    }


def _json_impact(imp: Impact) -> dict[str, Any]:
    return {
        "id": imp.id,
        "title": imp.title,
        "severity": imp.severity,
        "status": imp.status,
        "owner": imp.owner,
        "verified": imp.verified,
        "entries": [
            {"entry": e.entry, "file": e.file, "lines": list(e.lines), "how": e.how}
            for e in imp.entries
        ],
        "tests": [{"nodeid": n, "link": k, "outcome": o} for n, k, o in imp.tests],
    }


def render_json(report: DiffReport, failed: Sequence[str] = ()) -> str:
    """Return the diff as versioned JSON."""
    suspects = set(report.suspects)
    data = {
        "schema": JSON_SCHEMA,
        "base": report.base,
        "head": report.head,
        "summary": {
            **{
                kind: len(report.of_kind(kind))
                for kind in ("added", "removed", "renamed", "changed")
            },
            "weakened": len(report.weakened),
            "impacted": len(report.impacts),
            "impacted_unverified": len(report.unverified_impacts) if report.has_results else None,
            "suspect": len(report.suspects),
            "sentence": impact_summary(report),
        },
        "base_valid": not report.base_problems,
        "base_problems": [p.render() for p in report.base_problems],
        "changes": [_json_change(c, suspects) for c in report.changes],
        "gate_changes": [_json_field(g) for g in report.gate_changes],
        "impacts": [_json_impact(i) for i in report.impacts],
        "suspects": list(report.suspects),
        "failed": list(failed),
    }
    return json.dumps(data, indent=1) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(level: str, path: str, line: int, title: str, message: str) -> str:
    props = [f"file={_escape_property(path)}"] if path else []
    props += [f"line={line}"] if line else []
    props.append(f"title={_escape_property(title)}")
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


@dataclass(frozen=True)
class _Note:
    level: str  # error | warning | notice
    severity: str
    path: str
    line: int
    title: str
    message: str

    def order(self) -> tuple[int, int]:
        return (("error", "warning", "notice").index(self.level), severity_rank(self.severity))


def _change_note(change: Change, fail_on: set[str], repo_path: Callable[[str], str]) -> _Note:
    path, line = repo_path(change.location.path), change.location.line
    if change.kind == "removed":
        level = "error" if "removed" in fail_on else "warning"
        return _Note(
            level,
            change.severity,
            path,
            line,
            f"Invariant {change.id} removed",
            f"{change.id} ({change.severity}) was removed: {change.title}",
        )
    reasons = "; ".join(f.reason for f in change.fields) or change.kind
    if change.effect == Effect.WEAKENED:
        level = "error" if "weakened" in fail_on else "warning"
        return _Note(level, change.severity, path, line, f"Invariant {change.id} weakened", reasons)
    title = f"Invariant {change.id} {change.kind}"
    return _Note("notice", change.severity, path, line, title, reasons or change.title)


def _impact_note(
    imp: Impact, fail_on: set[str], has_results: bool, repo_path: Callable[[str], str]
) -> _Note:
    first = imp.entries[0]
    bad = has_results and not imp.verified
    level = "error" if bad and "impacted-unverified" in fail_on else "warning" if bad else "notice"
    status = f" It is {imp.status or 'not in the results'}." if has_results else ""
    scopes = ", ".join(e.entry for e in imp.entries)
    return _Note(
        level,
        imp.severity,
        repo_path(first.file),
        first.lines[0] if first.lines else 0,
        f"Guarded by {imp.id}",
        f"This change touches code guarded by {imp.id} ({imp.severity}): "
        f"{imp.title} [{scopes}].{status}",
    )


def render_github(report: DiffReport, fail_on: Iterable[str] = ()) -> str:
    """Return GitHub workflow annotations, worst first (GitHub shows only the first ten errors)."""
    wanted = set(fail_on)

    def repo_path(path: str) -> str:
        return f"{report.prefix}{path}" if path and not Path(path).is_absolute() else path

    notes = [_change_note(c, wanted, repo_path) for c in report.changes]
    notes += [
        _Note(
            "error"
            if "weakened" in wanted and g.effect == Effect.WEAKENED
            else "warning"
            if g.effect == Effect.WEAKENED
            else "notice",
            "critical",
            "",
            0,
            "Gate policy changed",
            g.reason,
        )
        for g in report.gate_changes
    ]
    notes += [_impact_note(i, wanted, report.has_results, repo_path) for i in report.impacts]
    for iid in report.suspects:
        loc = report.locations.get(iid, Location(""))
        level = "error" if "suspect" in wanted else "warning"
        notes.append(
            _Note(
                level,
                "medium",
                repo_path(loc.path),
                loc.line,
                f"Invariant {iid} is suspect",
                f"{iid}: its meaning or scope code changed since `invariants review`;"
                f" review it and run `invariants review {iid}`",
            )
        )
    notes.sort(key=_Note.order)
    return "".join(_annotation(n.level, n.path, n.line, n.title, n.message) + "\n" for n in notes)

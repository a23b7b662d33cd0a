"""`invariants why` rendered: plain text for a terminal, versioned JSON for tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from pytest_invariants.why import Guard, Reach, WhyAnswer

__all__ = ["JSON_SCHEMA", "render_json", "render_text"]

# Version history of the JSON output:
# 1: first version (target, guards with real / under doubles / missed tests, executed_by).
JSON_SCHEMA: Final = "pytest-invariants/why/1"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _unguarded(answer: WhyAnswer) -> str:
    ran = _plural(len(answer.executed_by), "test")
    line = f"no invariant guards {answer.target}; last run: executed by {ran}, claimed by none"
    if not answer.observed:
        line += " (the run records only the files some invariant's code: names)"
    return line


def _reach_line(reach: Reach) -> str:
    notes = [] if reach.claims else ["does not claim it"]
    if reach.outcome != "passed":
        notes.append(reach.outcome)
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"{reach.nodeid}{suffix}"


def _tests(title: str, reaches: Sequence[Reach], doubles: bool = False) -> list[str]:
    if not reaches:
        return [f"  {title}: none"]
    lines = [f"  {title}:"]
    for reach in reaches:
        lines.append(f"    {_reach_line(reach)}")
        if doubles:
            lines += [f"      - {words}" for words in reach.doubles]
    return lines


def _entry(guard: Guard) -> str:
    parts = []
    for entry in guard.entries:
        span = f"lines {entry.lines[0]}-{entry.lines[1]}" if entry.lines else "whole file"
        parts.append(f"{entry.raw} ({entry.file}, {span})")
    return "; ".join(parts)


def _guard_lines(guard: Guard) -> list[str]:
    inv = guard.result.invariant
    lines = [
        "",
        f"{inv.id} [{inv.severity.value}] {guard.result.status.value}: {inv.title}",
        f"  owner: {inv.owner}",
        f"  why: {' '.join(inv.why.split())}",
    ]
    lines += [f"  {name}: {target}" for name, target in inv.links.items()]
    lines.append(f"  scope: {_entry(guard)}")
    lines += _tests("ran it for real", guard.real)
    lines += _tests("ran it only under test doubles", guard.under_doubles, doubles=True)
    lines += _tests("claims that never reached it", guard.missed)
    return lines


def render_text(answer: WhyAnswer, notes: Sequence[str] = ()) -> str:
    """Return the answer for a terminal; `notes` are caveats printed first."""
    lines = [f"note: {note}" for note in notes]
    if not answer.guards:
        return "\n".join([*lines, _unguarded(answer)]) + "\n"
    count = _plural(len(answer.guards), "invariant")
    ran = _plural(len(answer.executed_by), "test")
    lines.append(f"{answer.target} is guarded by {count}; last run: executed by {ran}")
    for guard in answer.guards:
        lines += _guard_lines(guard)
    return "\n".join(lines) + "\n"


def _reach_json(reach: Reach) -> dict[str, Any]:
    return {
        "nodeid": reach.nodeid,
        "outcome": reach.outcome,
        "claims": reach.claims,
        "doubles": list(reach.doubles),
    }


def _guard_json(guard: Guard) -> dict[str, Any]:
    inv = guard.result.invariant
    return {
        "id": inv.id,
        "status": guard.result.status.value,
        "severity": inv.severity.value,
        "owner": inv.owner,
        "title": inv.title,
        "why": inv.why,
        "links": dict(inv.links),
        "entries": [
            {"entry": e.raw, "file": e.file, "lines": list(e.lines) if e.lines else None}
            for e in guard.entries
        ],
        "real": [_reach_json(r) for r in guard.real],
        "under_doubles": [_reach_json(r) for r in guard.under_doubles],
        "missed": [_reach_json(r) for r in guard.missed],
    }


def render_json(answer: WhyAnswer, notes: Sequence[str] = ()) -> str:
    """Return the answer as versioned JSON."""
    target = answer.target
    data = {
        "schema": JSON_SCHEMA,
        "target": {
            "text": target.text or str(target),
            "file": target.file,
            "lines": list(target.lines) if target.lines else None,
        },
        "guarded": bool(answer.guards),
        "guards": [_guard_json(g) for g in answer.guards],
        "executed_by": list(answer.executed_by),
        "observed": answer.observed,
        "notes": list(notes),
    }
    return json.dumps(data, indent=1) + "\n"

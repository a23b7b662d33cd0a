"""The SARIF 2.1.0 report, for GitHub code scanning and other SARIF readers.

One result per invariant that breaks the gate (or, with no policy, per
invariant that is not verified/proven), located at the invariant's line in its
invariants file. Rule ids (`invariant/<status or flag>`) and locations are
stable across runs so code scanning can track an alert from run to run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from pytest_invariants import __version__
from pytest_invariants.gate import Violation
from pytest_invariants.model import InvariantResult, Lifecycle, RunResults
from pytest_invariants.reports import (
    STATUS_MEANING,
    flag_words,
    is_good,
    reason,
    violations_by_id,
    worst_first,
)

__all__ = ["RULE_IDS", "SARIF_SCHEMA", "dumps", "render", "rule_id"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/pytest-invariants/"

# Reasons an invariant can be reported for: the statuses that are not good, and the
# flags a gate policy may name. The order is the rule index: never reorder, only append.
REASONS = ("failing", "unverified", "incidental", "claimed", "mock-only", "partial", "suspect")
RULE_IDS = tuple(f"invariant/{r}" for r in REASONS)

_FIX = {
    "failing": "Make the failing claiming test pass, or fix the code it caught.",
    "unverified": "Write a test that runs the invariant's code for real and mark it "
    '`@pytest.mark.invariant("ID")`.',
    "incidental": "Mark one of the tests that already run the code with "
    '`@pytest.mark.invariant("ID")` (see the suggested tests).',
    "claimed": "Make the claiming tests call the invariant's code, or fix its `code:` scope.",
    "mock-only": "Add a test that runs the invariant's code without doubling it or what it "
    "must_be_real; or list a harmless double under `allow_doubles`.",
    "partial": "Run the whole suite: the claiming tests named in the message did not run.",
    "suspect": "Review the invariant against its changed code, then run `invariants review ID`.",
}


def rule_id(reason_name: str) -> str:
    """Return the stable rule id for a status or flag name."""
    return f"invariant/{reason_name}"


def _rule(name: str) -> dict[str, Any]:
    meaning = STATUS_MEANING[name]
    return {
        "id": rule_id(name),
        "name": "Invariant" + "".join(part.title() for part in name.split("-")),
        "shortDescription": {"text": f"Invariant is {name}"},
        "fullDescription": {"text": f"An invariant is {name} when {meaning}."},
        "help": {"text": _FIX[name], "markdown": _FIX[name]},
        "defaultConfiguration": {"level": "error" if name == "failing" else "warning"},
    }


def _level(res: InvariantResult) -> str:
    if res.invariant.lifecycle is Lifecycle.DEPRECATED:
        return "note"
    return "error" if res.invariant.severity.value in ("critical", "high") else "warning"


def _message(res: InvariantResult, reasons: Sequence[str]) -> str:
    inv = res.invariant
    lines = [
        f"{inv.id} ({inv.severity.value}, owner {inv.owner}) is {' and '.join(reasons)}: "
        f"{inv.title}",
        f"Evidence: {reason(res)}.",
        *flag_words(res),
        f"Why it matters: {inv.why}",
    ]
    return "\n".join(line for line in lines if line)


def _location(res: InvariantResult, fallback: str) -> list[dict[str, Any]]:
    path = res.invariant.location.path or fallback
    if not path:
        return []
    region = {"startLine": max(res.invariant.location.line, 1)}
    uri = quote(path.replace("\\", "/"), safe="/")
    return [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}]


def _result(res: InvariantResult, reasons: Sequence[str], fallback: str) -> dict[str, Any]:
    inv = res.invariant
    primary = reasons[0]
    return {
        "ruleId": rule_id(primary),
        "ruleIndex": REASONS.index(primary),
        "level": _level(res),
        "message": {"text": _message(res, reasons)},
        "locations": _location(res, fallback),
        "partialFingerprints": {"invariantId/v1": inv.id},
        "properties": {
            "invariant": inv.id,
            "status": res.status.value,
            "severity": inv.severity.value,
            "owner": inv.owner,
            "scopeCoverage": res.scope_coverage,
            "tags": list(inv.tags),
        },
    }


def _reported(
    results: RunResults, violations: Sequence[Violation] | None
) -> list[tuple[InvariantResult, list[str]]]:
    """Return the invariants to report, each with its reasons, worst first."""
    if violations is None:
        bad = [res for res in worst_first(results.invariants) if not is_good(res)]
        return [(res, [res.status.value]) for res in bad]
    by_id = {res.invariant.id: res for res in results.invariants}
    grouped = violations_by_id(violations)
    return [
        (by_id[iid], [v.reason for v in found]) for iid, found in grouped.items() if iid in by_id
    ]


def render(results: RunResults, violations: Sequence[Violation] | None) -> dict[str, Any]:
    """Return the SARIF 2.1.0 log as a JSON-ready dict."""
    fallback = results.invariant_set.files[0] if results.invariant_set.files else ""
    driver = {
        "name": "pytest-invariants",
        "version": results.info.tool_version or __version__,
        "informationUri": INFORMATION_URI,
        "rules": [_rule(name) for name in REASONS],
    }
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "results": [
            _result(res, reasons, fallback) for res, reasons in _reported(results, violations)
        ],
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def dumps(results: RunResults, violations: Sequence[Violation] | None) -> str:
    """Return the SARIF log as JSON text, ready to write to a `.sarif` file."""
    return json.dumps(render(results, violations), indent=2, ensure_ascii=False) + "\n"

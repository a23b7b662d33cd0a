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
from pytest_invariants.gate import GATE_STATUSES, Violation
from pytest_invariants.model import Lifecycle, RunResults
from pytest_invariants.reports import STATUS_MEANING
from pytest_invariants.reports.view import InvariantView, RunView

__all__ = ["RULE_IDS", "SARIF_SCHEMA", "dumps", "render", "render_view", "rule_id"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/pytest-invariants/"

# Reasons an invariant can be reported for: every status and flag a gate policy may
# name (a policy may even fail on `verified`). The order is the rule index: never
# reorder, only append; whatever the gate learns to name later is appended here too.
_FIRST = ("failing", "unverified", "incidental", "claimed", "mock-only", "partial", "suspect")
REASONS = _FIRST + tuple(name for name in GATE_STATUSES if name not in _FIRST)
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
_POLICY_FIX = "The gate policy fails on this status: change the policy if that is not meant."


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
        "help": {"text": _FIX.get(name, _POLICY_FIX), "markdown": _FIX.get(name, _POLICY_FIX)},
        "defaultConfiguration": {"level": "error" if name == "failing" else "warning"},
    }


def _level(item: InvariantView) -> str:
    if item.invariant.lifecycle is Lifecycle.DEPRECATED:
        return "note"
    return "error" if item.severity in ("critical", "high") else "warning"


def _message(item: InvariantView, reasons: Sequence[str]) -> str:
    inv = item.invariant
    lines = [
        f"{inv.id} ({item.severity}, owner {inv.owner}) is {' and '.join(reasons)}: {inv.title}",
        f"Evidence: {item.reason}.",
        *item.flag_words,
        f"Why it matters: {inv.why}",
    ]
    return "\n".join(line for line in lines if line)


def _location(item: InvariantView, fallback: str) -> list[dict[str, Any]]:
    path = item.invariant.location.path or fallback
    if not path:
        return []
    region = {"startLine": max(item.invariant.location.line, 1)}
    uri = quote(path.replace("\\", "/"), safe="/")
    return [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}]


def _result(item: InvariantView, reasons: Sequence[str], fallback: str) -> dict[str, Any]:
    inv = item.invariant
    primary = reasons[0]
    return {
        "ruleId": rule_id(primary),
        "ruleIndex": REASONS.index(primary),
        "level": _level(item),
        "message": {"text": _message(item, reasons)},
        "locations": _location(item, fallback),
        "partialFingerprints": {"invariantId/v1": inv.id},
        "properties": {
            "invariant": inv.id,
            "status": item.status,
            "severity": item.severity,
            "owner": inv.owner,
            "scopeCoverage": item.result.scope_coverage,
            "tags": list(inv.tags),
        },
    }


def _reported(view: RunView) -> list[tuple[InvariantView, list[str]]]:
    """Return the invariants to report, each with its reasons, worst first."""
    if not view.gated:
        return [(item, [item.status]) for item in view.ordered if not item.good]
    found = [(view.get(iid), found) for iid, found in view.gate.items()]
    return [(item, [v.reason for v in vs]) for item, vs in found if item is not None]


def render(results: RunResults, violations: Sequence[Violation] | None) -> dict[str, Any]:
    """Return the SARIF 2.1.0 log as a JSON-ready dict."""
    return render_view(RunView.of(results, violations))


def render_view(view: RunView) -> dict[str, Any]:
    """Return the SARIF 2.1.0 log of a run's view as a JSON-ready dict."""
    results = view.results
    fallback = results.invariant_set.files[0] if results.invariant_set.files else ""
    driver = {
        "name": "pytest-invariants",
        "version": results.info.tool_version or __version__,
        "informationUri": INFORMATION_URI,
        "rules": [_rule(name) for name in REASONS],
    }
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "results": [_result(item, reasons, fallback) for item, reasons in _reported(view)],
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def dumps(results: RunResults, violations: Sequence[Violation] | None) -> str:
    """Return the SARIF log as JSON text, ready to write to a `.sarif` file."""
    return json.dumps(render(results, violations), indent=2, ensure_ascii=False) + "\n"

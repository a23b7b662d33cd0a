"""The CI gate (docs/gate.md): a pure function from results and a policy to violations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_invariants.model import (
    SEVERITIES,
    GatePolicy,
    InvariantResult,
    Lifecycle,
    Severity,
    Status,
)

__all__ = [
    "GATE_STATUSES",
    "PolicyError",
    "Violation",
    "evaluate",
    "merge_policies",
    "not_judged",
    "parse_policy",
]

# pytest uses exit codes 0-6 (6: --max-warnings); a failed gate is 7, so CI can
# tell "the tests failed" (1) from "the tests passed but the gate did not" (7).

# Beyond the statuses, a policy may name two flags an invariant can carry.
FLAGS = ("partial", "suspect")
GATE_STATUSES = tuple(s.value for s in Status) + FLAGS


class PolicyError(ValueError):
    """A gate policy that cannot be understood; the message says how to write it."""


@dataclass(frozen=True)
class Violation:
    invariant_id: str
    severity: Severity
    reason: str  # the status or flag that broke the gate
    owner: str
    title: str

    def render(self) -> str:
        return (
            f"{self.invariant_id} ({self.severity.value}, owner {self.owner}) is {self.reason}: "
            f"{self.title}"
        )


_EXAMPLE = "critical:mock-only,unverified;high:unverified"


def parse_policy(text: str) -> GatePolicy:
    """Parse `critical:mock-only,unverified;high:unverified` into a GatePolicy."""
    fail_on: dict[str, frozenset[str]] = {}
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not parts:
        # An empty CI variable must not switch the gate off without a word.
        raise PolicyError(
            f"gate policy {text!r} is empty -- name what fails the run (example: {_EXAMPLE}), "
            "or leave the option out to use the file's gate: section"
        )
    for part in parts:
        severity, sep, statuses = part.partition(":")
        severity = severity.strip()
        if not sep or severity not in SEVERITIES:
            raise PolicyError(
                f"gate policy {text!r}: {part!r} must read SEVERITY:STATUS,... with SEVERITY one "
                f"of {', '.join(SEVERITIES)} (example: {_EXAMPLE})"
            )
        names = {s.strip() for s in statuses.split(",") if s.strip()}
        if not names:
            raise PolicyError(
                f"gate policy {text!r}: {severity!r} names no status -- list the statuses "
                f"that fail the run, e.g. {severity}:unverified (example: {_EXAMPLE})"
            )
        unknown = sorted(names - set(GATE_STATUSES))
        if unknown:
            raise PolicyError(
                f"gate policy {text!r}: unknown status {', '.join(unknown)}; "
                f"use any of {', '.join(GATE_STATUSES)}"
            )
        fail_on[severity] = fail_on.get(severity, frozenset()) | names
    return GatePolicy(fail_on)


def merge_policies(base: GatePolicy, override: GatePolicy | None) -> GatePolicy:
    """Return `base` with the severities named in `override` replaced."""
    if override is None:
        return base
    return GatePolicy({**base.fail_on, **override.fail_on})


# What a partial invariant is still gated for (SPEC section 5): a claiming test
# that ran and failed is real news, and the flag itself when the policy names it.
_JUDGED_WHEN_PARTIAL = frozenset({"failing", "partial"})


def _reasons(res: InvariantResult, statuses: frozenset[str]) -> list[str]:
    found: list[str] = [res.status.value] if res.status.value in statuses else []
    found += [flag for flag in FLAGS if flag in statuses and getattr(res, flag)]
    if res.partial:
        found = [reason for reason in found if reason in _JUDGED_WHEN_PARTIAL]
    return found


def not_judged(results: Sequence[InvariantResult], policy: GatePolicy) -> list[str]:
    """Return the ids of partial invariants whose status the policy would have gated."""
    found = []
    for res in results:
        if not res.partial or res.invariant.lifecycle is Lifecycle.DEPRECATED:
            continue
        statuses = policy.fail_on.get(res.invariant.severity.value, frozenset())
        if res.status.value in statuses and res.status.value not in _JUDGED_WHEN_PARTIAL:
            found.append(res.invariant.id)
    return found


def evaluate(results: Sequence[InvariantResult], policy: GatePolicy) -> list[Violation]:
    """Return every violation, most severe invariant and worst status first."""
    found = []
    for res in results:
        inv = res.invariant
        if inv.lifecycle is Lifecycle.DEPRECATED:
            continue  # deprecated invariants are reported, never gated
        statuses = policy.fail_on.get(inv.severity.value, frozenset())
        for reason in _reasons(res, statuses):
            found.append(Violation(inv.id, inv.severity, reason, inv.owner, inv.title))
    found.sort(key=lambda v: (v.severity.rank, _reason_rank(v.reason), v.invariant_id))
    return found


def _reason_rank(reason: str) -> int:
    statuses = [s.value for s in Status]
    return statuses.index(reason) if reason in statuses else len(statuses)

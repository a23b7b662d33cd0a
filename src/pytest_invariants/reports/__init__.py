"""Reports: one module per format, all reading the same RunResults and never measuring.

Every reporter takes the results of a run and the gate's violations (a list, or
None when no policy applies) and renders them; nothing here decides a status.
This module holds the few words and orderings that every format shares, so the
terminal, Markdown, SARIF and HTML reports say the same thing the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from pytest_invariants.gate import Violation
from pytest_invariants.model import (
    SEVERITIES,
    InvariantResult,
    Lifecycle,
    Link,
    LinkKind,
    Outcome,
    RunResults,
    Status,
)

__all__ = [
    "GOOD",
    "STATUS_MEANING",
    "STATUSES",
    "by_severity",
    "by_status",
    "flag_words",
    "flags",
    "is_good",
    "needs_attention",
    "reason",
    "violations_by_id",
    "worst_first",
]

GOOD = frozenset({Status.VERIFIED, Status.PROVEN})
STATUSES = tuple(s.value for s in Status)  # worst first

# One sentence per status, for readers who have not read the spec.
STATUS_MEANING: dict[str, str] = {
    "failing": "a test that claims it failed or errored",
    "unverified": "no test claims it and no test ran its code",
    "incidental": "no test claims it, but passing tests ran its code",
    "claimed": "tests claim it, but none of them ran its code",
    "mock-only": "every passing test that claims it ran against test doubles",
    "verified": "at least one passing test ran its real code",
    "proven": "verified, and every mutant of its code was killed by its tests",
    "partial": "some tests that claim it did not run in this run",
    "suspect": "its meaning or its code changed since it was last reviewed",
}

_BROKEN = frozenset({Outcome.FAILED, Outcome.ERROR, Outcome.CRASHED})


def is_good(res: InvariantResult) -> bool:
    """Return True for a verified or proven invariant."""
    return res.status in GOOD


def _sort_key(res: InvariantResult) -> tuple[int, int, str]:
    return (res.status.rank, res.invariant.severity.rank, res.invariant.id)


def worst_first(results: Iterable[InvariantResult]) -> list[InvariantResult]:
    """Return the results ordered by status (worst first), then severity, then id."""
    return sorted(results, key=_sort_key)


def needs_attention(results: RunResults) -> list[InvariantResult]:
    """Return the invariants that are not verified/proven, or carry a flag, worst first."""
    return worst_first(r for r in results.invariants if not is_good(r) or flags(r))


def by_status(results: Sequence[InvariantResult]) -> dict[str, int]:
    """Return the count of invariants per status, every status present, worst first."""
    counts = Counter(r.status.value for r in results)
    return {status: counts.get(status, 0) for status in STATUSES}


def by_severity(results: Sequence[InvariantResult]) -> dict[str, dict[str, int]]:
    """Return, per severity, the count of invariants per status."""
    table = {sev: dict.fromkeys(STATUSES, 0) for sev in SEVERITIES}
    for res in results:
        table[res.invariant.severity.value][res.status.value] += 1
    return table


def flags(res: InvariantResult) -> list[str]:
    """Return the names of the flags an invariant carries: at-risk, partial, suspect..."""
    found = []
    if res.at_risk:
        found.append("at-risk")
    if res.partial:
        found.append("partial")
    if res.suspect:
        found.append("suspect")
    if res.invariant.lifecycle is Lifecycle.DEPRECATED:
        found.append("deprecated")
    return found


def flag_words(res: InvariantResult) -> list[str]:
    """Return one sentence per flag, saying why the invariant carries it."""
    words = []
    if res.at_risk:
        words.append(f"at risk: rests on {_few(res.at_risk_because)}, not verified")
    if res.partial:
        words.append(f"partial: claiming test(s) did not run: {_few(res.partial_because)}")
    if res.suspect:
        words.append("suspect: changed since its last review (`invariants review`)")
    if res.invariant.lifecycle is Lifecycle.DEPRECATED:
        words.append("deprecated: reported, never gated")
    return words


def _few(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    more = len(items) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def _claims(res: InvariantResult) -> list[Link]:
    return [link for link in res.links if link.kind is not LinkKind.INCIDENTAL]


def _first_words(link: Link) -> str:
    """Return the most telling evidence sentence of a link: the double, when there is one."""
    if len(link.evidence) > 1:
        return link.evidence[1]
    return link.evidence[0] if link.evidence else link.kind.value


def reason(res: InvariantResult) -> str:
    """Return one line saying why the invariant has its status, from its links' evidence."""
    claims = _claims(res)
    status = res.status
    if status is Status.FAILING:
        broken = [link for link in claims if link.outcome in _BROKEN]
        names = _few([f"{link.nodeid} ({link.outcome.value})" for link in broken])
        return f"claiming test {names}"
    if status is Status.MOCK_ONLY:
        mocked = [link for link in claims if link.is_evidence and link.kind is LinkKind.MOCK_BASED]
        first = mocked[0]
        more = f" (and {len(mocked) - 1} more test(s))" if len(mocked) > 1 else ""
        return f"{first.nodeid}: {_first_words(first)}{more}"
    if status is Status.CLAIMED:
        passed = [link.nodeid for link in claims if link.is_evidence]
        return f"claimed by {_few(passed)}, which ran none of its code"
    if status is Status.INCIDENTAL:
        runners = [link.nodeid for link in res.links if link.is_evidence]
        return f"no test claims it; {_few(runners)} ran its code (could claim it)"
    if status is Status.UNVERIFIED:
        if res.partial:
            return f"its claiming tests did not run: {_few(res.partial_because)}"
        if not res.invariant.scoped:
            return "no test claims it (it has no `code:` scope to observe)"
        return "no test claims it and no test ran its code"
    real = [link.nodeid for link in claims if link.is_evidence and link.kind is LinkKind.REAL]
    done = f"real test(s): {_few(real)}"
    if status is Status.PROVEN and res.proof and res.proof.score is not None:
        return f"{done}; proof: {res.proof.score:.0%} of its mutants killed"
    return done


def violations_by_id(violations: Sequence[Violation] | None) -> dict[str, list[Violation]]:
    """Group violations by invariant id, keeping the gate's order (worst first)."""
    grouped: dict[str, list[Violation]] = {}
    for violation in violations or ():
        grouped.setdefault(violation.invariant_id, []).append(violation)
    return grouped

"""Turn links into a status per invariant (docs/classification.md).

Pure: the invariant set and every test's evidence go in, one InvariantResult
per invariant comes out, in file order. Only plainly passed tests are evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from pytest_invariants.linking import link_for
from pytest_invariants.model import (
    Invariant,
    InvariantResult,
    InvariantSet,
    Link,
    LinkKind,
    Outcome,
    Proof,
    Status,
    TestEvidence,
)

__all__ = ["classify", "status_of"]

_BROKEN = {Outcome.FAILED, Outcome.ERROR, Outcome.CRASHED}
# A claiming test the run did not reach (deselected, not collected, stopped early)
# makes its invariant partial; one that skipped or xfailed itself does not: the
# invariant is judged on what ran, and the report names the skipped claimants.
_DID_NOT_RUN = {Outcome.DESELECTED}
_SKIPPED_ITSELF = {Outcome.SKIPPED, Outcome.XFAILED}
_GOOD = {Status.VERIFIED, Status.PROVEN}
SUGGESTIONS = 5


def _is_claim(link: Link) -> bool:
    return link.kind is not LinkKind.INCIDENTAL


def status_of(links: Sequence[Link], proven: bool = False) -> Status:
    """Return the status the links earn: the first matching row wins (docs/classification.md)."""
    if any(_is_claim(link) and link.outcome in _BROKEN for link in links):
        return Status.FAILING
    passed = [link for link in links if link.is_evidence]
    claims = [link for link in passed if _is_claim(link)]
    if any(link.kind is LinkKind.REAL for link in claims):
        return Status.PROVEN if proven else Status.VERIFIED
    if any(link.kind is LinkKind.MOCK_BASED for link in claims):
        return Status.MOCK_ONLY
    if claims:
        return Status.CLAIMED
    if passed:
        return Status.INCIDENTAL
    return Status.UNVERIFIED


def _union(links: Iterable[Link]) -> dict[str, frozenset[int]]:
    out: dict[str, set[int]] = {}
    for link in links:
        for path, lines in link.executed.items():
            out.setdefault(path, set()).update(lines)
    return {path: frozenset(lines) for path, lines in out.items()}


def _executable(inv: Invariant) -> dict[str, frozenset[int]]:
    out: dict[str, set[int]] = {}
    for entry in inv.code:
        out.setdefault(entry.file, set()).update(entry.executable)
    return {path: frozenset(lines) for path, lines in out.items()}


def _coverage(inv: Invariant, real: Mapping[str, frozenset[int]]) -> float | None:
    if not inv.scoped:
        return None
    executable = _executable(inv)
    total = sum(len(lines) for lines in executable.values())
    if not total:
        return 0.0
    hit = sum(len(lines & real.get(path, frozenset())) for path, lines in executable.items())
    return round(hit / total, 4)


def _suggested(links: Sequence[Link]) -> tuple[str, ...]:
    """Return passing tests that ran the scope without doubles but do not claim it."""
    good = [
        link
        for link in links
        if link.kind is LinkKind.INCIDENTAL and link.is_evidence and link.detail is None
    ]
    good.sort(key=lambda link: (-sum(len(v) for v in link.executed.values()), link.nodeid))
    return tuple(link.nodeid for link in good[:SUGGESTIONS])


class _TestIndex:
    """Find the tests that can link to an invariant without looking at every test."""

    def __init__(self, tests: Sequence[TestEvidence]) -> None:
        self._tests = tests
        self._by_claim: dict[str, list[int]] = {}
        self._by_file: dict[str, list[int]] = {}
        for index, ev in enumerate(tests):
            for iid in ev.claims:
                self._by_claim.setdefault(iid, []).append(index)
            for path in ev.executed:
                self._by_file.setdefault(path, []).append(index)

    def candidates(self, inv: Invariant) -> list[TestEvidence]:
        """Return, in run order, the tests that claim `inv` or ran one of its scope files."""
        found = set(self._by_claim.get(inv.id, ()))
        for path in {entry.file for entry in inv.code}:
            found.update(self._by_file.get(path, ()))
        return [self._tests[index] for index in sorted(found)]


def _skipped(inv: Invariant, tests: Sequence[TestEvidence]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (ev.nodeid, ev.reason)
        for ev in tests
        if ev.outcome in _SKIPPED_ITSELF and inv.id in ev.claims
    )


def _result(
    inv: Invariant, tests: Sequence[TestEvidence], proven: bool, claims_unknown: bool
) -> InvariantResult:
    links = tuple(link for ev in tests if (link := link_for(inv, ev)) is not None)
    passed = [link for link in links if link.is_evidence]
    real = _union(link for link in passed if link.kind is LinkKind.REAL)
    under_doubles = _union(link for link in passed if link.detail is not None)
    only_doubles = {
        path: lines - real.get(path, frozenset()) for path, lines in under_doubles.items()
    }
    missing = tuple(
        link.nodeid for link in links if _is_claim(link) and link.outcome in _DID_NOT_RUN
    )
    status = status_of(links, proven)
    # With no whole run on record, a narrowed run cannot show that every claimant
    # of an invariant it did not verify ran: such an invariant is partial too.
    unknown = claims_unknown and status not in _GOOD and status is not Status.FAILING
    return InvariantResult(
        invariant=inv,
        status=status,
        links=links,
        scope_coverage=_coverage(inv, real),
        real_lines=real,
        double_lines={path: lines for path, lines in only_doubles.items() if lines},
        partial=bool(missing) or unknown,
        partial_because=missing,
        skipped=_skipped(inv, tests),
        suggested_tests=_suggested(links),
    )


def _at_risk(results: dict[str, InvariantResult]) -> dict[str, tuple[str, ...]]:
    """Return, per id, the invariants it rests on (transitively) that are not verified."""
    memo: dict[str, tuple[str, ...]] = {}

    def weak_below(iid: str, seen: frozenset[str]) -> tuple[str, ...]:
        if iid in memo:
            return memo[iid]
        found: list[str] = []
        for dep in results[iid].invariant.depends_on:
            if dep not in results or dep in seen:
                continue  # unknown ids and cycles are load errors; never loop here
            if results[dep].status not in _GOOD:
                found.append(dep)
            found.extend(weak_below(dep, seen | {dep}))
        memo[iid] = tuple(dict.fromkeys(found))
        return memo[iid]

    return {iid: weak_below(iid, frozenset({iid})) for iid in results}


def classify(
    invariant_set: InvariantSet,
    tests: Sequence[TestEvidence],
    proven: Iterable[str] = (),
    suspect: Iterable[str] = (),
    proofs: Mapping[str, Proof] | None = None,
    claims_unknown: bool = False,
) -> tuple[InvariantResult, ...]:
    """Return one result per invariant, in the order of the invariants file.

    `claims_unknown`: the run was narrowed at collection and no whole run's claim
    index says which tests outside it claim what (SPEC section 5).
    """
    proven_ids, suspect_ids = set(proven), set(suspect)
    index = _TestIndex(tests)
    results = {
        inv.id: _result(inv, index.candidates(inv), inv.id in proven_ids, claims_unknown)
        for inv in invariant_set.invariants
    }
    risks = _at_risk(results)
    return tuple(
        replace(
            res,
            at_risk=bool(risks[iid]),
            at_risk_because=risks[iid],
            suspect=iid in suspect_ids,
            proof=(proofs or {}).get(iid),
        )
        for iid, res in results.items()
    )

"""One view of a run, built once and read by every renderer.

As coverage.py's html.py builds its dataclasses before any template runs, the
reports first turn `RunResults` and the gate's violations into a `RunView`:
counts by status and by severity, every invariant's reason and flags in words,
the attention list (worst first) and the violations grouped by invariant. The
terminal, Markdown, SARIF and HTML renderers read this view only, so they say
the same thing in the same order and nothing is computed twice.

The view holds words, not markup: each renderer escapes for its own medium.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from pytest_invariants.gate import Violation
from pytest_invariants.linking import MOCKED_OUT
from pytest_invariants.model import Invariant, InvariantResult, LinkKind, RunResults
from pytest_invariants.reports import (
    STATUS_MEANING,
    by_severity,
    by_status,
    flag_words,
    flags,
    is_good,
    reason,
    violations_by_id,
    worst_first,
)

__all__ = ["Coverage", "InvariantView", "RunView"]

Lines = Mapping[str, frozenset[int]]


@dataclass(frozen=True)
class Coverage:
    """Every execution of an invariant's scope, by who ran it.

    `real` is the results' `scope_coverage` (claiming tests, no double in the way);
    `unclaimed` counts lines only tests that do not claim it ran for real (an
    incidental invariant's code did run); `doubles` lines that ran only under doubles.
    """

    executable: int
    real: float
    unclaimed: float
    doubles: float
    unclaimed_lines: Lines
    mocked_out: bool  # a claiming test replaced the scope itself with a double

    @property
    def text(self) -> str:
        """The share of the scope that ran, saying who ran it when no claiming test did."""
        if self.mocked_out and self.none_ran:
            return "0%: replaced by a double"
        if self.real or self.none_ran:
            return f"{self.real:.0%}"
        if self.unclaimed:
            return f"{self.unclaimed:.0%} by unclaimed tests"
        return f"{self.doubles:.0%} under doubles"

    @property
    def none_ran(self) -> bool:
        return not (self.real or self.unclaimed or self.doubles)

    @classmethod
    def of(cls, res: InvariantResult) -> Coverage | None:
        """Return the coverage of a scoped invariant; None when it has no `code:` scope."""
        if res.scope_coverage is None:
            return None
        scope: dict[str, set[int]] = {}
        for entry in res.invariant.code:
            scope.setdefault(entry.file, set()).update(entry.executable)
        total = sum(len(lines) for lines in scope.values())
        ran_by: dict[str, set[int]] = {}
        for link in res.links:
            if link.kind is LinkKind.INCIDENTAL and link.is_evidence and link.detail is None:
                for path, ran in link.executed.items():
                    ran_by.setdefault(path, set()).update(ran)
        unclaimed = {
            path: frozenset(lines - res.real_lines.get(path, frozenset()))
            for path, lines in ran_by.items()
        }

        def share(lines: Lines) -> float:
            hit = sum(len(set(found) & scope.get(path, set())) for path, found in lines.items())
            return hit / total if total else 0.0

        mocked = any(link.detail == MOCKED_OUT and link.is_evidence for link in res.links)
        real, doubles = res.scope_coverage, share(res.double_lines)
        return cls(total, real, share(unclaimed), doubles, unclaimed, mocked)


@dataclass(frozen=True)
class InvariantView:
    """One invariant's verdict in words: what every report says about it."""

    result: InvariantResult
    flags: tuple[str, ...]  # at-risk, partial, suspect, deprecated
    flag_words: tuple[str, ...]  # one sentence per flag
    reason: str  # one line: why it has its status, from its links' evidence
    violations: tuple[Violation, ...]  # the gate's, for this invariant, worst first
    coverage: Coverage | None  # None when it has no `code:` scope

    @property
    def invariant(self) -> Invariant:
        return self.result.invariant

    @property
    def id(self) -> str:
        return self.result.invariant.id

    @property
    def status(self) -> str:
        return self.result.status.value

    @property
    def severity(self) -> str:
        return self.result.invariant.severity.value

    @property
    def meaning(self) -> str:
        return STATUS_MEANING[self.status]

    @property
    def good(self) -> bool:
        """True for a verified or proven invariant."""
        return is_good(self.result)

    @property
    def needs_attention(self) -> bool:
        """Not verified/proven, or carrying a flag."""
        return not self.good or bool(self.flags)

    @property
    def gate_reasons(self) -> tuple[str, ...]:
        return tuple(v.reason for v in self.violations)

    @classmethod
    def of(cls, res: InvariantResult, violations: Sequence[Violation] = ()) -> InvariantView:
        return cls(
            res,
            tuple(flags(res)),
            tuple(flag_words(res)),
            reason(res),
            tuple(violations),
            Coverage.of(res),
        )


@dataclass(frozen=True)
class RunView:
    """A run as the reports see it; build it with `RunView.of(results, violations)`."""

    results: RunResults
    items: tuple[InvariantView, ...]  # in the results' order
    ordered: tuple[InvariantView, ...]  # worst status first, then severity, then id
    counts: Mapping[str, int]  # every status, worst first
    matrix: Mapping[str, Mapping[str, int]]  # severity -> status -> count
    violations: tuple[Violation, ...] | None  # None: no gate policy applies
    gate: Mapping[str, tuple[Violation, ...]]  # invariant id -> its violations
    by_id: Mapping[str, InvariantView]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def tests(self) -> int:
        return len(self.results.tests)

    @property
    def attention(self) -> tuple[InvariantView, ...]:
        """The invariants that need attention, worst first."""
        return tuple(item for item in self.ordered if item.needs_attention)

    @property
    def gated(self) -> bool:
        """True when a gate policy applies to the run."""
        return self.violations is not None

    @property
    def gate_failed(self) -> bool:
        return bool(self.violations)

    @property
    def gate_count(self) -> int:
        """How many invariants break the gate."""
        return len(self.gate)

    @property
    def partial(self) -> bool:
        return self.results.info.partial

    @property
    def complete(self) -> bool:
        return self.results.info.complete

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.results.info.warnings

    def get(self, iid: str) -> InvariantView | None:
        """Return the view of the invariant `iid`, or None when the run has none by that id."""
        return self.by_id.get(iid)

    @classmethod
    def of(cls, results: RunResults, violations: Sequence[Violation] | None) -> RunView:
        """Build the view of a run: every word any report prints is decided here."""
        grouped = {iid: tuple(found) for iid, found in violations_by_id(violations).items()}
        items = tuple(
            InvariantView.of(res, grouped.get(res.invariant.id, ())) for res in results.invariants
        )
        by_result = {id(item.result): item for item in items}
        ordered = tuple(by_result[id(res)] for res in worst_first(results.invariants))
        return cls(
            results=results,
            items=items,
            ordered=ordered,
            counts=MappingProxyType(by_status(results.invariants)),
            matrix=MappingProxyType(by_severity(results.invariants)),
            violations=None if violations is None else tuple(violations),
            gate=MappingProxyType(grouped),
            by_id=MappingProxyType({item.id: item for item in items}),
        )

"""The baseline gate (a ratchet, docs/gate.md): fail only on what got worse.

Pure: the gate's violations, this run's statuses and a baseline (the results of
an earlier run, typically `main`'s, as plain values) go in; which violations
are new and which are as in the baseline comes out. A violation breaks the
gate when its invariant is `failing` (always), is not in the baseline, or is
worse than in the baseline in the order below; a flag (`partial`, `suspect`)
breaks it when the baseline did not carry that flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pytest_invariants.gate import FLAGS, Violation
from pytest_invariants.model import RunResults, Status

__all__ = ["RATCHET_ORDER", "Baseline", "BaselineEntry", "Ratchet", "baseline_of", "ratchet"]

# Worst first. Not the report's order: here a claim that runs nothing (claimed) is
# worse than code that ran unclaimed (incidental), because it looks like evidence.
RATCHET_ORDER: tuple[str, ...] = (
    Status.FAILING.value,
    Status.UNVERIFIED.value,
    Status.CLAIMED.value,
    Status.INCIDENTAL.value,
    Status.MOCK_ONLY.value,
    Status.VERIFIED.value,
    Status.PROVEN.value,
)


def _rank(status: str) -> int:
    return RATCHET_ORDER.index(status) if status in RATCHET_ORDER else -1


@dataclass(frozen=True)
class BaselineEntry:
    status: str
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Baseline:
    """What an earlier run said about each invariant, and about itself."""

    entries: Mapping[str, BaselineEntry]
    fingerprint: str = ""  # of the invariants files it was made from
    complete: bool = True
    partial: bool = False
    finished: str = ""


def baseline_of(results: RunResults) -> Baseline:
    """Return the baseline an earlier run's results make."""
    entries = {
        res.invariant.id: BaselineEntry(
            res.status.value, frozenset(f for f in FLAGS if getattr(res, f))
        )
        for res in results.invariants
    }
    info = results.info
    return Baseline(
        entries, results.invariant_set.fingerprint, info.complete, info.partial, info.finished
    )


@dataclass(frozen=True)
class Ratchet:
    """The gate's violations split into new ones (they break it) and known ones."""

    new: tuple[Violation, ...]
    known: tuple[Violation, ...]
    because: Mapping[str, str]  # invariant id -> why its violation counts as new
    gone: tuple[str, ...]  # baseline ids this run does not have (removed or renamed)
    notes: tuple[str, ...] = field(default=())

    @property
    def new_ids(self) -> list[str]:
        return list(dict.fromkeys(v.invariant_id for v in self.new))

    @property
    def known_ids(self) -> list[str]:
        new = set(self.new_ids)
        return [i for i in dict.fromkeys(v.invariant_id for v in self.known) if i not in new]

    def summary(self) -> str:
        return f"{len(self.known_ids)} findings as in the baseline, {len(self.new_ids)} new"


def _new_because(v: Violation, status: str, base: BaselineEntry | None) -> str | None:
    """Return why `v` breaks the gate despite the baseline, or None when it is as before."""
    if status == Status.FAILING.value:
        return "failing (always breaks the gate)"
    if base is None:
        return "new: not in the baseline"
    if _rank(status) < _rank(base.status):
        return f"worse than the baseline (was {base.status})"
    if v.reason in FLAGS and v.reason not in base.flags:
        return f"newly {v.reason} (was not in the baseline)"
    return None


def _notes(current_fingerprint: str, baseline: Baseline, missing: Sequence[str]) -> list[str]:
    notes = []
    if baseline.fingerprint and current_fingerprint and baseline.fingerprint != current_fingerprint:
        notes.append(
            "the baseline was made from another version of the invariants files: "
            "invariants are matched by id"
        )
    if missing:
        notes.append(
            f"{len(missing)} invariant(s) not in the baseline are gated as new: "
            + ", ".join(missing)
        )
    if not baseline.complete:
        notes.append("the baseline comes from an interrupted run")
    if baseline.partial:
        notes.append("the baseline comes from a partial run: some statuses rest on less evidence")
    return notes


def ratchet(
    violations: Sequence[Violation],
    statuses: Mapping[str, str],
    baseline: Baseline,
    fingerprint: str = "",
) -> Ratchet:
    """Split `violations` by `baseline`; `statuses` maps every invariant of this run to its status.

    `fingerprint` is that of this run's invariants files, to say when the
    baseline was made from another version of them.
    """
    new: list[Violation] = []
    known: list[Violation] = []
    because: dict[str, str] = {}
    for v in violations:
        words = _new_because(
            v, statuses.get(v.invariant_id, ""), baseline.entries.get(v.invariant_id)
        )
        if words is None:
            known.append(v)
        else:
            new.append(v)
            because.setdefault(v.invariant_id, words)
    gone = tuple(iid for iid in baseline.entries if iid not in statuses)
    missing = [iid for iid in statuses if iid not in baseline.entries]
    notes = _notes(fingerprint, baseline, missing)
    if gone:
        notes.append(
            f"{len(gone)} invariant(s) of the baseline are not in this run (removed or renamed): "
            + ", ".join(gone)
        )
    return Ratchet(tuple(new), tuple(known), because, gone, tuple(notes))

"""`invariants why`: which invariants guard a piece of code, and what the last run saw there.

Pure: saved results and a target (a file, and optionally a line span in it) go in,
a `WhyAnswer` comes out. The target is resolved elsewhere, statically
(`load.scopes`); nothing here reads files or imports the user's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from pytest_invariants.model import InvariantResult, Link, LinkKind, RunResults, ScopeEntry

__all__ = ["Guard", "Reach", "Target", "WhyAnswer", "explain"]


@dataclass(frozen=True)
class Target:
    """A piece of code: a file (rootdir-relative, as the results name it) and a line span."""

    file: str
    lines: tuple[int, int] | None = None  # inclusive; None for the whole file
    text: str = ""  # as the user wrote it

    def __str__(self) -> str:
        if self.lines is None:
            return self.file
        first, last = self.lines
        return f"{self.file}:{first}" if first == last else f"{self.file}:{first}-{last}"

    def overlaps(self, entry: ScopeEntry) -> bool:
        """Return True when `entry` guards at least one line of the target."""
        if entry.file != self.file:
            return False
        if self.lines is None or entry.lines is None:
            return True
        return entry.lines[0] <= self.lines[1] and self.lines[0] <= entry.lines[1]

    def hit(self, executed: Mapping[str, AbstractSet[int]]) -> bool:
        """Return True when some executed line of the file lies inside the target."""
        lines = executed.get(self.file, frozenset())
        if self.lines is None:
            return bool(lines)
        first, last = self.lines
        return any(first <= n <= last for n in lines)


@dataclass(frozen=True)
class Reach:
    """One test's relation to the target, for one invariant."""

    nodeid: str
    outcome: str
    claims: bool  # False: it ran the code without claiming the invariant
    doubles: tuple[str, ...] = ()  # the spoiling doubles, in words


@dataclass(frozen=True)
class Guard:
    """An invariant whose scope contains the target, with what its tests did there."""

    result: InvariantResult
    entries: tuple[ScopeEntry, ...]  # the `code:` entries that contain the target
    real: tuple[Reach, ...]  # ran the target with no double in the way
    under_doubles: tuple[Reach, ...]  # ran it, but a double spoiled the test
    missed: tuple[Reach, ...]  # claim the invariant but never ran the target


@dataclass(frozen=True)
class WhyAnswer:
    target: Target
    guards: tuple[Guard, ...]
    executed_by: tuple[str, ...]  # every test of the run that ran the target
    observed: bool  # the run recorded this file (only scope files are recorded)


def _reach(link: Link) -> Reach:
    claims = link.kind is not LinkKind.INCIDENTAL
    return Reach(link.nodeid, link.outcome.value, claims, link.evidence[1:])


def _guard(res: InvariantResult, target: Target) -> Guard | None:
    entries = tuple(e for e in res.invariant.code if target.overlaps(e))
    if not entries:
        return None
    real: list[Reach] = []
    doubled: list[Reach] = []
    missed: list[Reach] = []
    for link in res.links:
        if target.hit(link.executed):
            (real if link.detail is None else doubled).append(_reach(link))
        elif link.kind is not LinkKind.INCIDENTAL:
            missed.append(_reach(link))
    return Guard(res, entries, tuple(real), tuple(doubled), tuple(missed))


def explain(results: RunResults, target: Target) -> WhyAnswer:
    """Return every invariant guarding `target`, in file order, and who ran it."""
    guards = tuple(g for res in results.invariants if (g := _guard(res, target)) is not None)
    executed_by = tuple(ev.nodeid for ev in results.tests if target.hit(ev.executed))
    observed = any(e.file == target.file for res in results.invariants for e in res.invariant.code)
    return WhyAnswer(target, guards, executed_by, observed)

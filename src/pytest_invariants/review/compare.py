"""What changed between two versions of the invariants: pure values and comparisons.

`compare_invariants` and `compare_gate` say how each invariant's guarantee moved
(weakened, strengthened, renamed, removed, added); `code_impact` says which
invariants guard code a change touched. Nothing here reads git or prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from pytest_invariants.model import (
    GatePolicy,
    Invariant,
    InvariantResult,
    InvariantSet,
    Lifecycle,
    Location,
    Problem,
    ScopeEntry,
    ScopeKind,
    Severity,
    Status,
    under,
)
from pytest_invariants.review.fingerprint import SourceReader, scope_code
from pytest_invariants.review.gitfiles import FileDiff
from pytest_invariants.review.names import ModuleFile, binding, split_read
from pytest_invariants.text import words

__all__ = [
    "FAIL_ON",
    "Change",
    "DiffReport",
    "Effect",
    "FieldChange",
    "Impact",
    "ImpactedEntry",
    "Side",
    "code_impact",
    "compare_gate",
    "compare_invariants",
    "failures",
    "severity_rank",
]


FAIL_ON: Final = ("removed", "weakened", "impacted-unverified", "suspect")
_VERIFIED: Final = frozenset({Status.VERIFIED.value, Status.PROVEN.value})


class Effect:
    """How a change moves an invariant's guarantee."""

    WEAKENED: Final = "weakened"
    STRENGTHENED: Final = "strengthened"
    NEUTRAL: Final = "neutral"

    ORDER: Final = ("weakened", "strengthened", "neutral")


# -- values -----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One field of one invariant, old -> new, with its effect and the reason in words."""

    field: str
    old: Any
    new: Any
    effect: str
    reason: str


@dataclass(frozen=True)
class Change:
    """An invariant added, removed, changed or renamed between the revisions."""

    kind: str  # added | removed | changed | renamed
    id: str
    title: str
    severity: str
    location: Location  # at HEAD; at BASE for a removed invariant
    old_id: str | None = None  # for a rename
    fields: tuple[FieldChange, ...] = ()
    owner: str = ""  # at HEAD; at BASE for a removed invariant

    @property
    def effect(self) -> str:
        """Return the strongest effect of the field changes (weakened wins)."""
        effects = {f.effect for f in self.fields}
        return next((e for e in Effect.ORDER if e in effects), Effect.NEUTRAL)


@dataclass(frozen=True)
class ImpactedEntry:
    """A scope entry whose code differs between the revisions."""

    entry: str
    file: str  # relative to the rootdir, at HEAD
    lines: tuple[int, ...]  # changed lines of `file` inside the entry, at HEAD
    how: str  # 'changed' | 'added' (no such code at BASE) | 'removed' (gone at HEAD)


@dataclass(frozen=True)
class Impact:
    """An invariant guarding code that changed, with its last known verdict."""

    id: str
    title: str
    severity: str
    entries: tuple[ImpactedEntry, ...]
    status: str | None = None  # None when no results were given or the id is not in them
    tests: tuple[tuple[str, str, str], ...] = ()  # (nodeid, link, outcome)
    owner: str = ""

    @property
    def verified(self) -> bool:
        return self.status in _VERIFIED


@dataclass(frozen=True)
class Side:
    """One revision as loaded: the invariants (None when unusable) and its problems."""

    label: str  # what the user typed: 'origin/main', 'HEAD', 'working tree'
    commit: str  # a commit id, or WORKTREE
    invariant_set: InvariantSet | None
    problems: tuple[Problem, ...] = ()
    lenient: bool = False  # loaded without validation because the files are invalid
    read: SourceReader = field(default=lambda _path: None, compare=False, repr=False)


@dataclass(frozen=True)
class DiffReport:
    """Everything `invariants diff` found."""

    base: str
    head: str
    changes: tuple[Change, ...]
    gate_changes: tuple[FieldChange, ...]
    impacts: tuple[Impact, ...]
    suspects: tuple[str, ...]
    base_problems: tuple[Problem, ...] = ()
    has_results: bool = False
    prefix: str = ""  # the rootdir relative to the repository, for annotations
    locations: Mapping[str, Location] = field(default_factory=dict)  # ids at HEAD

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def weakened(self) -> list[Change]:
        return [c for c in self.changes if c.effect == Effect.WEAKENED]

    @property
    def unverified_impacts(self) -> list[Impact]:
        return [i for i in self.impacts if not i.verified]


# -- comparing invariants -------------------------------------------------------------


def _covers(wide: ScopeEntry, narrow: ScopeEntry) -> bool:
    """Return True when `wide` guards at least all the code `narrow` does."""
    if wide.raw.strip() == narrow.raw.strip():
        return True
    if wide.dotted and narrow.dotted and under(narrow.dotted, wide.dotted):
        return True
    if wide.file and wide.file == narrow.file:
        if wide.lines is None:
            return True
        return narrow.lines is not None and (
            wide.lines[0] <= narrow.lines[0] and narrow.lines[1] <= wide.lines[1]
        )
    return False


def _scope_change(old: Sequence[ScopeEntry], new: Sequence[ScopeEntry]) -> FieldChange | None:
    old_raw = [e.raw.strip() for e in old]
    new_raw = [e.raw.strip() for e in new]
    if sorted(old_raw) == sorted(new_raw):
        return None
    lost = [e.raw for e in old if not any(_covers(n, e) for n in new)]
    gained = [e.raw for e in new if not any(_covers(o, e) for o in old)]
    if lost:
        return FieldChange(
            "code",
            old_raw,
            new_raw,
            Effect.WEAKENED,
            f"scope narrowed: {', '.join(lost)} no longer guarded",
        )
    if gained:
        return FieldChange(
            "code",
            old_raw,
            new_raw,
            Effect.STRENGTHENED,
            f"scope widened: {', '.join(gained)} now guarded",
        )
    return FieldChange("code", old_raw, new_raw, Effect.NEUTRAL, "scope rewritten, same code")


def _names_change(
    name: str, old: Sequence[str], new: Sequence[str], *, grow_weakens: bool, what: str
) -> FieldChange | None:
    """Compare two dotted-name lists where `under` decides coverage."""
    if sorted(old) == sorted(new):
        return None
    lost = [o for o in old if not any(under(o, n) for n in new)]
    gained = [n for n in new if not any(under(n, o) for o in old)]
    weakens = gained if grow_weakens else lost
    strengthens = lost if grow_weakens else gained
    if weakens:
        verb = "added" if grow_weakens else "removed"
        return FieldChange(
            name, list(old), list(new), Effect.WEAKENED, f"{what} {verb}: {', '.join(weakens)}"
        )
    if strengthens:
        verb = "removed" if grow_weakens else "added"
        return FieldChange(
            name,
            list(old),
            list(new),
            Effect.STRENGTHENED,
            f"{what} {verb}: {', '.join(strengthens)}",
        )
    return FieldChange(name, list(old), list(new), Effect.NEUTRAL, f"{what} rewritten")


def _set_change(name: str, old: Sequence[str], new: Sequence[str], what: str) -> FieldChange | None:
    """Compare a list where removing items weakens and adding strengthens (claim globs)."""
    if sorted(old) == sorted(new):
        return None
    lost = [o for o in old if o not in new]
    if lost:
        return FieldChange(
            name, list(old), list(new), Effect.WEAKENED, f"{what} removed: {', '.join(lost)}"
        )
    gained = [n for n in new if n not in old]
    return FieldChange(
        name, list(old), list(new), Effect.STRENGTHENED, f"{what} added: {', '.join(gained)}"
    )


def _text_change(name: str, old: str, new: str) -> FieldChange | None:
    if words(old) == words(new):
        return None
    if old.strip() and not new.strip():
        return FieldChange(name, old, new, Effect.WEAKENED, f"{name} removed")
    if new.strip() and not old.strip():
        return FieldChange(name, old, new, Effect.STRENGTHENED, f"{name} added")
    return FieldChange(name, old, new, Effect.NEUTRAL, f"{name} changed")


def _severity_change(old: Severity, new: Severity) -> FieldChange | None:
    if old is new:
        return None
    lowered = new.rank > old.rank
    effect = Effect.WEAKENED if lowered else Effect.STRENGTHENED
    return FieldChange(
        "severity", old.value, new.value, effect, f"severity {'lowered' if lowered else 'raised'}"
    )


def _lifecycle_change(old: Lifecycle, new: Lifecycle) -> FieldChange | None:
    if old is new:
        return None
    if new is Lifecycle.DEPRECATED:
        return FieldChange(
            "status", old.value, new.value, Effect.WEAKENED, "made deprecated (never gated)"
        )
    return FieldChange("status", old.value, new.value, Effect.STRENGTHENED, "no longer deprecated")


def _threshold_change(old: float | None, new: float | None) -> FieldChange | None:
    if old == new:
        return None
    if new is None or (old is not None and new < old):
        return FieldChange("prove_threshold", old, new, Effect.WEAKENED, "proof threshold lowered")
    return FieldChange("prove_threshold", old, new, Effect.STRENGTHENED, "proof threshold raised")


def _plain_change(name: str, old: Any, new: Any) -> FieldChange | None:
    if old == new:
        return None
    return FieldChange(name, old, new, Effect.NEUTRAL, f"{name} changed")


def field_changes(old: Invariant, new: Invariant) -> tuple[FieldChange, ...]:
    """Return every field that differs between two versions of an invariant."""
    candidates = [
        _text_change("title", old.title, new.title),
        _text_change("why", old.why, new.why),
        _text_change("owner", old.owner, new.owner),
        _severity_change(old.severity, new.severity),
        _scope_change(old.code, new.code),
        _names_change(
            "must_be_real",
            old.must_be_real,
            new.must_be_real,
            grow_weakens=False,
            what="must_be_real",
        ),
        _names_change(
            "allow_doubles",
            old.allow_doubles,
            new.allow_doubles,
            grow_weakens=True,
            what="allowed doubles",
        ),
        _set_change("tests", old.tests, new.tests, "claim globs"),
        _lifecycle_change(old.lifecycle, new.lifecycle),
        _threshold_change(old.prove_threshold, new.prove_threshold),
        _plain_change("depends_on", sorted(old.depends_on), sorted(new.depends_on)),
        _plain_change("tags", sorted(old.tags), sorted(new.tags)),
        _plain_change("links", dict(sorted(old.links.items())), dict(sorted(new.links.items()))),
        _plain_change("reviewed", old.reviewed, new.reviewed),
    ]
    return tuple(c for c in candidates if c is not None)


def _same_rule(old: Invariant, new: Invariant) -> bool:
    """Return True when two invariants with different ids state the same rule on the same code."""
    return words(old.title).casefold() == words(new.title).casefold() and sorted(
        e.raw.strip() for e in old.code
    ) == sorted(e.raw.strip() for e in new.code)


def _renames(removed: list[Invariant], added: list[Invariant]) -> list[tuple[Invariant, Invariant]]:
    pairs: list[tuple[Invariant, Invariant]] = []
    free = list(added)
    for old in removed:
        match = next((new for new in free if _same_rule(old, new)), None)
        if match is not None:
            free.remove(match)
            pairs.append((old, match))
    return pairs


def _change(kind: str, inv: Invariant, **extra: Any) -> Change:
    return Change(
        kind, inv.id, inv.title, inv.severity.value, inv.location, owner=inv.owner, **extra
    )


def compare_invariants(old: Iterable[Invariant], new: Iterable[Invariant]) -> list[Change]:
    """Match invariants by id (then renames by title and scope) and list what changed."""
    old_by_id = {inv.id: inv for inv in old}
    new_by_id = {inv.id: inv for inv in new}
    removed = [inv for iid, inv in old_by_id.items() if iid not in new_by_id]
    added = [inv for iid, inv in new_by_id.items() if iid not in old_by_id]
    changes: list[Change] = []
    for before, after in _renames(removed, added):
        removed.remove(before)
        added.remove(after)
        changes.append(
            _change("renamed", after, old_id=before.id, fields=field_changes(before, after))
        )
    for iid, current in new_by_id.items():
        previous = old_by_id.get(iid)
        if previous is not None and (fields := field_changes(previous, current)):
            changes.append(_change("changed", current, fields=fields))
    changes += [_change("removed", inv) for inv in removed]
    changes += [_change("added", inv) for inv in added]
    return changes


def compare_gate(old: GatePolicy, new: GatePolicy) -> list[FieldChange]:
    """Return the per-severity changes of the gate policy: removed statuses loosen it."""
    changes: list[FieldChange] = []
    for severity in sorted(set(old.fail_on) | set(new.fail_on), key=severity_rank):
        before = old.fail_on.get(severity, frozenset())
        after = new.fail_on.get(severity, frozenset())
        if before == after:
            continue
        lost, gained = sorted(before - after), sorted(after - before)
        effect = Effect.WEAKENED if lost else Effect.STRENGTHENED
        reason = (
            f"{severity} no longer fails on {', '.join(lost)}"
            if lost
            else f"{severity} now fails on {', '.join(gained)}"
        )
        changes.append(
            FieldChange(f"gate.fail_on.{severity}", sorted(before), sorted(after), effect, reason)
        )
    return changes


def severity_rank(name: str) -> int:
    try:
        return Severity(name).rank
    except ValueError:
        return len(Severity)


# -- code impact ---------------------------------------------------------------------------


def _qualname(entry: ScopeEntry) -> str | None:
    if entry.kind is not ScopeKind.QUALNAME:
        return None
    return entry.raw.partition(":")[2].strip() or None


def _entry_impact(
    entry: ScopeEntry, diff: FileDiff, base_text: str | None, head_text: str | None
) -> ImpactedEntry | None:
    """Decide whether one entry's code changed, by its normalised tree (not by line numbers)."""
    qualname = _qualname(entry)
    before, after = scope_code(base_text, qualname), scope_code(head_text, qualname)
    if before == after:
        return None  # moved, reformatted or only comments changed
    how = "added" if before is None else "removed" if after is None else "changed"
    low, high = entry.lines or (1, 10**9)
    lines = tuple(sorted(n for n in diff.new_lines if low <= n <= high))
    return ImpactedEntry(entry.raw, entry.file, lines or (entry.lines or (1, 1))[:1], how)


def _read_impacts(
    entry: ScopeEntry,
    diffs: Mapping[str, FileDiff],
    read_base: Callable[[FileDiff], str | None],
    read_head: SourceReader,
    module_file: ModuleFile,
) -> Iterator[ImpactedEntry]:
    """Yield the module-level names `entry` reads whose binding changed."""
    own = (_qualname(entry) or "").split(".")[0]
    seen: set[tuple[str, str]] = set()
    for dotted in sorted(entry.reads):
        found = split_read(dotted, entry.file, module_file)
        if found is None or found[:2] in seen or found[0] not in diffs:
            continue
        file, name, shown = found
        seen.add((file, name))
        if file == entry.file and (entry.kind is not ScopeKind.QUALNAME or name == own):
            continue  # the entry's own code, compared as a whole already
        diff = diffs[file]
        before, after = binding(read_base(diff), name), binding(read_head(file), name)
        if (before.code if before else None) == (after.code if after else None):
            continue
        how = "added" if before is None else "removed" if after is None else "changed"
        low, high = after.lines if after is not None else (1, 10**9)
        lines = tuple(sorted(n for n in diff.new_lines if low <= n <= high)) or (low,)
        yield ImpactedEntry(f"{shown} (read by {entry.raw.strip()})", file, lines, how)


def _no_module(_dotted: str) -> str | None:
    return None


def code_impact(
    invariants: Iterable[Invariant],
    diffs: Mapping[str, FileDiff],
    read_base: Callable[[FileDiff], str | None],
    read_head: SourceReader,
    results: Mapping[str, InvariantResult] | None = None,
    module_file: ModuleFile = _no_module,
) -> list[Impact]:
    """Return the invariants whose scope code, or a module-level name it reads, changed.

    `diffs` maps HEAD paths (relative to the rootdir) to their change; an entry
    in a file git saw no change in is skipped without parsing anything.
    `module_file` finds the file of a module the scope code imports a name from.
    """
    impacts: list[Impact] = []
    for inv in invariants:
        entries: list[ImpactedEntry] = []
        for entry in inv.code:
            if entry.file in diffs:
                diff = diffs[entry.file]
                hit = _entry_impact(entry, diff, read_base(diff), read_head(entry.file))
                entries += [hit] if hit is not None else []
            entries += _read_impacts(entry, diffs, read_base, read_head, module_file)
        if entries:
            found = tuple(dict.fromkeys(entries))
            impact = Impact(inv.id, inv.title, inv.severity.value, found, owner=inv.owner)
            impacts.append(_with_results(impact, results))
    return impacts


def _with_results(impact: Impact, results: Mapping[str, InvariantResult] | None) -> Impact:
    found = (results or {}).get(impact.id)
    if found is None:
        return impact
    tests = tuple((link.nodeid, link.kind.value, link.outcome.value) for link in found.links)
    return replace(impact, status=found.status.value, tests=tests)


def failures(report: DiffReport, fail_on: Iterable[str]) -> list[str]:
    """Return, in words, each `--fail-on` category that applies to `report`."""
    found: list[str] = []
    wanted = set(fail_on)
    if "removed" in wanted and (removed := report.of_kind("removed")):
        found.append(f"{len(removed)} invariant(s) removed")
    weakened = len(report.weakened) + sum(
        1 for g in report.gate_changes if g.effect == Effect.WEAKENED
    )
    if "weakened" in wanted and weakened:
        found.append(f"{weakened} weakening change(s)")
    if "impacted-unverified" in wanted and (unverified := report.unverified_impacts):
        found.append(f"{len(unverified)} invariant(s) guard changed code but are not verified")
    if "suspect" in wanted and report.suspects:
        found.append(f"{len(report.suspects)} suspect invariant(s) need review")
    return found

"""Compare invariants and the code they guard between two git revisions (SPEC section 10).

Data flows one way: `gitfiles` reads each revision (nothing is checked out),
`loading` validates it as `pytest --invariants` would, the pure functions
`compare_invariants`, `compare_gate` and `code_impact` decide what changed,
and `render_markdown` / `render_json` / `render_github` print the verdict.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from pytest_invariants.load import yamlsafe
from pytest_invariants.load.loading import LoadError, discover, load_invariants
from pytest_invariants.load.pytestini import ini_setting
from pytest_invariants.load.scopes import default_search_path
from pytest_invariants.model import (
    GatePolicy,
    Invariant,
    InvariantResult,
    InvariantSet,
    Location,
    Problem,
    RunResults,
    ScopeEntry,
    ScopeKind,
    Severity,
    Status,
    under,
)
from pytest_invariants.review.fingerprint import SourceReader, disk_reader, fingerprint, scope_code
from pytest_invariants.review.gitfiles import WORKTREE, FileDiff, Repo

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
    "load_side",
    "render_github",
    "render_json",
    "render_markdown",
    "run_diff",
]

# Version history of the JSON output:
# 1: first version (changes, gate changes, impacted invariants, suspects, summary).
JSON_SCHEMA: Final = "pytest-invariants/diff/1"

FAIL_ON: Final = ("removed", "weakened", "impacted-unverified", "suspect")
_VERIFIED: Final = frozenset({Status.VERIFIED.value, Status.PROVEN.value})

# Files a revision needs for loading: the invariants, the Python sources its
# scopes name, and the configuration that says where both are.
_EXPORTED_SUFFIXES: Final = (".py", ".pyi", ".yaml", ".yml", ".toml", ".cfg", ".ini")


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


def _words(text: str) -> str:
    return " ".join(text.split())


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
    if _words(old) == _words(new):
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


def _lifecycle_change(old: str, new: str) -> FieldChange | None:
    if old == new:
        return None
    if new == "deprecated":
        return FieldChange("status", old, new, Effect.WEAKENED, "made deprecated (never gated)")
    if old == "deprecated":
        return FieldChange("status", old, new, Effect.STRENGTHENED, "no longer deprecated")
    return FieldChange("status", old, new, Effect.NEUTRAL, "lifecycle changed")


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
    return _words(old.title).casefold() == _words(new.title).casefold() and sorted(
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
    return Change(kind, inv.id, inv.title, inv.severity.value, inv.location, **extra)


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
    for severity in sorted(set(old.fail_on) | set(new.fail_on), key=_severity_rank):
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


def _severity_rank(name: str) -> int:
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


def code_impact(
    invariants: Iterable[Invariant],
    diffs: Mapping[str, FileDiff],
    read_base: Callable[[FileDiff], str | None],
    read_head: SourceReader,
    results: Mapping[str, InvariantResult] | None = None,
) -> list[Impact]:
    """Return the invariants whose scope code differs between BASE and HEAD.

    `diffs` maps HEAD paths (relative to the rootdir) to their change; an entry
    in a file git saw no change in is skipped without parsing anything.
    """
    impacts: list[Impact] = []
    for inv in invariants:
        entries = tuple(
            hit
            for entry in inv.code
            if entry.file in diffs
            and (
                hit := _entry_impact(
                    entry, diffs[entry.file], read_base(diffs[entry.file]), read_head(entry.file)
                )
            )
            is not None
        )
        if entries:
            impacts.append(
                _with_results(Impact(inv.id, inv.title, inv.severity.value, entries), results)
            )
    return impacts


def _with_results(impact: Impact, results: Mapping[str, InvariantResult] | None) -> Impact:
    found = (results or {}).get(impact.id)
    if found is None:
        return impact
    tests = tuple((link.nodeid, link.kind.value, link.outcome.value) for link in found.links)
    return replace(impact, status=found.status.value, tests=tests)


# -- loading a revision ------------------------------------------------------------------


def _search_path(root: Path, confined: bool) -> list[Path]:
    paths = [Path(p) for p in default_search_path(root)]
    if confined:
        # An exported revision must not resolve scopes in the work tree or in
        # site-packages (an editable install points at today's sources).
        paths = [p for p in paths if p == root or root in p.parents]
        paths += [p for p in (root / "src", root) if p.is_dir() and p not in paths]
    return paths


def _relabel(problems: Iterable[Problem], root: Path, label: str) -> tuple[Problem, ...]:
    """Show problems of an exported revision as `REV:path` instead of a temporary folder."""
    out: list[Problem] = []
    for problem in problems:
        path = Path(problem.location.path)
        if path.is_absolute() and (path == root or root in path.parents):
            path = path.relative_to(root)
        shown = f"{label}:{path.as_posix()}"
        out.append(replace(problem, location=replace(problem.location, path=shown)))
    return tuple(out)


def _relative_set(invariant_set: InvariantSet, root: Path) -> InvariantSet:
    """Make the invariants' locations relative to `root` when the loader gave them absolute."""

    def rel(loc: Location) -> Location:
        path = Path(loc.path)
        if path.is_absolute() and root in path.parents:
            return replace(loc, path=path.relative_to(root).as_posix())
        return loc

    invariants = tuple(replace(inv, location=rel(inv.location)) for inv in invariant_set.invariants)
    return replace(invariant_set, invariants=invariants)


def load_side(
    root: Path,
    label: str,
    commit: str,
    explicit: str | None,
    confined: bool,
    missing_ok: bool = False,
) -> Side:
    """Discover and validate the invariants under `root`; fall back to a lenient read.

    With `missing_ok` (the base revision), a named file that does not exist yet
    means "no invariants then", not an error: the pull request adds it.
    """
    try:
        paths = discover(root, explicit, ini_setting(root, "invariants_file"))
    except LoadError as exc:
        if missing_ok:
            return Side(label, commit, InvariantSet(()), read=disk_reader(root))
        return Side(
            label,
            commit,
            None,
            _relabel(exc.problems, root, label) if confined else tuple(exc.problems),
            read=disk_reader(root),
        )
    if not paths:
        empty = InvariantSet(())
        return Side(label, commit, empty, read=disk_reader(root))
    invariant_set, problems = load_invariants(paths, root, _search_path(root, confined))
    shown = _relabel(problems, root, label) if confined else tuple(problems)
    if invariant_set is not None and not problems:
        return Side(label, commit, _relative_set(invariant_set, root), read=disk_reader(root))
    lenient = _lenient_set(paths, root)
    return Side(label, commit, lenient, shown, lenient=True, read=disk_reader(root))


# -- lenient reading of an invalid revision ----------------------------------------------


def _plain(node: yamlsafe.Node) -> Any:
    value = node.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(pair.value) for key, pair in value.items()}
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _guess_entry(raw: str) -> ScopeEntry:
    """Read a scope entry without resolving it: enough to compare names."""
    text = raw.strip()
    if text.endswith(".py") or "/" in text:
        return ScopeEntry(raw, ScopeKind.FILE, text, None, None)
    if ":" in text:
        module, _, qualname = text.partition(":")
        return ScopeEntry(raw, ScopeKind.QUALNAME, "", f"{module}.{qualname}", None)
    return ScopeEntry(raw, ScopeKind.MODULE, "", text, None)


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value))
    except ValueError:
        return Severity.MEDIUM


def _lenient_invariant(
    data: dict[str, Any], defaults: dict[str, Any], where: Location
) -> Invariant | None:
    merged = {**defaults, **data}
    iid = merged.get("id")
    if not isinstance(iid, str) or not iid:
        return None
    links = merged.get("links")
    threshold = merged.get("prove_threshold")
    return Invariant(
        id=iid,
        title=str(merged.get("title") or ""),
        why=str(merged.get("why") or ""),
        owner=str(merged.get("owner") or ""),
        severity=_severity(merged.get("severity", "medium")),
        code=tuple(_guess_entry(raw) for raw in _strings(merged.get("code"))),
        must_be_real=_strings(merged.get("must_be_real")),
        allow_doubles=_strings(merged.get("allow_doubles")),
        tests=_strings(merged.get("tests")),
        depends_on=_strings(merged.get("depends_on")),
        tags=_strings(merged.get("tags")),
        links={str(k): str(v) for k, v in links.items()} if isinstance(links, dict) else {},
        lifecycle=str(merged.get("status") or "active"),
        reviewed=merged.get("reviewed") if isinstance(merged.get("reviewed"), str) else None,
        prove_threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
        location=where,
    )


def _lenient_file(path: Path, shown: str) -> tuple[list[Invariant], GatePolicy]:
    data = yamlsafe.read_limited(path, shown)
    if isinstance(data, Problem):
        return [], GatePolicy()
    root, _ = yamlsafe.parse_yaml(data, shown)
    if root is None or not isinstance(root.value, dict):
        return [], GatePolicy()
    items = root.value.get("invariants")
    defaults = _plain(root.value["defaults"].value) if "defaults" in root.value else {}
    found: list[Invariant] = []
    for node in items.value.value if items and isinstance(items.value.value, tuple) else ():
        if isinstance(node.value, dict):
            inv = _lenient_invariant(
                _plain(node), defaults if isinstance(defaults, dict) else {}, node.location(shown)
            )
            found += [inv] if inv else []
    return found, _lenient_gate(_plain(root.value["gate"].value) if "gate" in root.value else {})


def _lenient_gate(data: Any) -> GatePolicy:
    fail_on = data.get("fail_on") if isinstance(data, dict) else None
    if not isinstance(fail_on, dict):
        return GatePolicy()
    return GatePolicy({str(k): frozenset(_strings(v)) for k, v in fail_on.items()})


def _lenient_set(paths: Sequence[Path], root: Path) -> InvariantSet:
    """Read invalid files as far as they go, so a broken BASE can still be compared."""
    invariants: dict[str, Invariant] = {}
    policy: dict[str, frozenset[str]] = {}
    for path in paths:
        full = path if path.is_absolute() else root / path
        shown = full.relative_to(root).as_posix() if root in full.parents else str(full)
        found, gate = _lenient_file(full, shown)
        invariants.update((inv.id, inv) for inv in found if inv.id not in invariants)
        policy.update(gate.fail_on)
    return InvariantSet(tuple(invariants.values()), gate=GatePolicy(policy))


# -- running a diff ------------------------------------------------------------------------


class DiffError(Exception):
    """The diff cannot run; the message is one line for the user (exit 2)."""


class HeadInvalid(Exception):
    """HEAD's invariants are invalid; `problems` say where, as `invariants check` would."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = tuple(problems)


def _keep(path: str) -> bool:
    return path.endswith(_EXPORTED_SUFFIXES)


@contextmanager
def _exported(repo: Repo, commit: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="invariants-diff-") as tmp:
        root = Path(tmp).resolve()
        repo.export(commit, root, _keep)
        yield root


def _diff_map(repo: Repo, files: Iterable[FileDiff]) -> dict[str, FileDiff]:
    """Index the changed files by their HEAD path relative to the rootdir."""
    mapped: dict[str, FileDiff] = {}
    for diff in files:
        head = repo.to_rootdir(diff.new_path) if diff.new_path else None
        if head is not None:
            mapped[head] = diff
    return mapped


def _base_reader(repo: Repo, commit: str) -> Callable[[FileDiff], str | None]:
    def read(diff: FileDiff) -> str | None:
        return repo.show(commit, diff.old_path) if diff.old_path else None

    return read


def _suspects(side: Side) -> list[str]:
    assert side.invariant_set is not None
    return sorted(
        inv.id
        for inv in side.invariant_set.invariants
        if inv.reviewed and inv.reviewed != fingerprint(inv, side.read)
    )


def _results_by_id(results: RunResults | None) -> dict[str, InvariantResult] | None:
    if results is None:
        return None
    return {res.invariant.id: res for res in results.invariants}


@contextmanager
def _head_root(repo: Repo, rootdir: Path, head: str) -> Iterator[tuple[Path, bool]]:
    if head == WORKTREE:
        yield rootdir, False
    else:
        with _exported(repo, head) as root:
            yield root, True


def run_diff(
    rootdir: Path,
    base: str,
    head: str | None = None,
    *,
    explicit: str | None = None,
    results: RunResults | None = None,
    merge_base: bool = False,
) -> DiffReport:
    """Compare the invariants under `rootdir` at `base` with `head` (None: the working tree).

    Raise GitError for git trouble and HeadInvalid when HEAD's files are invalid.
    """
    repo = Repo(rootdir)
    head_commit = WORKTREE if head is None else repo.resolve(head)
    base_commit = repo.resolve(base)
    if merge_base:
        base_commit = repo.merge_base(base_commit, head_commit)
    head_label = "working tree" if head is None else head
    with (
        _exported(repo, base_commit) as base_root,
        _head_root(repo, rootdir, head_commit) as (head_root, confined),
    ):
        base_side = load_side(
            base_root, base, base_commit, explicit, confined=True, missing_ok=True
        )
        head_side = load_side(head_root, head_label, head_commit, explicit, confined)
        if head_side.problems or head_side.invariant_set is None:
            raise HeadInvalid(head_side.problems)
        head_set = head_side.invariant_set
        old = base_side.invariant_set.invariants if base_side.invariant_set else ()
        old_gate = base_side.invariant_set.gate if base_side.invariant_set else GatePolicy()
        impacts = code_impact(
            head_set.invariants,
            _diff_map(repo, repo.diff(base_commit, head_commit)),
            _base_reader(repo, base_commit),
            head_side.read,
            _results_by_id(results),
        )
        return DiffReport(
            base=base,
            head=head_label,
            changes=tuple(compare_invariants(old, head_set.invariants)),
            gate_changes=tuple(compare_gate(old_gate, head_set.gate)),
            impacts=tuple(impacts),
            suspects=tuple(_suspects(head_side)),
            base_problems=base_side.problems,
            has_results=results is not None,
            prefix=repo.prefix,
            locations={inv.id: inv.location for inv in head_set.invariants},
        )


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


# -- rendering ---------------------------------------------------------------------------


def impact_summary(report: DiffReport) -> str:
    """Return the one-sentence summary of the code impact."""
    count = len(report.impacts)
    noun = "invariant guards" if count == 1 else "invariants guard"
    sentence = f"{count} {noun} code this PR changes"
    if report.has_results:
        sentence += f"; {len(report.unverified_impacts)} of them are not verified"
    return sentence + "."


def _md(text: object) -> str:
    """Escape text for a Markdown table cell or line (no HTML, no table breaks)."""
    value = str(text).replace("\\", "\\\\").replace("|", "\\|")
    value = value.replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(value.split())


def _md_value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(f"`{_md(v)}`" for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{_md(k)}: {_md(v)}" for k, v in value.items())
    return _md(value)


_BADGE: Final = {
    Effect.WEAKENED: "⚠️ weakened",
    Effect.STRENGTHENED: "✅ strengthened",
    Effect.NEUTRAL: "neutral",
}


def _md_headline(report: DiffReport) -> list[str]:
    counts = [f"{len(report.of_kind(k))} {k}" for k in ("added", "removed", "renamed", "changed")]
    lines = [
        f"## Invariants: `{_md(report.base)}` → `{_md(report.head)}`",
        "",
        f"{', '.join(counts)}; **{len(report.weakened)} weakened**. {impact_summary(report)}",
    ]
    if report.base_problems:
        lines += [
            "",
            f"> **Note:** the invariants at `{_md(report.base)}` are invalid "
            f"({len(report.base_problems)} problem(s)); they were compared as far as they "
            "could be read.",
        ]
    return lines


def _md_change(change: Change, suspects: set[str]) -> list[str]:
    name = f"`{_md(change.id)}`"
    if change.old_id:
        name = f"`{_md(change.old_id)}` → {name}"
    flag = " — 🔎 suspect (needs review)" if change.id in suspects else ""
    head = (
        f"#### {name} ({_md(change.severity)}) {_md(change.title)} — {_BADGE[change.effect]}{flag}"
    )
    if not change.fields:
        return [head, ""]
    rows = ["| field | before | after | effect |", "|---|---|---|---|"]
    rows += [
        f"| {f.field} | {_md_value(f.old)} | {_md_value(f.new)} | "
        f"{_BADGE[f.effect]}: {_md(f.reason)} |"
        for f in change.fields
    ]
    return [head, "", *rows, ""]


def _md_list(title: str, changes: Sequence[Change], where: str) -> list[str]:
    if not changes:
        return []
    items = [
        f"- `{_md(c.id)}` ({_md(c.severity)}) {_md(c.title)} — {where} `{_md(c.location)}`"
        for c in changes
    ]
    return [f"### {title}", "", *items, ""]


def _md_impacts(report: DiffReport, suspects: set[str]) -> list[str]:
    if not report.impacts:
        return []
    rows = [
        "### Code changes guarded by invariants",
        "",
        "| invariant | severity | status | changed scope | tests |",
        "|---|---|---|---|---|",
    ]
    for imp in sorted(report.impacts, key=_impact_order):
        scope = "<br>".join(
            f"`{_md(e.entry)}` ({e.how}, {_md(e.file)}:{_lines(e.lines)})" for e in imp.entries
        )
        tests = "<br>".join(f"`{_md(n)}` {link}, {outcome}" for n, link, outcome in imp.tests)
        status = imp.status or ("not in results" if report.has_results else "—")
        flag = " 🔎" if imp.id in suspects else ""
        rows.append(
            f"| `{_md(imp.id)}`{flag} {_md(imp.title)} | {imp.severity} | {status} | "
            f"{scope} | {tests or '—'} |"
        )
    return [*rows, ""]


def _lines(lines: Sequence[int]) -> str:
    return ",".join(str(n) for n in lines[:8]) + ("…" if len(lines) > 8 else "")


def _impact_order(imp: Impact) -> tuple[bool, int, str]:
    return (imp.verified, _severity_rank(imp.severity), imp.id)


def render_markdown(report: DiffReport) -> str:
    """Return the diff as Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY`."""
    suspects = set(report.suspects)
    lines = _md_headline(report) + [""]
    lines += _md_list("Removed", report.of_kind("removed"), "was at")
    changed = sorted(
        (c for c in report.changes if c.kind in ("changed", "renamed")),
        key=lambda c: (Effect.ORDER.index(c.effect), _severity_rank(c.severity)),
    )
    if changed:
        lines += ["### Changed", "", *[ln for c in changed for ln in _md_change(c, suspects)]]
    if report.gate_changes:
        lines += [
            "### Gate policy",
            "",
            *[f"- {_BADGE[g.effect]}: {_md(g.reason)}" for g in report.gate_changes],
            "",
        ]
    lines += _md_list("Added", report.of_kind("added"), "at")
    lines += _md_impacts(report, suspects)
    if report.suspects:
        lines += [
            "### Suspect (meaning or scope code changed since `invariants review`)",
            "",
            *[f"- `{_md(s)}`" for s in report.suspects],
            "",
        ]
    if not (report.changes or report.gate_changes or report.impacts or report.suspects):
        lines += ["No invariant changed, and no guarded code changed.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _json_field(f: FieldChange) -> dict[str, Any]:
    return {"field": f.field, "old": f.old, "new": f.new, "effect": f.effect, "reason": f.reason}


def _json_change(change: Change, suspects: set[str]) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "id": change.id,
        "old_id": change.old_id,
        "title": change.title,
        "severity": change.severity,
        "effect": change.effect,
        "file": change.location.path,
        "line": change.location.line,
        "suspect": change.id in suspects,
        "fields": [_json_field(f) for f in change.fields],
    }


def _json_impact(imp: Impact) -> dict[str, Any]:
    return {
        "id": imp.id,
        "title": imp.title,
        "severity": imp.severity,
        "status": imp.status,
        "verified": imp.verified,
        "entries": [
            {"entry": e.entry, "file": e.file, "lines": list(e.lines), "how": e.how}
            for e in imp.entries
        ],
        "tests": [{"nodeid": n, "link": k, "outcome": o} for n, k, o in imp.tests],
    }


def render_json(report: DiffReport, failed: Sequence[str] = ()) -> str:
    """Return the diff as versioned JSON."""
    suspects = set(report.suspects)
    data = {
        "schema": JSON_SCHEMA,
        "base": report.base,
        "head": report.head,
        "summary": {
            **{
                kind: len(report.of_kind(kind))
                for kind in ("added", "removed", "renamed", "changed")
            },
            "weakened": len(report.weakened),
            "impacted": len(report.impacts),
            "impacted_unverified": len(report.unverified_impacts) if report.has_results else None,
            "suspect": len(report.suspects),
            "sentence": impact_summary(report),
        },
        "base_valid": not report.base_problems,
        "base_problems": [p.render() for p in report.base_problems],
        "changes": [_json_change(c, suspects) for c in report.changes],
        "gate_changes": [_json_field(g) for g in report.gate_changes],
        "impacts": [_json_impact(i) for i in report.impacts],
        "suspects": list(report.suspects),
        "failed": list(failed),
    }
    return json.dumps(data, indent=1) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(level: str, path: str, line: int, title: str, message: str) -> str:
    props = [f"file={_escape_property(path)}"] if path else []
    props += [f"line={line}"] if line else []
    props.append(f"title={_escape_property(title)}")
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


@dataclass(frozen=True)
class _Note:
    level: str  # error | warning | notice
    severity: str
    path: str
    line: int
    title: str
    message: str

    def order(self) -> tuple[int, int]:
        return (("error", "warning", "notice").index(self.level), _severity_rank(self.severity))


def _change_note(change: Change, fail_on: set[str], repo_path: Callable[[str], str]) -> _Note:
    path, line = repo_path(change.location.path), change.location.line
    if change.kind == "removed":
        level = "error" if "removed" in fail_on else "warning"
        return _Note(
            level,
            change.severity,
            path,
            line,
            f"Invariant {change.id} removed",
            f"{change.id} ({change.severity}) was removed: {change.title}",
        )
    reasons = "; ".join(f.reason for f in change.fields) or change.kind
    if change.effect == Effect.WEAKENED:
        level = "error" if "weakened" in fail_on else "warning"
        return _Note(level, change.severity, path, line, f"Invariant {change.id} weakened", reasons)
    title = f"Invariant {change.id} {change.kind}"
    return _Note("notice", change.severity, path, line, title, reasons or change.title)


def _impact_note(
    imp: Impact, fail_on: set[str], has_results: bool, repo_path: Callable[[str], str]
) -> _Note:
    first = imp.entries[0]
    bad = has_results and not imp.verified
    level = "error" if bad and "impacted-unverified" in fail_on else "warning" if bad else "notice"
    status = f" It is {imp.status or 'not in the results'}." if has_results else ""
    scopes = ", ".join(e.entry for e in imp.entries)
    return _Note(
        level,
        imp.severity,
        repo_path(first.file),
        first.lines[0] if first.lines else 0,
        f"Guarded by {imp.id}",
        f"This change touches code guarded by {imp.id} ({imp.severity}): "
        f"{imp.title} [{scopes}].{status}",
    )


def render_github(report: DiffReport, fail_on: Iterable[str] = ()) -> str:
    """Return GitHub workflow annotations, worst first (GitHub shows only the first ten errors)."""
    wanted = set(fail_on)

    def repo_path(path: str) -> str:
        return f"{report.prefix}{path}" if path and not Path(path).is_absolute() else path

    notes = [_change_note(c, wanted, repo_path) for c in report.changes]
    notes += [
        _Note(
            "error"
            if "weakened" in wanted and g.effect == Effect.WEAKENED
            else "warning"
            if g.effect == Effect.WEAKENED
            else "notice",
            "critical",
            "",
            0,
            "Gate policy changed",
            g.reason,
        )
        for g in report.gate_changes
    ]
    notes += [_impact_note(i, wanted, report.has_results, repo_path) for i in report.impacts]
    for iid in report.suspects:
        loc = report.locations.get(iid, Location(""))
        level = "error" if "suspect" in wanted else "warning"
        notes.append(
            _Note(
                level,
                "medium",
                repo_path(loc.path),
                loc.line,
                f"Invariant {iid} is suspect",
                f"{iid}: its meaning or scope code changed since `invariants review`;"
                f" review it and run `invariants review {iid}`",
            )
        )
    notes.sort(key=_Note.order)
    return "".join(_annotation(n.level, n.path, n.line, n.title, n.message) + "\n" for n in notes)

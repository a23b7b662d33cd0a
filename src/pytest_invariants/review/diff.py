"""Compare invariants and the code they guard between two git revisions (docs/diff.md).

Data flows one way: `gitfiles` reads each revision (nothing is checked out),
`loading` validates it as `pytest --invariants` would, the pure functions
`compare_invariants`, `compare_gate` and `code_impact` decide what changed,
and `render_markdown` / `render_json` / `render_github` print the verdict.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Final

from pytest_invariants.load.lenient import lenient_set
from pytest_invariants.load.loading import LoadError, discover, load_invariants
from pytest_invariants.load.pytestini import ini_setting
from pytest_invariants.load.scopes import find_module_source, search_path
from pytest_invariants.model import (
    GatePolicy,
    InvariantResult,
    InvariantSet,
    Location,
    Problem,
    RunResults,
)
from pytest_invariants.review.compare import (
    DiffReport,
    Side,
    code_impact,
    compare_gate,
    compare_invariants,
)
from pytest_invariants.review.fingerprint import disk_reader, suspect_ids
from pytest_invariants.review.gitfiles import WORKTREE, FileDiff, Repo
from pytest_invariants.review.names import ModuleFile

__all__ = ["DiffError", "HeadInvalid", "load_side", "run_diff"]

# Files a revision needs for loading: the invariants, the Python sources its
# scopes name, and the configuration that says where both are.
_EXPORTED_SUFFIXES: Final = (".py", ".pyi", ".yaml", ".yml", ".toml", ".cfg", ".ini")

# -- loading a revision ------------------------------------------------------------------


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
    invariant_set, problems = load_invariants(paths, root, search_path(root, confined=confined))
    shown = _relabel(problems, root, label) if confined else tuple(problems)
    if invariant_set is not None and not problems:
        return Side(label, commit, _relative_set(invariant_set, root), read=disk_reader(root))
    lenient = lenient_set(paths, root)
    return Side(label, commit, lenient, shown, lenient=True, read=disk_reader(root))


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
    return sorted(suspect_ids(side.invariant_set, side.read))


def _results_by_id(results: RunResults | None) -> dict[str, InvariantResult] | None:
    if results is None:
        return None
    return {res.invariant.id: res for res in results.invariants}


def _module_files(root: Path) -> ModuleFile:
    """Find a module's file under `root` (HEAD's files), relative to it; None outside it."""
    roots = search_path(root, confined=True)
    cache: dict[str, str | None] = {}

    def find(dotted: str) -> str | None:
        if dotted not in cache:
            found = find_module_source(dotted, roots)
            path = found.resolve() if found is not None else None
            inside = path is not None and root in path.parents
            cache[dotted] = path.relative_to(root).as_posix() if path and inside else None
        return cache[dotted]

    return find


@contextmanager
def _head_root(repo: Repo, rootdir: Path, head: str) -> Iterator[tuple[Path, bool]]:
    if head == WORKTREE:
        yield rootdir, False
    else:
        with _exported(repo, head) as root:
            yield root, True


def run_diff(
    rootdir: Path,
    base: str | None,
    head: str | None = None,
    *,
    explicit: str | None = None,
    results: RunResults | None = None,
    merge_base: bool = False,
) -> DiffReport:
    """Compare the invariants under `rootdir` at `base` with `head` (None: the working tree).

    Without `base`, compare from the merge base of HEAD and the upstream default
    branch (`origin/HEAD`): what the branch itself changed, not what the default
    branch did since.
    Raise GitError for git trouble and HeadInvalid when HEAD's files are invalid.
    """
    repo = Repo(rootdir)
    if base is None:
        base, merge_base = repo.upstream_default(), True
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
            module_file=_module_files(head_root.resolve()),
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

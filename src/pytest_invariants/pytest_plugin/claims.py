"""Which tests claim which invariants (docs/classification.md): markers and `tests:` globs."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import inspect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_invariants.model import Invariant, Location, Problem
from pytest_invariants.pytest_plugin.marker import MARKER

__all__ = ["CLAIMS", "ClaimMatcher", "ItemClaims", "claims_of", "item_claims", "marker_ids"]


@dataclass(frozen=True)
class ItemClaims:
    ids: tuple[str, ...]  # every claimed id, markers first, in order
    by_glob: tuple[str, ...]  # ids claimed only through a `tests:` glob
    unknown: tuple[Problem, ...]  # marker ids that name no invariant


# Where each item keeps the claims computed for it at collection.
CLAIMS = pytest.StashKey[ItemClaims]()


def item_claims(item: pytest.Item) -> ItemClaims | None:
    """Return the claims computed for `item` at collection, if any."""
    return item.stash.get(CLAIMS, None)


_USAGE = 'write @pytest.mark.invariant("PAY-001", ...) or @pytest.mark.invariant(ids=["PAY-001"])'


def _mark_problems(mark: pytest.Mark) -> list[str]:
    """Return what is wrong with one `invariant` marker, in words (empty when it is fine)."""
    found = []
    unknown = sorted(set(mark.kwargs) - {"ids"})
    if unknown:
        found.append(f"unknown keyword argument(s) {', '.join(unknown)} (only ids= is known)")
    ids = mark.kwargs.get("ids", [])
    if isinstance(ids, str):
        found.append(f"ids={ids!r} is one string, not a list of ids")
    elif not isinstance(ids, (list, tuple)) or not all(isinstance(v, str) for v in ids):
        found.append(f"ids={ids!r} is not a list of id strings")
    if not all(isinstance(arg, str) for arg in mark.args):
        bad = ", ".join(repr(arg) for arg in mark.args if not isinstance(arg, str))
        found.append(f"{bad} is not an id string")
    if not found and not mark.args and not ids:
        found.append("names no invariant id")
    return found


def marker_ids(item: pytest.Item) -> tuple[list[str], list[str]]:
    """Return the ids named by `invariant` markers on the test, its class and its module,
    and what is wrong with any of those markers."""
    ids: list[str] = []
    problems: list[str] = []
    for mark in item.iter_markers(MARKER):
        wrong = _mark_problems(mark)
        if wrong:
            problems.extend(wrong)
            continue
        ids.extend(mark.args)
        ids.extend(mark.kwargs.get("ids", ()))
    return list(dict.fromkeys(ids)), problems


def _item_location(item: pytest.Item, rootdir: Path) -> Location:
    path, lineno, _ = item.reportinfo()
    line = (lineno or 0) + 1
    obj = getattr(item, "obj", None)
    with contextlib.suppress(OSError, TypeError):
        # The decorator line is where the reader wrote the marker.
        line = inspect.getsourcelines(obj)[1] if obj is not None else line
    try:
        rel = Path(path).resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        rel = str(path)
    return Location(rel, line)


def _glob_pattern(globs: Iterable[str]) -> re.Pattern[str] | None:
    """Compile `tests:` globs into one pattern that matches what any of them matches."""
    # fnmatch.translate is what fnmatchcase compiles: the same matches, one regex call.
    parts = [f"(?:{fnmatch.translate(glob)})" for glob in dict.fromkeys(globs)]
    return re.compile("|".join(parts)) if parts else None


class ClaimMatcher:
    """The invariants' ids and `tests:` globs, compiled once for every collected item.

    Most items match no glob at all: one regex over every glob tells them apart
    with one call, and only the items it matches are tried per invariant.
    """

    def __init__(self, invariants: Iterable[Invariant]) -> None:
        invariants = list(invariants)
        self.known = frozenset(inv.id for inv in invariants)
        self._by_id: list[tuple[str, re.Pattern[str]]] = []
        for inv in invariants:
            pattern = _glob_pattern(inv.tests)
            if pattern is not None:
                self._by_id.append((inv.id, pattern))
        self._any = _glob_pattern(glob for inv in invariants for glob in inv.tests)

    def glob_ids(self, nodeid: str) -> list[str]:
        """Return, in file order, the ids whose `tests:` globs match `nodeid`."""
        if self._any is None or self._any.match(nodeid) is None:
            return []
        return [iid for iid, pattern in self._by_id if pattern.match(nodeid) is not None]


def claims_of(
    item: pytest.Item, invariants: Sequence[Invariant] | ClaimMatcher, rootdir: Path
) -> ItemClaims:
    """Return what one collected test claims, and the unknown ids its markers name."""
    matcher = invariants if isinstance(invariants, ClaimMatcher) else ClaimMatcher(invariants)
    known = matcher.known
    marked, wrong = marker_ids(item)
    unknown = [
        Problem(
            _item_location(item, rootdir),
            f"test {item.nodeid}: @pytest.mark.invariant {what}",
            _USAGE,
        )
        for what in wrong
    ]
    for iid in marked:
        if iid in known:
            continue
        near = difflib.get_close_matches(iid, sorted(known), n=3)
        fix = f"did you mean {', '.join(near)}?" if near else "add it to the invariants file"
        unknown.append(
            Problem(
                _item_location(item, rootdir),
                f"test {item.nodeid} claims unknown invariant {iid!r}",
                fix,
                iid,
            )
        )
    globbed = [iid for iid in matcher.glob_ids(item.nodeid) if iid not in marked]
    ids = [iid for iid in marked if iid in known] + globbed
    return ItemClaims(tuple(ids), tuple(globbed), tuple(unknown))

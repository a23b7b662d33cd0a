"""The HTML report's "code → rules" view: per scope file, which invariants guard each line.

The same question `invariants why` answers, from the code side: a reviewer
scrolls a file and sees, on every line, the rules that would notice if it
broke, coloured by their status. Plain view values only; the template renders them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_invariants.model import InvariantResult

__all__ = ["MAX_FILE_LINES", "CodeFileView", "GuardRef", "RuleLine", "code_files"]

# A longer scope file shows its first lines only, with a note.
MAX_FILE_LINES = 2000


@dataclass(frozen=True)
class GuardRef:
    id: str
    index: int  # the invariant's row in the report, for its link
    status: str


@dataclass(frozen=True)
class RuleLine:
    number: int
    text: str
    guards: tuple[GuardRef, ...]


@dataclass(frozen=True)
class CodeFileView:
    file: str
    guards: tuple[GuardRef, ...]  # every invariant with scope in the file
    note: str
    lines: tuple[RuleLine, ...]


def _guards_by_file(
    results: Sequence[InvariantResult],
) -> dict[str, list[tuple[GuardRef, tuple[int, int] | None]]]:
    found: dict[str, list[tuple[GuardRef, tuple[int, int] | None]]] = {}
    for index, res in enumerate(results):
        ref = GuardRef(res.invariant.id, index, res.status.value)
        for entry in res.invariant.code:
            found.setdefault(entry.file, []).append((ref, entry.lines))
    return found


def _file_view(
    file: str, spans: list[tuple[GuardRef, tuple[int, int] | None]], source: list[str] | str
) -> CodeFileView:
    refs = tuple(dict.fromkeys(ref for ref, _ in spans))
    if isinstance(source, str):
        return CodeFileView(file, refs, source, ())
    shown = min(len(source), MAX_FILE_LINES)
    note = f"showing the first {shown} of {len(source)} lines" if len(source) > shown else ""
    lines = []
    for number in range(1, shown + 1):
        guards = tuple(
            dict.fromkeys(
                ref for ref, span in spans if span is None or span[0] <= number <= span[1]
            )
        )
        lines.append(RuleLine(number, source[number - 1], guards))
    return CodeFileView(file, refs, note, tuple(lines))


def code_files(
    results: Sequence[InvariantResult], read: Callable[[str], list[str] | str]
) -> tuple[CodeFileView, ...]:
    """Return one view per scope file, in path order; `read` gives its lines or why not."""
    by_file = _guards_by_file(results)
    return tuple(_file_view(file, by_file[file], read(file)) for file in sorted(by_file))

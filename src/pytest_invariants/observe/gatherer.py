"""Gather one test's evidence where the test runs (in the main process or an xdist worker).

Owns the line recorder and the double observer, starts and stops them around
each test, and turns what they saw into a `TestEvidence`. The pytest side hands
that value straight to the collector in a serial run; only an xdist worker turns
it into a dict for the teardown report (docs/performance.md: a serial run paid
~150 µs a test to write the dict and read it back).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

from pytest_invariants.model import (
    DoubleKind,
    DoubleRecord,
    InvariantSet,
    LineSet,
    MockCall,
    Outcome,
    ScopeEntry,
    ScopeKind,
    TestEvidence,
)
from pytest_invariants.observe import child
from pytest_invariants.observe.assignments import AssignmentWatch, TestFiles
from pytest_invariants.observe.child import Evidence
from pytest_invariants.observe.children import ChildWatch
from pytest_invariants.observe.choose import make_recorder
from pytest_invariants.observe.doubles import DoubleObserver
from pytest_invariants.observe.recorder import LineRecorder, Regions
from pytest_invariants.results import evidence_to_dict

__all__ = ["DetectorReporter", "EvidenceGatherer", "scope_files", "scope_regions"]


def scope_files(invariant_set: InvariantSet, rootdir: Path) -> dict[str, str]:
    """Return {absolute real path: rootdir-relative path} for every scope file."""
    files: dict[str, str] = {}
    for inv in invariant_set.invariants:
        for entry in inv.code:
            files[os.path.realpath(rootdir / entry.file)] = entry.file
    return files


def scope_regions(invariant_set: InvariantSet, rootdir: Path) -> dict[str, Regions]:
    """Return {absolute real path: its entries' line spans, or None for the whole file}."""
    spans: dict[str, list[tuple[int, int]] | None] = {}
    for inv in invariant_set.invariants:
        for entry in inv.code:
            path = os.path.realpath(rootdir / entry.file)
            known = spans.setdefault(path, [])
            if entry.lines is None or known is None:
                spans[path] = None
            else:
                known.append(entry.lines)
    return {
        path: None if found is None else tuple(sorted(set(found))) for path, found in spans.items()
    }


def scope_module(entry: ScopeEntry) -> str | None:
    """Return the module an entry's code lives in (None for a file outside the import path)."""
    if entry.kind is ScopeKind.QUALNAME:
        return entry.raw.strip().partition(":")[0]
    return entry.dotted


class _ReadNames:
    """Which scope modules each invariant and each scope file stands for, and their reads."""

    def __init__(self, invariant_set: InvariantSet) -> None:
        self.chains: dict[str, set[tuple[str, ...]]] = {}
        self.by_invariant: dict[str, tuple[str, ...]] = {}
        self.by_file: dict[str, tuple[str, ...]] = {}
        files: dict[str, dict[str, None]] = {}
        for inv in invariant_set.invariants:
            found: dict[str, None] = {}
            for entry in inv.code:
                module = scope_module(entry)
                if module is None:
                    continue
                prefix = module + "."
                chains = self.chains.setdefault(module, set())
                chains.update(
                    tuple(read[len(prefix) :].split("."))
                    for read in entry.reads
                    if read.startswith(prefix)
                )
                found[module] = None
                files.setdefault(entry.file, {})[module] = None
            if found:
                self.by_invariant[inv.id] = tuple(found)
        self.by_file = {file: tuple(modules) for file, modules in files.items()}

    def modules(self, claims: Iterable[str], files: Iterable[str] = ()) -> dict[str, None]:
        found: dict[str, None] = {}
        for iid in claims:
            found.update(dict.fromkeys(self.by_invariant.get(iid, ())))
        for file in files:
            found.update(dict.fromkeys(self.by_file.get(file, ())))
        return found


_NOT_TEST_CODE = (os.sep + "site-packages" + os.sep, os.sep + "_pytest" + os.sep, "pluggy")


def _test_code_location(rootdir: Path) -> str | None:
    """Return `path:line` of the innermost frame in the project's own code."""
    root = str(rootdir)
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(root) and not any(part in path for part in _NOT_TEST_CODE):
            return f"{os.path.relpath(path, root)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


class DetectorReporter:
    """The `reporter` handed to detector plugins (hookspecs.DoubleReporter).

    Every target activated under one key is a name of one double: freezegun's
    `clock`, `time` and `datetime` are one fake clock, so `allow_doubles: [clock]`
    must cover all three. An activation is therefore one record, at one place:
    its first name as the target, the others as its aliases.
    """

    def __init__(self, observer: DoubleObserver, rootdir: Path) -> None:
        self._observer = observer
        self._rootdir = rootdir
        self._active: dict[object, DoubleRecord] = {}
        self.current_test_file = "?"

    def activated(
        self,
        target: str,
        replacement: str,
        via: str,
        *,
        where: str | None = None,
        key: object = None,
    ) -> None:
        if key is None:
            key = (target, replacement, via, object())
        earlier = self._active.pop(key, None)
        names = [target]
        if earlier is not None:  # superseded by the record below: one double, told once
            self._observer.add_external(earlier, active=False, superseded=True)
            names = list(dict.fromkeys([earlier.target, *earlier.aliases, target]))
        place = where or _test_code_location(self._rootdir) or self.current_test_file
        record = DoubleRecord(
            target=names[0],
            kind=DoubleKind.DOUBLE,
            replacement=replacement,
            via=via,
            where=earlier.where if earlier is not None and where is None else place,
            aliases=tuple(names[1:]),
        )
        self._active[key] = record
        self._observer.add_external(record, active=True)

    def deactivated(self, key: object) -> None:
        record = self._active.pop(key, None)
        if record is not None:
            self._observer.add_external(record, active=False)

    def owns(self, package: str, via: str) -> None:
        self._observer.detected_library(package, via)


class EvidenceGatherer:
    """Start, stop and read the observers around each test."""

    def __init__(
        self,
        invariant_set: InvariantSet,
        rootdir: Path,
        testpaths: Sequence[str] = (),
        python_files: Sequence[str] = ("test_*.py", "*_test.py"),
        children: bool = True,
    ) -> None:
        self._rootdir = rootdir
        self._watch_children = children
        self._children: ChildWatch | None = None
        self._child_problems: tuple[str, ...] = ()
        self._child_problems_seen: set[str] = set()
        self._files = scope_files(invariant_set, rootdir)
        self._regions = scope_regions(invariant_set, rootdir)
        self._doubles = DoubleObserver(rootdir, list(self._files))
        self._reads = _ReadNames(invariant_set)
        tests = TestFiles(
            str(rootdir), self._doubles.is_user_file, self._files, testpaths, python_files
        )
        self._assignments = AssignmentWatch(self._reads.chains, tests, self._doubles)
        self._nodeid = ""
        self._recorder: LineRecorder | None = None
        self._started = 0.0
        self._problems_seen = 0
        self._shared: dict[tuple[str, bytes], LineSet] = {}  # every distinct line set, once
        self.reporter = DetectorReporter(self._doubles, rootdir)

    @property
    def recorder_name(self) -> str:
        return self._recorder.name if self._recorder else ""

    def install(self) -> None:
        """Hook the double libraries; called once per process before any test."""
        self._doubles.install()
        child.stop()  # this process may itself be a test's child (xdist worker, nested run)
        if self._files and self._watch_children and self._children is None:
            # Before collection: an environment copied at import still reaches children.
            self._children = ChildWatch(
                self._regions, self._take_for_child, rootdir=str(self._rootdir)
            )
            self._children.install()

    def start_tracing(self) -> None:
        """Instrument the scope code; called after collection imported it."""
        if self._files and self._recorder is None:
            cache = self._rootdir / ".invariants" / "probes"
            self._recorder = make_recorder(self._regions, cache_dir=cache)
            self._recorder.start()
        self._assignments.begin_test()  # the originals, before any fixture runs

    def _take_for_child(self) -> Evidence:
        """What a forked child saw so far (it inherited this process's observers)."""
        executed = self._recorder.end_test() if self._recorder is not None else {}
        if self._recorder is not None:
            self._recorder.begin_test()
        doubles, calls = self._doubles.end_test()
        self._doubles.begin_test("")
        data = evidence_to_dict(
            TestEvidence("child", Outcome.PASSED, doubles=doubles, mock_calls=calls)
        )
        return executed, data["doubles"], data["mock_calls"], []

    def uninstall(self) -> None:
        """Remove every hook and instrument, restoring what was there."""
        if self._children is not None:
            self._children.uninstall()
            self._children = None
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None
        self._doubles.uninstall()

    def begin_test(self, nodeid: str, line: int | None = None) -> None:
        """Start observing a test; `line` is its first line (its first decorator's)."""
        self._started = time.perf_counter()
        # Decorator forms (`@freeze_time`, `@responses.activate`) start doubles with no
        # test frame on the stack: the test's own line is where they were made.
        test_file = nodeid.split("::", 1)[0]
        self.reporter.current_test_file = f"{test_file}:{line}" if line else test_file
        self._doubles.test_location = self.reporter.current_test_file
        if self._recorder is not None:
            self._recorder.begin_test()
        if self._children is not None:
            self._children.begin_test()
        self._doubles.begin_test(nodeid)
        self._nodeid = nodeid
        self._assignments.begin_test()

    def check_assignments(self, claims: Sequence[str], moment: str) -> None:
        """Look for fakes bound by assignment in what the claimed invariants' code reads.

        Called when a claiming test's setup ends and when its call ends: a fixture
        that restores the name in teardown must not hide its fake.
        """
        modules = self._reads.modules(claims)
        if modules:
            self._assignments.check(modules, f"{self._nodeid} (bound {moment})")

    def _relative(self, executed: Mapping[str, AbstractSet[int]]) -> dict[str, LineSet]:
        # The recorder reports the very paths it was given (the keys of _files), so
        # a lookup is enough; realpath (an lstat per path component) only on a miss.
        out: dict[str, LineSet] = {}
        for path, lines in executed.items():
            rel = self._files.get(path) or self._files.get(os.path.realpath(path))
            if rel is not None and lines:
                lines = lines if isinstance(lines, LineSet) else LineSet(lines)
                out[rel] = LineSet([*out[rel], *lines]) if rel in out else lines
        for rel, lines in out.items():
            # Tests of one feature run the same lines: 12,680 packaging tests ran 1,861
            # distinct sets. Equal sets are kept once (a LineSet never changes).
            packed = lines.packed()
            if packed is not None:
                out[rel] = self._shared.setdefault((rel, packed), lines)
        return out

    def _new_recorder_problems(self) -> tuple[str, ...]:
        """Return the recorder's problems not reported yet (its list only grows)."""
        if self._recorder is None:
            return ()
        problems = self._recorder.problems()
        new, self._problems_seen = problems[self._problems_seen :], len(problems)
        return tuple(new)

    def _with_children(
        self,
        executed: Mapping[str, AbstractSet[int]],
        doubles: tuple[DoubleRecord, ...],
        calls: tuple[MockCall, ...],
        warnings: tuple[str, ...],
    ) -> tuple[
        Mapping[str, AbstractSet[int]],
        tuple[DoubleRecord, ...],
        tuple[MockCall, ...],
        tuple[str, ...],
    ]:
        """Add what the test's child processes saw (docs/children.md)."""
        assert self._children is not None
        found = self._children.end_test()
        problem = self._children.problem
        if problem and problem not in self._child_problems_seen:
            self._child_problems_seen.add(problem)
            self._child_problems += (problem,)
        warnings, self._child_problems = warnings + self._child_problems, ()
        if not found:
            return executed, doubles, calls, warnings
        lines = {path: set(hit) for path, hit in executed.items()}
        for ev in found:
            for path, hit in ev.executed.items():
                lines.setdefault(path, set()).update(hit)
        doubles = tuple(dict.fromkeys([*doubles, *(d for ev in found for d in ev.doubles)]))
        calls = tuple(dict.fromkeys([*calls, *(c for ev in found for c in ev.mock_calls)]))
        warnings = tuple(
            dict.fromkeys([*warnings, *(w for ev in found for w in ev.observation_warnings)])
        )
        return {p: frozenset(h) for p, h in lines.items()}, doubles, calls, warnings

    def end_test(
        self, nodeid: str, claims: Sequence[str], glob_claims: Sequence[str]
    ) -> TestEvidence:
        """Stop observing the current test and return its evidence."""
        duration = time.perf_counter() - self._started
        executed = self._recorder.end_test() if self._recorder is not None else {}
        warnings = self._new_recorder_problems()
        relative = self._relative(executed) if executed else {}
        if relative or claims:  # fakes bound in this process: its own lines decide
            modules = self._reads.modules(claims, relative)
            if modules:
                where = f"{nodeid} (bound at the end of the test)"
                self._assignments.check(modules, where)
        doubles, calls = self._doubles.end_test()
        warnings += self._doubles.take_warnings()
        if self._children is not None:
            merged, doubles, calls, warnings = self._with_children(
                executed, doubles, calls, warnings
            )
            if merged is not executed:  # a child ran scope lines
                relative = self._relative(merged)
        return TestEvidence(
            nodeid=nodeid,
            outcome=Outcome.PASSED,  # the receiving side sets the real outcome from the reports
            claims=tuple(claims),
            glob_claims=tuple(glob_claims),
            executed=relative,
            doubles=doubles,
            mock_calls=calls,
            duration=duration,
            observation_warnings=warnings,
        )

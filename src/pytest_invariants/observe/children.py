"""The parent's side of observing child processes (docs/children.md).

`ChildWatch` prepares a run folder (the scope files for children to observe),
makes sure the start-up hook file is in site-packages, keeps the one variable
`PYTEST_INVARIANTS_CHILD` pointing at the current test's slot, and at the end of
each test reads what the test's children wrote. A test that starts no child
costs a write of a few bytes into a shared page and one failed directory listing.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import sysconfig
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_invariants.model import Outcome, TestEvidence
from pytest_invariants.observe import child
from pytest_invariants.observe.importwatch import when_imported
from pytest_invariants.results import evidence_from_dict

if TYPE_CHECKING:
    from pytest_invariants.observe.recorder import Regions

__all__ = ["PTH_LINE", "PTH_NAME", "ChildWatch", "install_startup_hook"]

PTH_NAME = "pytest_invariants_child.pth"
# Inert unless the variable is set: one dictionary lookup at every Python start-up.
PTH_LINE = (
    f'import os; os.environ.get("{child.VAR}") and '
    '__import__("pytest_invariants.observe.child").observe.child.start()\n'
)


def install_startup_hook(site_packages: str | None = None) -> str | None:
    """Write the start-up hook into site-packages; return why not, or None."""
    folder = site_packages or sysconfig.get_paths()["purelib"]
    path = os.path.join(folder, PTH_NAME)
    try:
        if Path(path).is_file() and Path(path).read_text(encoding="utf-8") == PTH_LINE:
            return None
        partial = f"{path}.{os.getpid()}.tmp"
        Path(partial).write_text(PTH_LINE, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        return f"child processes are not observed: cannot write {path} ({exc.strerror})"
    return None


class ChildWatch:
    """Hand each test's slot to the children it starts, and read back what they saw."""

    def __init__(self, files: Mapping[str, Regions], take: child.Take, rootdir: str = "") -> None:
        self._regions = dict(files)  # scope file -> its entries' spans (None: whole file)
        self._rootdir = rootdir  # where a fresh child tells test code from production
        self._take = take
        self._rundir: str | None = None
        self._slot = ""
        self._count = 0
        self._undo: Callable[[], None] | None = None
        self._current: mmap.mmap | None = None
        self._previous: str | None = None
        self.problem: str | None = None

    def install(self) -> None:
        """Create the run folder, the start-up hook and the multiprocessing watch."""
        self.problem = install_startup_hook()
        self._rundir = tempfile.mkdtemp(prefix="pytest-invariants-children-")
        config = {"regions": self._regions, "rootdir": self._rootdir}
        Path(self._rundir, "config.json").write_text(json.dumps(config), encoding="utf-8")
        # The current slot lives in a shared page: setting it is a memory write, and
        # a child reads the latest value even from an environment copied at import.
        with open(os.path.join(self._rundir, child.CURRENT), "w+b") as stream:
            stream.write(b" " * child.SLOT_SIZE)
            stream.flush()
            self._current = mmap.mmap(stream.fileno(), child.SLOT_SIZE)
        self._previous = os.environ.get(child.VAR)
        os.environ[child.VAR] = self._rundir
        rundir = self._rundir

        def watch(module: object) -> list[Callable[[], None]]:
            try:
                child.watch_multiprocessing(rundir, lambda: self._slot, self._take)
            except Exception as exc:  # noqa: BLE001 - the user's import must go on
                self.problem = f"multiprocessing children are not observed: {exc!r}"
                return []
            return [child.unwatch_multiprocessing]

        self._undo = when_imported("multiprocessing.process", watch)

    def uninstall(self) -> None:
        """Remove the variable, the watch and the run folder (the hook file stays: inert)."""
        if self._previous is None:
            os.environ.pop(child.VAR, None)
        else:  # a watch of an enclosing run (an in-process pytester run) goes on
            os.environ[child.VAR] = self._previous
        if self._current is not None:
            self._current.close()
            self._current = None
        if self._undo is not None:
            self._undo()
            self._undo = None
        if self._rundir is not None:
            shutil.rmtree(self._rundir, ignore_errors=True)
            self._rundir = None

    def _point_at(self, slot: str) -> None:
        self._slot = slot
        if self._current is not None:
            self._current[:] = slot.encode().ljust(child.SLOT_SIZE)

    def begin_test(self) -> None:
        """Point children started from now on at a new slot."""
        if self._rundir is not None:
            self._count += 1
            self._point_at(str(self._count))

    def end_test(self) -> list[TestEvidence]:
        """Return what the current test's children wrote, and forget their files."""
        if self._rundir is None:
            return []
        folder = os.path.join(self._rundir, self._slot)
        self._point_at("")
        try:
            names = os.listdir(folder)
        except OSError:
            return []  # no child wrote anything: the usual case
        found = [self._read(os.path.join(folder, name)) for name in sorted(names)]
        shutil.rmtree(folder, ignore_errors=True)
        return [ev for ev in found if ev is not None]

    def _read(self, path: str) -> TestEvidence | None:
        if not path.endswith(".json"):
            return None
        try:
            return evidence_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            warning = f"unreadable evidence of a child process ({path}): {exc}"
            return TestEvidence("child", Outcome.PASSED, observation_warnings=(warning,))

"""Observe scope code in Python child processes a test starts (docs/children.md).

This module runs in two places and must stay import-light:

* in a **fresh child** (`subprocess` with any Python that has this package, and
  multiprocessing's spawn and forkserver): the start-up hook
  `pytest_invariants_child.pth` calls `start()`, which does nothing unless the
  one variable `PYTEST_INVARIANTS_CHILD` is set. It removes the variable from
  `os.environ` at once (the child's own code never sees it), starts our line
  recorder on the scope files only, and writes what it saw when the process
  ends: at exit, at the end of a multiprocessing process, or on SIGTERM.
* in the **pytest process** (and in every child): `watch_multiprocessing`
  stamps each `multiprocessing` process with the current test's slot when it
  starts, and wraps its bootstrap so that a multiprocessing child (a forked one
  inherits the parent's recorder) writes its evidence before each message it
  sends its parent and before `os._exit`, with no SIGTERM handler of ours.

Evidence goes to `<rundir>/<slot>/<pid>.json`, replaced atomically, so the
parent reads a whole file or none; the parent reads its test's slot before the
test's teardown report. Nothing here may raise into the user's process.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from pytest_invariants.observe.forksafe import guard_forks, is_ours

__all__ = [
    "VAR",
    "Evidence",
    "start",
    "stop",
    "unwatch_multiprocessing",
    "watch_multiprocessing",
    "write_evidence",
]

VAR = "PYTEST_INVARIANTS_CHILD"  # the run folder; the only variable we set
CURRENT = "current"  # file in the run folder: the running test's slot, space-padded
SLOT_SIZE = 32
SLOT_ATTR = "_pytest_invariants_slot"

# (executed {abs path: lines}, doubles as dicts, mock calls as dicts, warnings)
Evidence = tuple[Mapping[str, AbstractSet[int]], list[Any], list[Any], list[str]]
Take = Callable[[], Evidence]


class _Process:
    """What this process knows: where evidence goes, the current slot, how to take it."""

    def __init__(self, rundir: str, slot: str, take: Take) -> None:
        self.rundir = rundir
        self.slot = slot
        self.take = take
        self.pid = os.getpid()
        self.kept: dict[str, dict[str, set[int]]] = {}
        self.extra: dict[str, tuple[list[Any], list[Any], list[str]]] = {}

    def collect(self) -> bool:
        """Move what was recorded so far into the current slot's share; say if it grew."""
        executed, doubles, calls, warnings = self.take()
        lines = self.kept.setdefault(self.slot, {})
        grew = False
        for path, hit in executed.items():
            known = lines.setdefault(path, set())
            if not hit <= known:
                known.update(hit)
                grew = True
        old = self.extra.setdefault(self.slot, ([], [], []))
        for kept, seen in zip(old, (doubles, calls, warnings), strict=True):
            new = [item for item in seen if item not in kept]
            kept.extend(new)
            grew = grew or bool(new)
        return grew

    def flush(self, *, only_if_new: bool = False) -> None:
        """Write every slot's evidence; a failure costs only this child's evidence."""
        if os.getpid() != self.pid:
            return  # a forked copy that was never told it is a child
        try:
            if not self.collect() and only_if_new:
                return
            for slot, lines in self.kept.items():
                doubles, calls, warnings = self.extra.get(slot, ([], [], []))
                write_evidence(self.rundir, slot, lines, doubles, calls, warnings)
        except Exception:  # noqa: BLE001 - never break the user's process at exit
            pass


_current: _Process | None = None


def write_evidence(
    rundir: str,
    slot: str,
    lines: dict[str, set[int]],
    doubles: list[Any],
    calls: list[Any],
    warnings: list[str],
) -> None:
    """Write one process's evidence for one slot atomically, in the results' evidence form."""
    if not slot or (not any(lines.values()) and not doubles and not calls and not warnings):
        return  # between tests, or nothing seen (a forkserver's own process, an idle child)
    folder = os.path.join(rundir, slot)
    os.makedirs(folder, exist_ok=True)
    data = {
        "nodeid": f"child process {os.getpid()}",
        "outcome": "passed",
        "executed": {path: sorted(hit) for path, hit in lines.items() if hit},
        "doubles": doubles,
        "mock_calls": calls,
        "observation_warnings": warnings,
    }
    path = os.path.join(folder, f"{os.getpid()}.json")
    partial = f"{path}.tmp"
    with open(partial, "w", encoding="utf-8") as stream:
        json.dump(data, stream)
    os.replace(partial, path)


# -- the start-up hook ---------------------------------------------------------


_stop_recorder: Callable[[], None] | None = None


def stop() -> None:
    """Stop observing this process as a child: it runs `pytest --invariants` itself.

    An xdist worker or a nested pytest run started by a test is such a child;
    its own recorder takes over, and two recorders on the same code would
    disturb each other. What was seen until now is written first.
    """
    global _current, _stop_recorder
    _flush()
    _current = None
    with contextlib.suppress(ValueError):  # not the main thread
        if getattr(signal.getsignal(signal.SIGTERM), "__module__", "") == __name__:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _stop_recorder is not None:
        with contextlib.suppress(Exception):
            _stop_recorder()
        _stop_recorder = None
    atexit.unregister(_flush)


def start() -> None:
    """Begin observing this fresh child, when the parent asked for it."""
    global _current, _stop_recorder
    rundir = os.environ.pop(VAR, None)
    if not rundir or _current is not None:
        return
    try:
        slot = current_slot(rundir)
        with open(os.path.join(rundir, "config.json"), encoding="utf-8") as stream:
            config = json.load(stream)
        regions = _regions(config)
        files = list(regions)
        from pytest_invariants.observe.choose import make_recorder

        recorder = make_recorder(regions)
        recorder.start()
        recorder.begin_test()
        doubles = _ChildDoubles(str(config.get("rootdir") or ""), files)
    except Exception:  # noqa: BLE001 - a child we cannot observe still runs normally
        return

    def take() -> Evidence:
        executed = recorder.end_test()
        recorder.begin_test()
        made, calls = doubles.take()
        return executed, made, calls, list(recorder.problems())

    _current = _Process(rundir, slot, take)

    def stop_observing() -> None:
        doubles.stop()
        recorder.stop()

    _stop_recorder = stop_observing
    atexit.register(_flush)
    _on_sigterm()
    watch_multiprocessing(rundir, lambda: current_slot(rundir), take)


def _regions(config: dict[str, Any]) -> dict[str, Any]:
    """Return scope file -> its entries' spans (None: the whole file) from the run's config."""
    return {
        str(file): None if spans is None else tuple(tuple(span) for span in spans)
        for file, spans in config["regions"].items()
    }


class _ChildDoubles:
    """Doubles made in a fresh child, observed once it imports `unittest.mock`.

    The double observer needs pytest's monkeypatch module (~0.15 s to import), so
    only a child that imports a mock library pays for it.
    """

    def __init__(self, rootdir: str, files: list[str]) -> None:
        self._rootdir = rootdir
        self._files = files
        self._observer: Any = None
        self._remove: Callable[[], None] | None = None
        if rootdir:
            # Import-light until a child imports unittest.mock.
            from pytest_invariants.observe.importwatch import when_imported

            self._remove = when_imported("unittest.mock", self._install)

    def stop(self) -> None:
        """Remove the watch and every hook the observer installed."""
        remove, self._remove, self._observer = self._remove, None, None
        if remove is not None:
            remove()

    def _install(self, module: object) -> list[Callable[[], None]]:
        # Called right after `unittest.mock` ran, before the import system binds it
        # on its package; the hooks read it as `unittest.mock`, so bind it now.
        package = sys.modules.get("unittest")
        if package is not None and "mock" not in vars(package):
            package.mock = module  # type: ignore[attr-defined]
        try:
            # Only here: pytest's monkeypatch machinery, for a child that uses mocks.
            from pathlib import Path

            from pytest_invariants.observe.doubles import DoubleObserver

            observer = DoubleObserver(Path(self._rootdir), self._files)
            observer.install()
            observer.begin_test("child process")
        except Exception:  # noqa: BLE001 - the child's own import must go on
            return []
        self._observer = observer
        return [observer.uninstall]

    def take(self) -> tuple[list[Any], list[Any]]:
        """The doubles and scope mock calls seen since the last take, as results dicts."""
        if self._observer is None:
            return [], []
        made, calls = self._observer.end_test()
        self._observer.begin_test("child process")
        if not made and not calls:
            return [], []
        # Only for a child that made a double: the results' evidence form.
        from pytest_invariants.model import Outcome, TestEvidence
        from pytest_invariants.results import evidence_to_dict

        evidence = TestEvidence("child", Outcome.PASSED, doubles=made, mock_calls=calls)
        data = evidence_to_dict(evidence)
        return list(data["doubles"]), list(data["mock_calls"])


def current_slot(rundir: str) -> str:
    """Return the slot of the test running in the parent now ('' between tests)."""
    try:
        with open(os.path.join(rundir, CURRENT), "rb") as stream:
            return stream.read(SLOT_SIZE).decode("ascii", "replace").strip()
    except OSError:
        return ""


def _flush() -> None:
    if _current is not None:
        _current.flush()


def _on_sigterm() -> None:
    """Write the evidence on SIGTERM (how servers are stopped), then die of it.

    Fresh children only: a multiprocessing child never keeps this (`_begin_process`).
    """
    try:
        handler = signal.getsignal(signal.SIGTERM)
    except ValueError:  # not the main thread
        return
    if handler is not signal.SIG_DFL and not is_ours(handler):
        return  # the child's own handler decides how it ends

    def flush_and_die(signum: int, frame: object) -> None:
        try:
            _flush()
        finally:  # whatever happened while writing, the process ends as SIGTERM says
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, flush_and_die)
        guard_forks()


# -- multiprocessing -------------------------------------------------------------


def watch_multiprocessing(rundir: str, slot: Callable[[], str], take: Take) -> None:
    """Stamp processes with the current slot; make each child write its evidence."""
    module = sys.modules.get("multiprocessing.process")
    if module is None:  # a fresh child: cheap to import; the parent hands it over
        module = importlib.import_module("multiprocessing.process")
    # The package may still be importing this very module: never read it as
    # `multiprocessing.process`, which exists only once the package is done.
    cls: Any = module.BaseProcess
    if getattr(cls, "_pytest_invariants_watch", None) is not None:
        cls._pytest_invariants_watch = (rundir, slot, take)
        return
    cls._pytest_invariants_watch = (rundir, slot, take)
    original_start = cls.start
    original_bootstrap = cls._bootstrap

    def start(self: Any) -> None:
        watch = type(self)._pytest_invariants_watch
        if watch is not None:
            setattr(self, SLOT_ATTR, watch[1]())
        return original_start(self)  # type: ignore[no-any-return]

    def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> Any:
        _begin_process(self)
        try:
            return original_bootstrap(self, *args, **kwargs)
        finally:
            _flush()

    start.__wrapped__ = original_start  # type: ignore[attr-defined]
    _bootstrap.__wrapped__ = original_bootstrap  # type: ignore[attr-defined]
    cls.start = start
    cls._bootstrap = _bootstrap


def unwatch_multiprocessing() -> None:
    """Put multiprocessing's own methods back."""
    module = sys.modules.get("multiprocessing.process")
    cls: Any = getattr(module, "BaseProcess", None)
    if cls is None or "_pytest_invariants_watch" not in vars(cls):
        return
    for name in ("start", "_bootstrap"):
        wrapped = getattr(vars(cls)[name], "__wrapped__", None)
        if wrapped is not None:
            setattr(cls, name, wrapped)
    del cls._pytest_invariants_watch


def _begin_process(process: Any) -> None:
    """At the start of a multiprocessing child: a fresh share, for the stamped slot."""
    global _current
    watch = getattr(type(process), "_pytest_invariants_watch", None)
    if watch is None:
        return
    rundir, slot, take = watch
    _current = None
    # No SIGTERM handler of ours in a multiprocessing child: pools end their workers
    # with SIGTERM, and a Python-level handler can lose it (it may arrive between a
    # worker's last signal check and its wait on the task queue's lock, and the
    # pool then joins that worker forever). The evidence is written before each
    # message the child sends to its parent instead (`_flush_before_sending`).
    with contextlib.suppress(Exception):
        if is_ours(signal.getsignal(signal.SIGTERM)):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        stamped = getattr(process, SLOT_ATTR, None) or slot()
        take()  # forget what the parent (or the start-up) recorded before this child ran
        _current = _Process(rundir, stamped, take)
        _flush_before_sending()
    except Exception:  # noqa: BLE001 - never break the user's process
        _current = None


def _flush_before_sending() -> None:
    """Write new evidence before this child sends its parent anything.

    A pool's result, an executor's future, a queue item or a pipe message all go
    through `Connection._send_bytes`: once the parent has a child's answer, the
    lines that produced it are on disk, however the child ends afterwards. Only
    new lines cause a write. This patches the class in this child process only.
    """
    from multiprocessing import connection

    cls: Any = connection.Connection
    if getattr(cls._send_bytes, "_pytest_invariants", False):
        return
    original = cls._send_bytes

    def _send_bytes(self: Any, buf: Any) -> None:
        if _current is not None:
            _current.flush(only_if_new=True)
        original(self, buf)

    _send_bytes._pytest_invariants = True  # type: ignore[attr-defined]
    cls._send_bytes = _send_bytes

"""Observe the test doubles a test puts in place, and the mocks scope code calls.

`DoubleObserver` hooks `unittest.mock`, pytest-mock (which goes through
`unittest.mock`) and pytest's `monkeypatch` (see `observe/mockhooks.py` and
`observe/monkeypatchhooks.py` for the private internals relied upon) and turns what
they report into `model.DoubleRecord` and `model.MockCall` values.

It keeps the set of *active* replacements at all times, so a double put in
place before a test (by a session or module fixture, or a patch started and
never stopped) is reported for every test during which it stays active.
Records are only made while a test runs, or outside one when user code (a
conftest, a test module at import) made the replacement: pytest and
pytest-mock patch things of their own at configure time.

Nothing here may change what a test observes: every hook passes arguments,
return values and exceptions through, and any error in our bookkeeping is
kept as a warning (`take_warnings`) instead of being raised.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib.util
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import _pytest.monkeypatch
import pluggy
import pytest

from pytest_invariants.model import DoubleKind, DoubleRecord, MockCall, ObjectRef
from pytest_invariants.observe import mockhooks as _mockhooks
from pytest_invariants.observe.importwatch import Undo, when_imported
from pytest_invariants.observe.mockhooks import MISSING, MockHooks, Replacement, mock_hooks_for
from pytest_invariants.observe.monkeypatchhooks import MonkeyPatchHooks

__all__ = ["DoubleObserver", "is_plain_data"]

# Concrete types, not numbers.Number: an ABC check on each new mock class (every
# mock has a class of its own) misses the ABC cache every time and is slow.
_PLAIN_SCALARS = (type(None), int, float, complex, decimal.Decimal, str, bytes)
_PLAIN_CONTAINERS = (tuple, list, set, frozenset)
_MAX_DEPTH = 20  # deeper than this is treated as "not plain": cheap and safe

# pytest-mock method (its frame's code name) -> how the replacement was made.
_MOCKER_VIA = {
    "spy": "pytest-mock mocker.spy",
    "object": "pytest-mock mocker.patch.object",
    "multiple": "pytest-mock mocker.patch.multiple",
    "dict": "pytest-mock mocker.patch.dict",
    "context_manager": "pytest-mock mocker.patch.context_manager",
    "__call__": "pytest-mock mocker.patch",
}

# Frame kinds for the walk that finds where a replacement was made.
_USER, _INTERNAL, _MOCKER, _MOCKLIB = "user", "internal", "mocker", "mocklib"
# An installed library a detector hooks: the patches its own code starts are its doubles.
_DETECTED = "detected"


class _Maker(NamedTuple):
    """Who made a replacement, and where (see `DoubleObserver._maker`)."""

    where: str
    mocker: str | None  # pytest-mock's method, when it went through pytest-mock
    user_made: bool  # made by the project's own code
    library: str | None  # the detector whose library's own code made it


def is_plain_data(obj: object, depth: int = 0) -> bool:
    """Return True for None, bools, numbers, str, bytes and containers of those."""
    kind = type(obj)
    if issubclass(kind, _PLAIN_SCALARS):
        return True
    if depth >= _MAX_DEPTH:
        return False
    if issubclass(kind, _PLAIN_CONTAINERS):
        return all(is_plain_data(item, depth + 1) for item in obj)  # type: ignore[attr-defined]
    if issubclass(kind, dict):
        items = obj.items()  # type: ignore[attr-defined]
        return all(is_plain_data(k, depth + 1) and is_plain_data(v, depth + 1) for k, v in items)
    return False


class _Paths:
    """Turn file names into rootdir-relative POSIX paths, with a cache."""

    def __init__(self, rootdir: Path) -> None:
        self.root = os.path.normcase(os.path.abspath(rootdir))
        self.real_root = os.path.normcase(os.path.realpath(rootdir))
        self._rel: dict[str, str] = {}
        self._user: dict[str, bool] = {}
        self._outside = tuple(
            os.path.normcase(os.path.abspath(p)) + os.sep
            for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}
        )

    def rel(self, filename: str) -> str:
        """Return `filename` relative to the rootdir when inside it, else absolute."""
        found = self._rel.get(filename)
        if found is None:
            found = self._rel[filename] = self._compute_rel(filename)
        return found

    def _compute_rel(self, filename: str) -> str:
        if filename.startswith("<"):
            return filename  # <string>, <frozen ...>
        for root, path in (
            (self.root, os.path.normcase(os.path.abspath(filename))),
            (self.real_root, os.path.normcase(os.path.realpath(filename))),
        ):
            if path.startswith(root + os.sep):
                return Path(os.path.relpath(path, root)).as_posix()
        return os.path.abspath(filename)

    def is_user(self, filename: str) -> bool:
        """Return True for the project's own files: inside the rootdir, not installed."""
        found = self._user.get(filename)
        if found is None:
            found = self._user[filename] = self._compute_user(filename)
        return found

    def _compute_user(self, filename: str) -> bool:
        rel = self.rel(filename)
        if rel.startswith("<") or os.path.isabs(rel):
            return False
        parts = rel.split("/")
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        path = os.path.normcase(os.path.abspath(filename))
        return not path.startswith(self._outside)


def _module_dir(module: types.ModuleType) -> str:
    return os.path.dirname(os.path.abspath(module.__file__ or "")) + os.sep


def _internal_prefixes() -> tuple[tuple[str, ...], str | None]:
    """Return the directories of frames that never count as 'the test', and pytest-mock's."""
    dirs = [
        _module_dir(_pytest.monkeypatch),  # _pytest/
        _module_dir(pytest),
        _module_dir(pluggy),
        _module_dir(_mockhooks),  # this package
        os.path.abspath(contextlib.__file__ or ""),
    ]
    spec = importlib.util.find_spec("pytest_mock")
    mocker = os.path.dirname(spec.origin) + os.sep if spec and spec.origin else None
    return tuple(dirs), mocker


class DoubleObserver:
    """Record every test double active during a test, and scope code's mock calls."""

    def __init__(self, rootdir: Path, scope_files: Iterable[str]) -> None:
        self.recording = False
        self._paths = _Paths(Path(rootdir))
        self._scope = {os.path.normcase(os.path.abspath(f)) for f in scope_files}
        self._scope |= {os.path.normcase(os.path.realpath(f)) for f in self._scope}
        self._scope_cache: dict[str, str | None] = {}
        self._internal, self._mocker_dir = _internal_prefixes()
        self._frame_kinds: dict[str, str] = {}
        # Folder of an installed library with a detector -> the detector's name (its `via`).
        self._detected: dict[str, str] = {}
        # A patch a detected library started itself -> its token, until the detector reports.
        self._library_made: dict[DoubleRecord, int] = {}
        self.test_location = ""  # `path:line` of the running test (set by the gatherer)
        self._mock_hooks: list[MockHooks] = []
        self._mock_watch: Undo | None = None  # removes the wait for unittest.mock
        self._mp_hooks: MonkeyPatchHooks | None = None
        self._call_skip: frozenset[str] = frozenset()
        self._lock = threading.RLock()
        self._active: dict[int, tuple[object, list[DoubleRecord]]] = {}
        self._external: dict[DoubleRecord, int] = {}
        self._mock_targets: dict[int, tuple[object, str, bool, int]] = {}
        # (id(owner), attribute) of every attribute a patch holds now, per token:
        # the assignment watch must not report a patched name a second time.
        self._held: dict[int, tuple[object, list[tuple[int, str]]]] = {}
        self._held_count: dict[tuple[int, str], int] = {}
        self._current: dict[DoubleRecord, None] | None = None
        self._calls: dict[MockCall, None] = {}
        self._warnings: dict[str, None] = {}
        self._class_lines: dict[int, tuple[type, str | None, int | None]] = {}
        # The names scope code reaches an object by (`app.mod.logger`): the assignment watch's.
        self._names_of: Callable[[object], Sequence[str]] = _no_names

    # -- the API the plugin calls ------------------------------------------

    def install(self) -> None:
        """Hook unittest.mock, the `mock` backport when imported, and MonkeyPatch."""
        if self._mp_hooks is not None:
            return
        # Hooked when the suite imports it, never imported by us: unittest.mock imports
        # asyncio (~40 ms and thousands of objects the garbage collector then walks).
        self._mock_watch = when_imported("unittest.mock", self._hook_unittest_mock)
        self._add_mock_hooks("mock")
        self._mp_hooks = MonkeyPatchHooks(_pytest.monkeypatch)
        self._mp_hooks.install(self)

    def uninstall(self) -> None:
        """Restore every hooked attribute to the original object."""
        self.recording = False
        if self._mp_hooks is not None:
            self._mp_hooks.uninstall()
            self._mp_hooks = None
        if self._mock_watch is not None:
            self._mock_watch()
            self._mock_watch = None
        while self._mock_hooks:
            self._mock_hooks.pop().uninstall()

    def begin_test(self, nodeid: str) -> None:
        """Start a test: every double still active is carried into it."""
        if self._mp_hooks is not None and not any(h.label == "mock" for h in self._mock_hooks):
            self._add_mock_hooks("mock")  # pytest-mock may import the backport late
        with self._lock:
            current = {r: None for _, records in self._active.values() for r in records}
            current.update((r, None) for r, count in self._external.items() if count > 0)
            self._current = current
            self._calls = {}
            self.recording = True

    def end_test(self) -> tuple[tuple[DoubleRecord, ...], tuple[MockCall, ...]]:
        """End a test; return the doubles active at any time in it and scope's mock calls."""
        with self._lock:
            self.recording = False
            records = tuple(self._current or ())
            calls = tuple(self._calls)
            self._current, self._calls = None, {}
        return records, calls

    def add_external(
        self, record: DoubleRecord, active: bool = True, superseded: bool = False
    ) -> None:
        """Report a double from a detector plugin becoming active, or ending.

        `superseded`: it ends because the same activation was reported again with
        more names; the test keeps the newer records only.
        """
        with self._lock:
            if superseded and self._current is not None:
                self._current.pop(record, None)
            count = self._external.get(record, 0) + (1 if active else -1)
            if count > 0:
                self._external[record] = count
            else:
                self._external.pop(record, None)
            if active and self._current is not None:
                self._current[record] = None
            if active and self._library_made:
                self._drop_library_made(record.via, record.where)

    def _drop_library_made(self, via: str, where: str) -> None:
        """Forget the patches a library started itself, now that its detector told the double.

        Only those made at the same place: the same activation, seen twice. A patch of
        the library's started elsewhere (through an entry point the detector does not
        hook) stays, and keeps counting while it is active.
        """
        for record, token in list(self._library_made.items()):
            if record.via != via or record.where != where:
                continue
            del self._library_made[record]
            if self._current is not None:
                self._current.pop(record, None)
            active = self._active.get(token)
            if active is not None and record in active[1]:
                active[1].remove(record)

    # -- what the assignment watch asks (observe/assignments.py) ------------

    def is_mock(self, obj: object) -> bool:
        """Return True for a mock of any hooked mock module (never asks the object)."""
        return self._is_mock(obj)

    is_plain_data = staticmethod(is_plain_data)

    def describe(self, obj: object) -> ObjectRef | None:
        """Describe `obj` as the original of a replacement (None for 'did not exist')."""
        return self._ref(obj)

    def words(self, obj: object) -> str:
        """Say in words what `obj` is, as a replacement."""
        if self._is_mock(obj):
            return type(obj).__name__
        return self._words(Replacement("", None, None, new=obj))

    def is_user_file(self, filename: str) -> bool:
        """Return True for the project's own files: inside the rootdir, not installed."""
        return self._paths.is_user(filename)

    def patched(self, owner: object, name: str) -> bool:
        """Return True while a patch or monkeypatch holds `owner.name`."""
        return (id(owner), name) in self._held_count

    def name_objects(self, names_of: Callable[[object], Sequence[str]]) -> None:
        """Name an instance's attributes after the globals scope code reaches it by.

        `names_of(obj)` returns the dotted names scope code reaches `obj` by, best
        first, or nothing. `patch.object(logger, "warning")` of the module-level
        `app.mod.logger` then targets `app.mod.logger.warning`, the chain the code
        reads, not the class's `logging.Logger.warning`, which no other logger shares.
        """
        self._names_of = names_of

    def note_assignment(self, record: DoubleRecord) -> None:
        """Add a double seen by the assignment watch to the current test."""
        with self._lock:
            if self._current is not None:
                self._current[record] = None

    def detected_library(self, package: str, name: str) -> None:
        """Attribute the patches `package`'s own installed code starts to detector `name`.

        Without this, `responses.start()` shows up twice: once as its detector's
        `responses` double and once as a `unittest.mock.patch` made at
        site-packages/responses/__init__.py, with the library's line as the place.
        Such a patch is recorded as `name`'s, at the test's place, until the
        detector reports the activation (then the detector's record alone stands);
        an entry point the detector does not hook is still seen that way.
        """
        try:
            spec = importlib.util.find_spec(package)  # a top-level name: imports nothing
        except (ImportError, ValueError):
            return
        if spec is None:
            return
        if spec.submodule_search_locations:
            dirs = [os.path.abspath(d) + os.sep for d in spec.submodule_search_locations]
        elif spec.origin:
            dirs = [os.path.abspath(spec.origin)]
        else:
            return
        for folder in dirs:
            self._detected.setdefault(folder, name)
        self._frame_kinds.clear()

    def take_warnings(self) -> tuple[str, ...]:
        """Return and forget what could not be observed since the last call."""
        with self._lock:
            found, self._warnings = tuple(self._warnings), {}
        return found

    # -- what the hooks call (the `_mockhooks.Sink` protocol) ---------------

    def replaced(self, token: object, event: Replacement) -> None:
        """Record `event` under `token` when a test runs or user code made it."""
        if not event.item and isinstance(event.name, str):
            self._hold(token, (id(event.owner), event.name))
        where, mocker_via, user_made, library = self._maker()
        if not self.recording and not user_made:
            return
        record = self._record(event, where, library or mocker_via)
        inner = self._inner_mock(event.new)
        with self._lock:
            if library is not None:
                if any(r.via == library and r.where == where for r in self._external):
                    return  # the detector reported this activation already
                self._library_made[record] = id(token)
            self._active.setdefault(id(token), (token, []))[1].append(record)
            if self._current is not None:
                self._current[record] = None
            if inner is not None:
                spy = record.kind is DoubleKind.SPY
                self._mock_targets[id(inner)] = (inner, record.target, spy, id(token))

    def restored(self, token: object) -> None:
        """Forget every replacement made under `token`: it has been undone."""
        with self._lock:
            for held in self._held.pop(id(token), (None, []))[1]:
                count = self._held_count.pop(held, 1) - 1
                if count > 0:
                    self._held_count[held] = count
            ended = self._active.pop(id(token), None)
            if ended is None:
                return
            for record in ended[1]:
                self._library_made.pop(record, None)
            # Let go of its mocks now: holding thousands alive slows the GC.
            # A call after the patch ended is still recorded, without a target.
            key = id(token)
            self._mock_targets = {k: v for k, v in self._mock_targets.items() if v[3] != key}

    def _hold(self, token: object, key: tuple[int, str]) -> None:
        with self._lock:
            # Holding the token keeps its id from being reused before it ends.
            self._held.setdefault(id(token), (token, []))[1].append(key)
            self._held_count[key] = self._held_count.get(key, 0) + 1

    def mock_called(self, mock: object) -> None:
        """Record a call of `mock` when the calling frame is scope code."""
        try:
            frame = sys._getframe(1)
            skip = self._call_skip
            # Autospecced functions are exec'd by unittest.mock: '<string>'.
            while frame is not None and (
                frame.f_code.co_filename in skip or "_checksig_" in frame.f_globals
            ):
                frame = frame.f_back  # type: ignore[assignment]
            if frame is None:
                return
            rel = self._scope_rel(frame.f_code.co_filename)
            if rel is not None:
                self._note_call(mock, rel, frame.f_lineno)
        except Exception as exc:  # noqa: BLE001 - observation must never break a test
            self.warn(f"pytest-invariants could not observe a mock call: {exc!r}")

    def warn(self, message: str) -> None:
        """Keep `message` for `take_warnings`."""
        with self._lock:
            self._warnings[message] = None

    # -- hooks --------------------------------------------------------------

    def _hook_unittest_mock(self, _module: types.ModuleType) -> list[Undo]:
        if not any(h.label == "unittest.mock" for h in self._mock_hooks):
            self._add_mock_hooks("unittest.mock")
        return []  # uninstall() undoes every mock hook

    def _add_mock_hooks(self, name: str) -> None:
        hooks = mock_hooks_for(name)
        if hooks is None:
            return
        hooks.install(self)
        self._mock_hooks.append(hooks)
        self._call_skip = frozenset(h.file for h in self._mock_hooks) | {_mockhooks.__file__}
        self._frame_kinds.clear()

    def _inner_mock(self, obj: object) -> object | None:
        for hooks in self._mock_hooks:
            inner = hooks.inner_mock(obj)
            if inner is not None:
                return inner
        return None

    def _is_mock(self, obj: object) -> bool:
        return any(h.is_mock(obj) for h in self._mock_hooks)

    # -- mock calls ---------------------------------------------------------

    def _scope_rel(self, filename: str) -> str | None:
        try:
            return self._scope_cache[filename]
        except KeyError:
            pass
        path = os.path.normcase(os.path.abspath(filename))
        inside = path in self._scope or os.path.normcase(os.path.realpath(path)) in self._scope
        found = self._scope_cache[filename] = self._paths.rel(filename) if inside else None
        return found

    def _note_call(self, mock: object, rel: str, line: int) -> None:
        target, spy = self._root_target(mock)
        if spy or vars(mock).get("_mock_wraps") is not None:
            return  # a spy calls through to the real object: not a double
        call = MockCall(mock=_mock_name(mock), caller_file=rel, caller_line=line, target=target)
        with self._lock:
            self._calls[call] = None

    def _root_target(self, mock: object) -> tuple[str | None, bool]:
        """Return the patch target and spy flag of the mock `mock` descends from."""
        node: object = mock
        for _ in range(64):
            found = self._mock_targets.get(id(node))
            if found is not None and found[0] is node:
                return found[1], found[2]
            attrs = vars(node)
            # Never test a mock's truth: MagicMock.__bool__ is itself a mock call.
            parent = attrs.get("_mock_new_parent")
            if parent is None:
                parent = attrs.get("_mock_parent")
            if parent is None:
                break
            node = parent
        return None, False

    # -- where a replacement was made --------------------------------------

    def _frame_kind(self, filename: str) -> str:
        kind = self._frame_kinds.get(filename)
        if kind is None:
            kind = self._frame_kinds[filename] = self._compute_frame_kind(filename)
        return kind

    def _compute_frame_kind(self, filename: str) -> str:
        if filename in self._call_skip:
            return _MOCKLIB
        path = os.path.abspath(filename)
        if self._mocker_dir and path.startswith(self._mocker_dir):
            return _MOCKER
        if path.startswith(self._internal):
            return _INTERNAL
        if self._library_of(path) is not None and not self._paths.is_user(path):
            return _DETECTED
        return _USER

    def _maker(self) -> _Maker:
        """Return where the test made the replacement, pytest-mock's method, user-made.

        A patch started by the code of a library with a detector (responses'
        `start()` patching `HTTPAdapter.send`, moto starting responses) is that
        library's: the detected frame nearest the test names it, and the place is
        the first frame in the project's own code outside it (else the test's line).
        """
        frame: types.FrameType | None = sys._getframe(1)
        mocker: str | None = None
        fallback = ""
        library: str | None = None
        while frame is not None:
            code = frame.f_code
            kind = self._frame_kind(code.co_filename)
            if kind == _USER:
                if library is None or self._paths.is_user(code.co_filename):
                    return self._where(code.co_filename, frame.f_lineno, mocker, library)
            elif kind == _DETECTED:
                library = self._library_of(code.co_filename)
            elif kind == _MOCKLIB:
                decorated = self._decorated_code(frame)
                if decorated is not None:
                    filename, line = decorated.co_filename, decorated.co_firstlineno
                    return self._where(filename, line, mocker, library)
            elif kind == _MOCKER:
                mocker = _MOCKER_VIA.get(code.co_name, "pytest-mock mocker")
            elif not fallback and code.co_filename != _mockhooks.__file__:
                fallback = f"{self._paths.rel(code.co_filename)}:{frame.f_lineno}"
            frame = frame.f_back
        if library is not None:
            return _Maker(self.test_location or fallback, None, False, library)
        return _Maker(fallback, mocker, False, None)

    def _where(self, filename: str, line: int, mocker: str | None, library: str | None) -> _Maker:
        user = self._paths.is_user(filename)
        return _Maker(f"{self._paths.rel(filename)}:{line}", mocker, user, library)

    def _library_of(self, filename: str) -> str | None:
        path = os.path.abspath(filename)
        return next(
            (name for folder, name in self._detected.items() if path.startswith(folder)), None
        )

    def _decorated_code(self, frame: types.FrameType) -> types.CodeType | None:
        for hooks in self._mock_hooks:
            code = hooks.decorated_code(frame)
            if code is not None:
                return code
        return None

    # -- records ------------------------------------------------------------

    def _record(self, event: Replacement, where: str, mocker_via: str | None) -> DoubleRecord:
        target, *aliases = self._targets(event)
        via = mocker_via or event.via
        return DoubleRecord(
            target=target,
            kind=self._kind(event, target, via),
            replacement=self._words(event),
            via=via,
            where=where,
            original=self._ref(event.original),
            aliases=tuple(aliases),
        )

    def _targets(self, event: Replacement) -> list[str]:
        """Return the replaced name, then any other names of the same attribute."""
        if event.target is not None:
            return [event.target]
        if event.item:
            return [self._item_target(event.owner, event.name, event.owner_hint)]
        if event.owner_hint is not None:
            return [f"{event.owner_hint}.{event.name}"]
        owners = _instance_of_class(event.owner) and self._instance_names(event.owner)
        return [f"{owner}.{event.name}" for owner in owners or [_dotted(event.owner)]]

    def _instance_names(self, obj: object) -> Sequence[str]:
        try:
            return self._names_of(obj)
        except Exception as exc:  # noqa: BLE001 - a name lookup must not cost the record
            self.warn(f"pytest-invariants could not name a patched object: {exc!r}")
            return ()

    def _item_target(self, mapping: object, key: object, hint: str | None) -> str:
        if mapping is os.environ:
            return f"env:{key}"
        if mapping is sys.modules:
            return str(key)  # replacing an entry of sys.modules replaces that module
        shown = key if isinstance(key, str) else repr(key)
        if hint is not None:
            return f"{hint}[{shown}]"
        owner, namespace = self._mapping_owner(mapping)
        return f"{owner}.{shown}" if namespace else f"{owner}[{shown}]"

    def _mapping_owner(self, mapping: object) -> tuple[str, bool]:
        """Name a mapping: a module's namespace, or a global of the project's modules."""
        modules = [(n, m) for n, m in list(sys.modules.items()) if type(m) is types.ModuleType]
        for name, module in modules:
            if vars(module) is mapping:
                return name, True
        for name, module in modules:
            filename = getattr(module, "__file__", None)
            if not filename or not self._paths.is_user(filename):
                continue
            for attr, value in list(vars(module).items()):
                if value is mapping:
                    return f"{name}.{attr}", False
        return type(mapping).__name__, False

    def _kind(self, event: Replacement, target: str, via: str) -> DoubleKind:
        if event.config or target.startswith("env:"):
            return DoubleKind.CONFIG
        if event.spy or via == _MOCKER_VIA["spy"]:
            return DoubleKind.SPY
        if self._is_mock(event.new):
            return DoubleKind.DOUBLE
        if event.new is MISSING:
            # A deletion installs nothing for the code to run against: it changes the
            # configuration of that name, whatever was taken away (a must_be_real
            # name deleted still spoils, as when plain data replaces it: SPEC 4 rule c).
            return DoubleKind.CONFIG
        return DoubleKind.CONFIG if is_plain_data(event.new) else DoubleKind.DOUBLE

    def _words(self, event: Replacement) -> str:
        """Say in words what replaced the target."""
        new = event.new
        if new is MISSING:
            return "cleared" if event.item and event.name == "*" else "deleted"
        kind = type(new)
        if self._is_mock(new):
            return f"autospec'd {kind.__name__}" if event.autospec else kind.__name__
        if kind is types.FunctionType and self._inner_mock(new) is not None:
            return "autospec'd function"
        if is_plain_data(new):
            text = repr(new)
            return text if len(text) <= 60 else text[:57] + "..."
        return _object_words(new)

    def _ref(self, obj: object) -> ObjectRef | None:
        """Describe a replaced object so its identity survives serialisation."""
        if obj is MISSING:
            return None
        try:
            return self._describe(obj)
        except Exception:  # noqa: BLE001 - a strange object must not cost the record
            return ObjectRef(None, None, None, None, type(obj).__name__)

    def _describe(self, obj: object) -> ObjectRef:
        kind = type(obj)
        if self._is_mock(obj):
            return ObjectRef(None, None, None, None, kind.__name__)
        if issubclass(kind, types.ModuleType):
            filename = getattr(obj, "__file__", None)
            rel = self._paths.rel(filename) if filename else None
            return ObjectRef(obj.__name__, None, rel, None, "module")  # type: ignore[attr-defined]
        if issubclass(kind, type):
            return self._describe_class(obj)  # type: ignore[arg-type]
        func = _function_of(obj)
        if func is not None:
            code = func.__code__
            rel = self._paths.rel(code.co_filename)
            label = "property" if issubclass(kind, property) else "function"
            if issubclass(kind, types.MethodType) and not issubclass(
                type(obj.__self__),  # type: ignore[attr-defined]
                type,
            ):
                label = "method"  # bound to one instance: the class's function stays real
            return ObjectRef(func.__module__, func.__qualname__, rel, code.co_firstlineno, label)
        if issubclass(kind, types.BuiltinFunctionType):
            module = getattr(obj, "__module__", None)
            qualname = str(getattr(obj, "__qualname__", ""))
            return ObjectRef(module, qualname, None, None, "builtin_function_or_method")
        return ObjectRef(None, None, None, None, kind.__name__)

    def _describe_class(self, cls: type) -> ObjectRef:
        cached = self._class_lines.get(id(cls))
        if cached is None or cached[0] is not cls:
            cached = self._class_lines[id(cls)] = (cls, *_class_source(cls))
        _, filename, line = cached
        rel = self._paths.rel(filename) if filename else None
        return ObjectRef(cls.__module__, cls.__qualname__, rel, line, "class")


def _function_of(obj: object) -> types.FunctionType | None:
    """Return the plain function behind a function, method, static/classmethod or property."""
    kind = type(obj)
    if issubclass(kind, (types.MethodType, staticmethod, classmethod)):
        obj = obj.__func__  # type: ignore[attr-defined]
    elif issubclass(kind, property):
        obj = obj.fget  # type: ignore[attr-defined]
    if type(obj) is not types.FunctionType:
        return None
    try:
        inner = inspect.unwrap(obj)
    except ValueError:  # a __wrapped__ cycle
        return obj
    return inner if type(inner) is types.FunctionType else obj


def _class_source(cls: type) -> tuple[str | None, int | None]:
    """Return the file and first line of `cls`; never raise."""
    try:
        filename = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None, None
    line = getattr(cls, "__firstlineno__", None)  # 3.13 stores it; earlier ones must parse
    if not isinstance(line, int):
        try:
            line = inspect.getsourcelines(cls)[1]
        except Exception:  # noqa: BLE001 - inspect raises many things on odd sources
            line = None
    return filename, line


def _no_names(obj: object) -> Sequence[str]:
    return ()


def _instance_of_class(obj: object) -> bool:
    """Return True for an object named after its class: neither a module nor a class."""
    return not issubclass(type(obj), (types.ModuleType, type))


def _dotted(obj: object) -> str:
    """Return the dotted name of a module, a class, or an instance's class."""
    kind = type(obj)
    if issubclass(kind, types.ModuleType):
        return str(obj.__name__)  # type: ignore[attr-defined]
    cls = obj if issubclass(kind, type) else kind
    return f"{cls.__module__}.{cls.__qualname__}"  # type: ignore[attr-defined]


def _object_words(new: object) -> str:
    kind = type(new)
    if issubclass(kind, types.FunctionType):
        return f"function {new.__qualname__}"  # type: ignore[attr-defined]
    if issubclass(kind, types.MethodType):
        return f"method {new.__qualname__}"  # type: ignore[attr-defined]
    if issubclass(kind, types.BuiltinFunctionType):
        return f"builtin {new.__qualname__}"  # type: ignore[attr-defined]
    if issubclass(kind, type):
        return f"class {new.__qualname__}"  # type: ignore[attr-defined]
    if issubclass(kind, types.ModuleType):
        return f"module {new.__name__}"  # type: ignore[attr-defined]
    return f"{kind.__qualname__} instance"


def _mock_name(mock: object) -> str:
    """Return the mock's dotted name as its repr shows it ('gateway.charge')."""
    try:
        return str(mock._extract_mock_name())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a private helper: fall back to the type
        return type(mock).__name__

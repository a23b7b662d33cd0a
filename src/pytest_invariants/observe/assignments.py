"""See fakes installed by plain assignment: `module.func = fake`, `session.send = fake_send`.

No mock library is involved, so no hook sees them. What we can see is the
result: a module-level name the scope code reads (SPEC 4) is bound to
something else. The watch walks each read chain of a scope module once
(`gateway.Session.post` is three links: the module's `gateway`, that module's
`Session`, the class's `post`) and keeps, per link, the dictionaries a plain
lookup goes through and the value it found first. A check compares each link's
current value with the last one seen, by identity; only a changed value is
judged:

- a Mock, or an object defined in test code (a function, class or instance
  whose code is in a test file): a double, `via: assignment`;
- plain data where an object was: a configuration change (it spoils only a
  must_be_real name, like a patch);
- the name deleted: a configuration change too (nothing was installed);
- anything else (another production object, plain data where plain data was):
  nothing.

Checks run at a few moments only (never per line): when a claiming test's
setup is done (fixtures of any scope have bound their fakes; restoring them in
teardown must not hide them), when its call ends, and at the end of a test
that ran scope code. A test that claims nothing and runs no scope code pays
nothing. A replacement a patch or monkeypatch made is the observer's already
and is not reported twice.

Nothing here runs user code: values are read from `__dict__`s, never through
`getattr`, so a module's `__getattr__` or an object's properties never fire.
"""

from __future__ import annotations

import fnmatch
import functools
import operator
import os
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pytest_invariants.model import DoubleKind, DoubleRecord, ObjectRef
from pytest_invariants.observe.doubles import DoubleObserver
from pytest_invariants.observe.mockhooks import MISSING

__all__ = ["VIA", "AssignmentWatch", "TestFiles"]

VIA: Final = "assignment"
# The descriptors behind `module.__dict__`, `cls.__mro__` and `cls.__dict__`, called directly so
# that no class or metaclass of the user's can intercept the read.
_MODULE_DICT: Final[Any] = vars(types.ModuleType)["__dict__"]
_MRO: Final[Any] = vars(type)["__mro__"]
_CLASS_DICT: Final[Any] = vars(type)["__dict__"]
_NOT_WALKED: Final = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    staticmethod,
    classmethod,
    property,
    functools.partial,
)
_Dicts = tuple[Mapping[str, object], ...]


class TestFiles:
    """Tell test code from production code by file name.

    Test code is a `conftest.py`, a file matching `python_files`, a file under
    one of the `testpaths`, or under a folder named `tests`/`test`/`testing`,
    inside the rootdir and not installed. A scope file is never test code.
    """

    __test__ = False

    def __init__(
        self,
        rootdir: str,
        is_user: Callable[[str], bool],
        scope: Iterable[str],
        testpaths: Iterable[str] = (),
        python_files: Iterable[str] = ("test_*.py", "*_test.py"),
    ) -> None:
        self._root = os.path.abspath(rootdir)
        self._is_user = is_user
        self._scope = {os.path.realpath(f) for f in scope}
        self._dirs = tuple(
            os.path.join(os.path.abspath(os.path.join(self._root, p)), "") for p in testpaths
        )
        self._globs = tuple(python_files)
        self._known: dict[str, bool] = {}

    def __call__(self, filename: str) -> bool:
        found = self._known.get(filename)
        if found is None:
            found = self._known[filename] = self._compute(filename)
        return found

    def _compute(self, filename: str) -> bool:
        if not self._is_user(filename) or os.path.realpath(filename) in self._scope:
            return False
        path = os.path.abspath(filename)
        name = os.path.basename(path)
        if name == "conftest.py" or any(fnmatch.fnmatch(name, g) for g in self._globs):
            return True
        if path.startswith(self._dirs):
            return True
        parts = os.path.relpath(path, self._root).split(os.sep)[:-1]
        return any(part in ("tests", "test", "testing") for part in parts)


@dataclass(eq=False)
class _Link:
    """One attribute a read chain goes through, and what was bound there."""

    owner: object
    name: str
    dicts: _Dicts
    target: str
    baseline: object
    last: object
    found: DoubleRecord | None = None  # the verdict on `last`, without `where`

    @property
    def get(self) -> Callable[[str, object], object]:
        """Return a `get(name, default)` that looks the way Python would, never asking."""
        if len(self.dicts) == 1:
            return self.dicts[0].get
        return functools.partial(_lookup_default, self.dicts)


@dataclass(eq=False)
class _Module:
    """The links of one scope module, laid out for the check's hot path."""

    module: object
    links: list[_Link]
    lookups: list[tuple[Callable[[str, object], object], str]]  # (get, name) per link
    # Per link: the value last seen, or _AGAIN while it holds a fake (checked every time).
    expected: list[object]


def _lookup_default(dicts: _Dicts, name: str, default: object) -> object:
    found = _lookup(dicts, name)
    return default if found is MISSING else found


def _lookup(dicts: _Dicts, name: str) -> object:
    for mapping in dicts:
        value = mapping.get(name, MISSING)
        if value is not MISSING:
            return value
    return MISSING


def _class_dicts(cls: type) -> _Dicts:
    return tuple(_CLASS_DICT.__get__(k) for k in _MRO.__get__(cls))


def _dicts_of(value: object) -> _Dicts | None:
    """Return where a lookup of an attribute of `value` looks, or None to stop walking."""
    kind = type(value)
    if issubclass(kind, types.ModuleType):
        return (_MODULE_DICT.__get__(value),)
    if issubclass(kind, type):
        return _class_dicts(value)  # type: ignore[arg-type]
    if value is MISSING or issubclass(kind, _NOT_WALKED) or kind.__module__ == "builtins":
        return None
    own: tuple[Mapping[str, object], ...] = ()
    try:
        found = object.__getattribute__(value, "__dict__")
        if type(found) is dict:
            own = (found,)
    except Exception:  # noqa: BLE001 - __slots__, or a hostile __dict__: the class's only
        pass
    return own + _class_dicts(kind)


def _module_name(module: object, fallback: str) -> str:
    name = _MODULE_DICT.__get__(module).get("__name__")
    return name if isinstance(name, str) else fallback


class AssignmentWatch:
    """Watch the names the scope code reads for fakes bound by plain assignment.

    `modules` maps each scope module's name to the read chains of its code,
    relative to the module (`("gateway", "Session", "post")`). The double
    observer says what an object is (a mock? in words? defined where?), knows
    which names a patch holds, and receives the records.
    """

    def __init__(
        self,
        modules: Mapping[str, Iterable[tuple[str, ...]]],
        is_test_file: Callable[[str], bool],
        observer: DoubleObserver,
    ) -> None:
        self._chains = {name: sorted(set(chains)) for name, chains in modules.items()}
        self._is_test_file = is_test_file
        self._observer = observer
        self._resolved: dict[str, _Module] = {}
        self._unresolved = dict.fromkeys(self._chains)
        self._reported: set[int] = set()
        # id(object) -> the links whose first value it was; rebuilt after a module resolves.
        self._by_object: dict[int, list[_Link]] | None = None
        observer.name_objects(self.names_of)

    def begin_test(self) -> None:
        """Take the originals of scope modules imported since; forget the last test's reports.

        The originals are taken before any test's fixtures run where possible (at
        collection's end, and at each test's start for a module imported later), so a
        fake bound in a fixture is reported with the real object it stands in for.
        """
        self._reported.clear()
        if self._unresolved:
            for name in list(self._unresolved):
                try:
                    self._state(name)
                except Exception as exc:  # noqa: BLE001 - observation must never break a test
                    self._unresolved.pop(name, None)
                    self._observer.warn(f"pytest-invariants could not read {name}: {exc!r}")

    def check(self, modules: Iterable[str], where: str) -> None:
        """Report every double bound now in a name the code of `modules` reads."""
        for name in modules:
            try:
                state = self._state(name)
            except Exception as exc:  # noqa: BLE001 - observation must never break a test
                self._observer.warn(
                    f"pytest-invariants could not read the names {name} reads: {exc!r}"
                )
                continue
            if state is None:
                continue
            # The hot path: one dict lookup per link, compared by identity in C.
            now = [get(key, MISSING) for get, key in state.lookups]
            if all(map(operator.is_, now, state.expected)):
                continue
            for index, link in enumerate(state.links):
                if now[index] is state.expected[index]:
                    continue
                try:
                    self._check_link(link, now[index], where)
                except Exception as exc:  # noqa: BLE001 - one odd object costs its link only
                    self._observer.warn(
                        f"pytest-invariants could not check {link.target} for a fake: {exc!r}"
                    )
                state.expected[index] = link.last if link.found is None else _AGAIN

    def names_of(self, obj: object) -> list[str]:
        """Return the names scope code reaches `obj` by now (`app.mod.logger`), shortest first.

        Only objects some read chain of a scope module goes through, as first seen
        there and still bound there: what the watch walked already, no second walk.
        """
        if self._by_object is None:
            self._by_object = {}
            for state in self._resolved.values():
                for link in state.links:
                    self._by_object.setdefault(id(link.baseline), []).append(link)
        links = self._by_object.get(id(obj), ())
        found = {link.target: None for link in links if link.get(link.name, MISSING) is obj}
        return sorted(found, key=lambda name: (name.count("."), name))

    # -- links ---------------------------------------------------------------

    def _state(self, name: str) -> _Module | None:
        module = sys.modules.get(name)
        state = self._resolved.get(name)
        if state is not None and state.module is module:
            return state
        if module is None or not issubclass(type(module), types.ModuleType):
            return None  # not imported yet: nothing of it can have run
        links = self._resolve(name, module)
        lookups = [(link.get, link.name) for link in links]
        state = _Module(module, links, lookups, [_UNSEEN] * len(links))
        self._resolved[name] = state
        self._unresolved.pop(name, None)
        self._by_object = None
        return state

    def _resolve(self, name: str, module: object) -> list[_Link]:
        links: dict[tuple[int, str], _Link] = {}
        root: _Dicts = (_MODULE_DICT.__get__(module),)
        for chain in self._chains.get(name, ()):
            owner, dicts, spelled = module, root, _module_name(module, name)
            for part in chain:
                link = links.get((id(owner), part))
                if link is None:
                    value = _lookup(dicts, part)
                    link = _Link(owner, part, dicts, f"{spelled}.{part}", value, _UNSEEN)
                    links[(id(owner), part)] = link
                value = link.baseline
                next_dicts = None if self._observer.is_mock(value) else _dicts_of(value)
                if next_dicts is None:
                    break
                is_module = issubclass(type(value), types.ModuleType)
                spelled = _module_name(value, link.target) if is_module else link.target
                owner, dicts = value, next_dicts
        return list(links.values())

    def _check_link(self, link: _Link, current: object, where: str) -> None:
        if current is not link.last:
            link.last = current
            link.found = self._judge(link, current)
        if link.found is None or id(link) in self._reported:
            return
        if self._observer.patched(link.owner, link.name):
            return  # a patch or monkeypatch put it there: the observer has it already
        self._reported.add(id(link))
        self._observer.note_assignment(_with_where(link.found, where))

    # -- verdicts -------------------------------------------------------------

    def _judge(self, link: _Link, value: object) -> DoubleRecord | None:
        observer = self._observer
        original = None if value is link.baseline else observer.describe(link.baseline)
        if observer.is_mock(value):
            return _record(link, DoubleKind.DOUBLE, type(value).__name__, original)
        if self._defined_in_tests(value):
            return _record(link, DoubleKind.DOUBLE, observer.words(value), original)
        if value is link.baseline:
            return None
        if value is MISSING:
            # Nothing installed: a configuration change of the name, as for delattr.
            return _record(link, DoubleKind.CONFIG, "deleted", original)
        if observer.is_plain_data(value) and not observer.is_plain_data(link.baseline):
            return _record(link, DoubleKind.CONFIG, observer.words(value), original)
        return None

    def _defined_in_tests(self, value: object) -> bool:
        """Return True when `value`'s code or class comes from a test file."""
        for _ in range(8):  # a bound method of a partial of ...: unwrap a few layers
            kind = type(value)
            if issubclass(kind, (types.MethodType, staticmethod, classmethod)):
                value = value.__func__  # type: ignore[attr-defined]
            elif issubclass(kind, functools.partial):
                value = value.func  # type: ignore[attr-defined]
            else:
                break
        kind = type(value)
        if kind is types.FunctionType:
            return self._is_test_file(value.__code__.co_filename)  # type: ignore[attr-defined]
        if issubclass(kind, (types.BuiltinFunctionType, types.ModuleType)) or value is MISSING:
            return False
        cls = value if issubclass(kind, type) else kind
        module_name = _CLASS_DICT.__get__(cls).get("__module__")
        module = sys.modules.get(module_name) if isinstance(module_name, str) else None
        if module is None or not issubclass(type(module), types.ModuleType):
            return False
        filename = _MODULE_DICT.__get__(module).get("__file__")
        return isinstance(filename, str) and self._is_test_file(filename)


_UNSEEN: Final = object()  # a link's `last` before its first check: judged then
_AGAIN: Final = object()  # never bound anywhere: a link holding a fake is looked at each check


def _record(link: _Link, kind: DoubleKind, words: str, original: ObjectRef | None) -> DoubleRecord:
    return DoubleRecord(
        target=link.target, kind=kind, replacement=words, via=VIA, where="", original=original
    )


def _with_where(record: DoubleRecord, where: str) -> DoubleRecord:
    return DoubleRecord(
        target=record.target,
        kind=record.kind,
        replacement=record.replacement,
        via=record.via,
        where=where,
        original=record.original,
        aliases=record.aliases,
    )

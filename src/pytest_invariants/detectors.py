"""Write a detector for a library's test doubles in a few declarative lines.

A detector tells pytest-invariants when one of a library's doubles becomes
active and inactive (docs/plugins.md). Most libraries start and stop their
doubles with a pair of methods, so most detectors are one call::

    pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
        name="paysdk",
        cls="paysdk.testing:Sandbox",
        targets=["payments", "paysdk.client"],
        replacement=lambda sandbox: f"paysdk Sandbox({sandbox.scenario})",
    )

The two names on the left are the hooks pluggy looks for in the detector's
module (`pytest_invariants.hookspecs`). What they do for you:

- wait for the suite to import the library (`pytest_invariants.observe.importwatch`):
  a suite that has the library installed but never imports it pays nothing, and
  a missing library makes the detector inactive (`install` returns None);
- wrap the methods so that the test sees exactly what it would without us: the
  original's result, its exceptions untouched, never an error of ours;
- pair each start with the stop that ends it and report both under one key;
- undo exactly, per pytest config, so a pytester run nested in an
  `--invariants` run never removes the outer run's wrappers.

It is a function that returns the two hooks rather than a class to subclass:
pluggy (and `-p`) look for the hook names in the detector's module, so they
must be bound there anyway, and one statement does it with no object to manage.

`custom_detector` keeps the first and last of these for a library that does not
fit a start/stop pair; `wrap_method` and `Activations` are the building blocks.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, Final, NamedTuple

import pytest

from pytest_invariants.hookspecs import DoubleReporter
from pytest_invariants.observe.importwatch import is_installed, when_imported

__all__ = [
    "Activations",
    "DetectorHooks",
    "DoubleReporter",
    "ModuleHook",
    "Undo",
    "custom_detector",
    "detector",
    "wrap_method",
]

Undo = Callable[[], None]
"""Undo one change a detector made (restore a method, remove an import watch)."""

ModuleHook = Callable[[ModuleType, DoubleReporter], Sequence[Undo]]
"""Hook a just-imported module to report to the reporter; return how to undo it."""

_MISSING: Final = object()

# One counter for every Activations: keys stay unique across detectors and configs.
_SERIAL: Final = itertools.count(1)


class DetectorHooks(NamedTuple):
    """The two hook functions of one detector, to bind to their hook names in its module."""

    install: Callable[[pytest.Config, DoubleReporter], str | None]
    """`pytest_invariants_install_detector`: hook the library, return the detector's name."""

    uninstall: Callable[[pytest.Config], None]
    """`pytest_invariants_uninstall_detector`: undo everything `install` did."""


def _quietly(func: Callable[..., None], *args: Any) -> None:
    """Call `func`, dropping its errors: a reporting bug must never fail the user's test."""
    with contextlib.suppress(Exception):
        func(*args)


def wrap_method(
    owner: type, name: str, after: Callable[[Any, Any], None], *, always: bool = False
) -> Undo:
    """Replace `owner.name` with a wrapper that calls the original, then `after(self, result)`.

    The wrapper returns the original's result and lets its exceptions through;
    `after` runs only when the original returned, unless `always`, then it runs
    even when the original raised (with result None): a `stop` that fails an
    assertion has still stopped the double. Errors of `after` are dropped.

    Return a function that restores exactly what was in `owner.__dict__` before
    (deleting the attribute when it was inherited). If something else wrapped
    the method over ours in the meantime, ours stays as an inert pass-through
    rather than removing theirs. Raise TypeError for a classmethod,
    staticmethod or non-callable attribute.
    """
    raw = owner.__dict__.get(name, _MISSING)
    original = getattr(owner, name)
    if not callable(original) or isinstance(raw, (classmethod, staticmethod)):
        raise TypeError(f"{owner.__qualname__}.{name} is not a plain method")
    live = [True]

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not live[0]:
            return original(self, *args, **kwargs)
        if not always:
            result = original(self, *args, **kwargs)
            _quietly(after, self, result)
            return result
        try:
            return original(self, *args, **kwargs)
        finally:
            _quietly(after, self, None)

    setattr(owner, name, wrapper)

    def undo() -> None:
        live[0] = False
        if owner.__dict__.get(name) is wrapper:
            if raw is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, raw)

    return undo


class Activations:
    """Turn a library's start/stop of its objects into `activated`/`deactivated` reports.

    Each start of an object opens one activation: every target it names is
    reported under one key, because they are names of one double (freezegun's
    frozen clock is `clock`, `time` and `datetime` at once). The object's next
    stop closes its most recent activation, so nested and repeated starts of the
    same object pair up the way the library pairs them. `via` names the library
    in every report.
    """

    def __init__(self, reporter: DoubleReporter, via: str) -> None:
        self._reporter = reporter
        self._via = via
        self._open: dict[int, list[object]] = {}

    def is_open(self, obj: object) -> bool:
        """Return True when `obj` has an activation that was not stopped yet."""
        return bool(self._open.get(id(obj)))

    def start(self, obj: object, targets: Sequence[str], replacement: str) -> object:
        """Report that `obj` made a double of `targets` active; return the activation's key."""
        key = (self._via, id(obj), next(_SERIAL))
        for target in targets:
            self._reporter.activated(target, replacement, self._via, key=key)
        self._open.setdefault(id(obj), []).append(key)
        return key

    def stop(self, obj: object) -> None:
        """Report that the most recent activation of `obj` ended; do nothing if none is open."""
        stack = self._open.get(id(obj))
        if not stack:
            return
        key = stack.pop()
        if not stack:
            del self._open[id(obj)]
        self._reporter.deactivated(key)

    def stop_key(self, key: object) -> None:
        """Report that the activation `key` ended (for doubles without a stop of their own)."""
        for obj_id, stack in list(self._open.items()):
            if key in stack:
                stack.remove(key)
                if not stack:
                    del self._open[obj_id]
                self._reporter.deactivated(key)
                return


def custom_detector(*, name: str, on_import: Mapping[str, ModuleHook]) -> DetectorHooks:
    """Declare a detector whose hooks you write, for a library without a start/stop pair.

    `on_import` maps a module's dotted name to `hook(module, reporter)`, called
    once the suite imports that module (at session start when it already has);
    the hook wraps what it needs (`wrap_method`, `Activations`) and returns the
    functions that undo it. The detector is active, and `install` returns
    `name`, when the top-level package of any of those modules is installed;
    the reporter is then told that the package's own `unittest.mock` patches
    are this detector's (`DoubleReporter.owns`). The library is never imported
    by the detector itself.
    """
    hooks = dict(on_import)
    undo_by_config: dict[int, list[Undo]] = {}

    @pytest.hookimpl
    def pytest_invariants_install_detector(
        config: pytest.Config, reporter: DoubleReporter
    ) -> str | None:
        active = False
        for module, hook in hooks.items():
            package = module.partition(".")[0]
            if not is_installed(package):
                continue
            active = True
            # A reporter of someone else's (a test double of it) may lack `owns`.
            _quietly(lambda reporter=reporter, package=package: reporter.owns(package, name))

            def install(loaded: ModuleType, hook: ModuleHook = hook) -> Sequence[Undo]:
                return hook(loaded, reporter)

            undo_by_config.setdefault(id(config), []).append(when_imported(module, install))
        return name if active else None

    @pytest.hookimpl
    def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
        for undo in reversed(undo_by_config.pop(id(config), [])):
            undo()

    return DetectorHooks(pytest_invariants_install_detector, pytest_invariants_uninstall_detector)


def _as_names(value: str | Sequence[str] | None) -> list[str]:
    """Return `value` as a list of names: one string is one name, not its characters."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


def _classes_by_module(cls: str | Sequence[str]) -> dict[str, list[str]]:
    """Split `module:Class` specs into {module: [qualified class names]}, keeping their order."""
    found: dict[str, list[str]] = {}
    for spec in _as_names(cls):
        module, sep, qualname = spec.partition(":")
        if not sep or not module or not qualname:
            raise ValueError(
                f"cls={spec!r}: expected 'module:Class', e.g. 'paysdk.testing:Sandbox'"
            )
        found.setdefault(module, []).append(qualname)
    if not found:
        raise ValueError("cls: name at least one 'module:Class'")
    return found


def _lookup(module: ModuleType, qualname: str) -> type | None:
    """Return the class `qualname` in `module`; None when this version of the library lacks it."""
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if isinstance(found, type) else None


@contextlib.contextmanager
def _undo_on_error(undo: list[Undo]) -> Iterator[None]:
    """Undo what was done so far when wrapping fails half-way, then re-raise."""
    try:
        yield
    except BaseException:
        for step in reversed(undo):
            step()
        undo.clear()
        raise


def detector(
    *,
    name: str,
    cls: str | Sequence[str],
    targets: str | Sequence[str] | Callable[[Any], str | Sequence[str] | None],
    replacement: str | Callable[[Any], str],
    start: str = "start",
    stop: str | None = "stop",
    once: bool = False,
) -> DetectorHooks:
    """Declare a detector for a library whose objects start and stop a double.

    name
        The detector's name, shown with `-v`, and the library named in every
        report ("paysdk replaced payments with ...").
    cls
        The class whose `start` and `stop` to wrap, as `module:Class`
        (`"paysdk.testing:Sandbox"`), or several. Each is hooked once the suite
        imports its module; a class the module does not define is skipped, so
        one declaration can name a class under its names in several versions of
        the library.
    targets
        What a started object stands in for: dotted names (`paysdk.client`) or
        named boundaries (`payments`, `http`, `clock`), all reported under one
        key as names of one double. Or a function of the started object that
        returns them, or None (or nothing) when this start is not a double
        worth reporting.
    replacement
        What stands in for the targets, in words shown in reports, or a
        function of the started object that returns them.
    start, stop
        The methods that start and stop the double. The start is reported
        after the library's own call returned; the stop even when it raised.
        With `stop=None` the library has no stop: the double ends when the
        started object is garbage-collected (a fake client that is active from
        its construction, with `start="__init__"`).
    once
        A second start of an object that is already active opens nothing (for
        libraries that ignore a repeated start, or constructors that run twice).

    Return the hooks; bind them in the detector's module::

        pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(...)
    """
    classes = _classes_by_module(cls)

    def targets_of(obj: Any) -> list[str]:
        return _as_names(targets(obj) if callable(targets) else targets)

    def words_for(obj: Any) -> str:
        return replacement(obj) if callable(replacement) else replacement

    def hook_class(owner: type, activations: Activations) -> list[Undo]:
        def started(obj: Any, _result: Any) -> None:
            if once and activations.is_open(obj):
                return
            names = targets_of(obj)
            if not names:
                return
            key = activations.start(obj, names, words_for(obj))
            if stop is None:
                # The finalizer holds the key, not the object, so it cannot keep it alive.
                weakref.finalize(obj, activations.stop_key, key)

        def stopped(obj: Any, _result: Any) -> None:
            activations.stop(obj)

        undo = [wrap_method(owner, start, started)]
        if stop is not None:
            with _undo_on_error(undo):
                undo.append(wrap_method(owner, stop, stopped, always=True))
        return undo

    def hook_module(qualnames: list[str]) -> ModuleHook:
        def hook(module: ModuleType, reporter: DoubleReporter) -> list[Undo]:
            activations = Activations(reporter, name)
            undo: list[Undo] = []
            with _undo_on_error(undo):
                for qualname in qualnames:
                    owner = _lookup(module, qualname)
                    if owner is not None:
                        undo.extend(hook_class(owner, activations))
            return undo

        return hook

    return custom_detector(
        name=name,
        on_import={module: hook_module(qualnames) for module, qualnames in classes.items()},
    )

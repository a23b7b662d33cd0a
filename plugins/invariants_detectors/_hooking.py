"""Wrap library methods and pair activations with deactivations, for every detector.

A detector replaces a method on a library's class (`start`, `stop`, `__init__`)
with a wrapper that calls the original first and then tells the reporter. The
wrapper never changes what the test observes: it returns the original's result,
lets the original's exceptions through untouched, and swallows any error of the
reporter. Undoing restores exactly what was in the class's `__dict__` before.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Final

import pytest

from pytest_invariants.hookspecs import DoubleReporter
from pytest_invariants.observe.importwatch import is_installed, when_imported

__all__ = [
    "Activations",
    "Installed",
    "Undo",
    "hook_start_stop",
    "install_start_stop_detector",
    "install_when_imported",
    "wrap_method",
]

Undo = Callable[[], None]
After = Callable[[Any, Any], None]

_MISSING: Final = object()


def _quietly(func: Callable[..., None], *args: Any) -> None:
    """Call `func`, dropping its errors: a reporting bug must never fail the user's test."""
    with contextlib.suppress(Exception):
        func(*args)


def wrap_method(owner: type, name: str, after: After, *, always: bool = False) -> Undo:
    """Replace `owner.name` with a wrapper that calls the original, then `after(self, result)`.

    With `always`, `after` runs even when the original raised (with result None):
    a `stop` that fails an assertion has still stopped the double. Return a
    function that undoes the replacement.
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
        # Restore only when ours is still in place: if someone wrapped over us, removing
        # ours would remove theirs too, so ours stays behind as an inert pass-through.
        if owner.__dict__.get(name) is wrapper:
            if raw is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, raw)

    return undo


class Activations:
    """Turn a library's start/stop calls into `activated`/`deactivated` reports.

    Each start of an object opens one activation: every target it names is
    reported under one key, because they are names of one double (freezegun's
    frozen clock is `clock`, `time` and `datetime` at once). The object's next
    stop closes its most recent activation, so nested and repeated starts of the
    same object pair up the way the library pairs them.
    """

    def __init__(self, reporter: DoubleReporter, via: str) -> None:
        self._reporter = reporter
        self._via = via
        self._open: dict[int, list[object]] = {}
        self._serial = itertools.count(1)

    def is_open(self, obj: object) -> bool:
        """Return True when `obj` has an activation that was not stopped yet."""
        return bool(self._open.get(id(obj)))

    def start(self, obj: object, targets: Sequence[str], replacement: str) -> object:
        """Report that `obj` made a double of `targets` active; return the activation's key."""
        key = (self._via, id(obj), next(self._serial))
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


class Installed:
    """Remember the undo functions of one detector, per pytest config.

    Keyed by config so that an in-process pytester run inside an `--invariants`
    run installs and removes its own wrappers without touching the outer ones.
    """

    def __init__(self) -> None:
        self._undo: dict[int, list[Undo]] = {}

    def add(self, config: pytest.Config, undo: Sequence[Undo]) -> None:
        self._undo.setdefault(id(config), []).extend(undo)

    def remove(self, config: pytest.Config) -> None:
        """Undo every wrapper installed for `config`, the last one first."""
        for undo in reversed(self._undo.pop(id(config), [])):
            undo()


def hook_start_stop(
    owner: type,
    activations: Activations,
    describe: Callable[[Any], tuple[Sequence[str], str] | None],
    *,
    start: str = "start",
    stop: str = "stop",
    once: bool = False,
) -> list[Undo]:
    """Wrap `owner.start` and `owner.stop` so they report to `activations`.

    `describe(obj)` returns (targets, replacement in words) for a started object,
    or None when this start is not a double worth reporting. With `once`, a
    second start of an object that is already active opens nothing (libraries
    such as responses ignore it too). Return the undo functions.
    """

    def started(obj: Any, _result: Any) -> None:
        if once and activations.is_open(obj):
            return
        described = describe(obj)
        if described is not None:
            activations.start(obj, *described)

    def stopped(obj: Any, _result: Any) -> None:
        activations.stop(obj)

    undo_start = wrap_method(owner, start, started)
    try:
        undo_stop = wrap_method(owner, stop, stopped, always=True)
    except Exception:
        undo_start()
        raise
    return [undo_start, undo_stop]


def install_when_imported(
    config: pytest.Config,
    installed: Installed,
    top_level: str,
    module: str,
    install: Callable[[ModuleType], Sequence[Undo]],
) -> bool:
    """Hook `module` once the suite imports it; return False when `top_level` is not installed.

    Detectors never import their library themselves: a suite that has moto
    installed but never imports it must not pay for importing it.
    """
    if not is_installed(top_level):
        return False
    installed.add(config, [when_imported(module, install)])
    return True


def install_start_stop_detector(
    config: pytest.Config,
    reporter: DoubleReporter,
    installed: Installed,
    spec: tuple[str, str, str],
    owner_of: Callable[[ModuleType], type | None],
    describe: Callable[[Any], tuple[Sequence[str], str] | None],
    *,
    once: bool = False,
) -> str | None:
    """Install a detector whose library starts and stops doubles with `start()`/`stop()`.

    `spec` is (detector name, top-level package, module holding the class);
    `owner_of(module)` returns the class to wrap (None: nothing to hook in this
    version). Return the detector's name, or None when the library is not installed.
    """
    name, top_level, module = spec
    activations = Activations(reporter, name)

    def install(loaded: ModuleType) -> Sequence[Undo]:
        owner = owner_of(loaded)
        return hook_start_stop(owner, activations, describe, once=once) if owner else []

    return name if install_when_imported(config, installed, top_level, module, install) else None

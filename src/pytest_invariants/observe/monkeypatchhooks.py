"""Hook pytest's `MonkeyPatch` to report what the `monkeypatch` fixture replaces.

Rather than parse each method's arguments (pytest 9 renamed its "not set"
sentinel and the overloads differ between versions), every wrapper passes
`*args, **kwargs` through untouched and then reads what the method appended
to the private undo lists `_setattr` (target, name, old value) and `_setitem`
(mapping, key, old value), present from pytest 7 to 9. `setenv`/`delenv`
call `setitem`/`delitem` inside: only the outermost call reports, so an
environment variable is reported once, as `monkeypatch.setenv`.
"""

from __future__ import annotations

import functools
import inspect
import threading
import types
from collections.abc import Callable
from typing import Any

from pytest_invariants.observe.mockhooks import MISSING, Replacement, Sink

__all__ = ["MonkeyPatchHooks"]

_RECORDED = ("setattr", "delattr", "setitem", "delitem", "setenv", "delenv")
_CONFIG = {"syspath_prepend": "sys.path", "chdir": "cwd"}


class MonkeyPatchHooks:
    """The hooks placed on `_pytest.monkeypatch.MonkeyPatch`."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.cls: type = module.MonkeyPatch
        # `notset` up to pytest 8, `NOTSET` from pytest 9: accept either.
        self._notset = tuple(
            getattr(module, name) for name in ("notset", "NOTSET") if hasattr(module, name)
        )
        self._saved: list[tuple[str, object]] = []
        self._depth = threading.local()

    def install(self, sink: Sink) -> None:
        """Wrap the recording methods, the configuration methods and `undo`."""
        for name in (*_RECORDED, *_CONFIG, "undo"):
            original = self.cls.__dict__.get(name)
            if original is None:
                sink.warn(f"MonkeyPatch.{name} not found; not observed")
                continue
            self._saved.append((name, original))
            setattr(self.cls, name, self._wrapper(name, original, sink))

    def uninstall(self) -> None:
        """Put every original method back."""
        while self._saved:
            name, original = self._saved.pop()
            setattr(self.cls, name, original)

    def _wrapper(self, name: str, original: Any, sink: Sink) -> Callable[..., Any]:
        if name == "undo":
            return _undo_wrapper(original, sink)

        @functools.wraps(original)
        def wrapper(mp: Any, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            if getattr(self._depth, "value", 0):
                return original(mp, *args, **kwargs)
            before = _lengths(mp)
            self._depth.value = 1
            try:
                result = original(mp, *args, **kwargs)
            finally:
                self._depth.value = 0
            report = functools.partial(self._report, sink, name, mp, before, args)
            try:
                report()
            except Exception as exc:  # noqa: BLE001 - observation must never break a test
                sink.warn(f"pytest-invariants could not observe monkeypatch.{name}: {exc!r}")
            return result

        return wrapper

    def _report(
        self, sink: Sink, name: str, mp: Any, before: tuple[int, int], args: tuple[Any, ...]
    ) -> None:
        via = f"monkeypatch.{name}"
        if name in _CONFIG:
            new = str(args[0]) if args else MISSING
            event = Replacement(via, None, None, new=new, target=_CONFIG[name], config=True)
            sink.replaced(mp, event)
            return
        hint = _string_owner(args) if name in ("setattr", "delattr") else None
        for owner, attr, old in mp._setattr[before[0] :]:
            new = MISSING if name == "delattr" else inspect.getattr_static(owner, attr, MISSING)
            event = Replacement(via, owner, attr, False, self._value(old), new, owner_hint=hint)
            sink.replaced(mp, event)
        for mapping, key, old in mp._setitem[before[1] :]:
            new = mapping.get(key, MISSING) if name in ("setitem", "setenv") else MISSING
            sink.replaced(mp, Replacement(via, mapping, key, True, self._value(old), new))

    def _value(self, old: object) -> object:
        return MISSING if any(old is s for s in self._notset) else old


def _undo_wrapper(original: Any, sink: Sink) -> Callable[..., Any]:
    @functools.wraps(original)
    def undo(mp: Any, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            sink.restored(mp)
        except Exception as exc:  # noqa: BLE001 - observation must never break a test
            sink.warn(f"pytest-invariants could not observe monkeypatch.undo: {exc!r}")
        return original(mp, *args, **kwargs)

    return undo


def _lengths(mp: Any) -> tuple[int, int]:
    return len(getattr(mp, "_setattr", ())), len(getattr(mp, "_setitem", ()))


def _string_owner(args: tuple[Any, ...]) -> str | None:
    """Return 'a.b' for `setattr("a.b.c", value)`: the owner the test named."""
    if args and isinstance(args[0], str) and "." in args[0]:
        return args[0].rsplit(".", 1)[0]
    return None

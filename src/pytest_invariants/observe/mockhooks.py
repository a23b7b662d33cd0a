"""Hook `unittest.mock` (or the `mock` backport) to report patches and mock calls.

This module knows the private internals of `unittest.mock`; `doubles.py`
turns what it reports into model records. Internals relied upon, checked
against CPython 3.10 to 3.13 and mock 5.x:

- `_patch.__enter__` / `__exit__`: every form of `patch`, `patch.object` and
  `patch.multiple` goes through them (the decorator form via
  `decoration_helper`, `start()`/`stop()` call them too). After `__enter__`
  the patcher holds `target`, `attribute`, `temp_original` (DEFAULT when the
  attribute was created), `new`, `autospec`, `attribute_name` (set only by
  `patch.multiple`) and `getter` (a lambda over the dotted string up to 3.11,
  a `functools.partial(pkgutil.resolve_name, ...)` from 3.12).
- `_patch_dict._patch_dict` / `_unpatch_dict`: the decorator form of
  `patch.dict` calls them directly and never calls `__enter__`.
- `CallableMixin._increment_mock_call`: called by `CallableMixin.__call__`
  for every Mock, MagicMock, AsyncMock (at call time, not await time) and
  autospecced function. 3.13's `ThreadingMock` overrides `_mock_call` only, so
  it still passes here. Every mock instance gets a subclass of its own, so
  the hook must sit on the base class.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = ["MISSING", "MockHooks", "Replacement", "Sink", "mock_hooks_for"]


class _Missing:
    """Stand for 'no value': an attribute that did not exist or was deleted."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

# Names of the mock module's frames that wrap a decorated test function, and
# the free variable holding it: `_patch.decorate_callable` -> patched(func),
# `_patch_dict.decorate_callable` -> _inner(f).
_DECORATOR_FRAMES: Final = {"patched": "func", "_inner": "f"}


@dataclass(frozen=True)
class Replacement:
    """One replacement as its tool saw it, before it becomes a DoubleRecord.

    `owner` is the object whose attribute `name` changed, or (with `item`)
    the mapping whose key `name` changed. `owner_hint` is the dotted name the
    test wrote for the owner, when it wrote one. `target` overrides the
    computed target for replacements of no attribute (`sys.path`, `cwd`).
    """

    via: str
    owner: object
    name: object
    item: bool = False
    original: object = MISSING
    new: object = MISSING
    owner_hint: str | None = None
    autospec: bool = False
    spy: bool = False
    target: str | None = None
    config: bool = False


class Sink(Protocol):
    """What the hooks report to; `DoubleObserver` is the one implementation."""

    recording: bool

    def replaced(self, token: object, event: Replacement) -> None:
        """Note that `event` became active; `token` ends it later."""

    def restored(self, token: object) -> None:
        """Note that every replacement made under `token` ended."""

    def mock_called(self, mock: object) -> None:
        """Note a call of `mock`; called from inside the mock machinery."""

    def warn(self, message: str) -> None:
        """Keep a message about something that could not be observed."""


def _safely(sink: Sink, what: str, func: Callable[[], None]) -> None:
    """Run `func`; an error in our bookkeeping must never reach the test."""
    try:
        func()
    except Exception as exc:  # noqa: BLE001 - observation is best effort by design
        sink.warn(f"pytest-invariants could not observe {what}: {exc!r}")


class MockHooks:
    """The hooks placed in one mock module (`unittest.mock` or `mock.mock`)."""

    def __init__(self, module: types.ModuleType, label: str) -> None:
        self.module = module
        self.label = label  # 'unittest.mock' or 'mock'
        self.file: str = module.__file__ or ""
        self.base: type = module.NonCallableMock
        self._default: object = module.DEFAULT
        self._saved: list[tuple[type, str, object]] = []

    def install(self, sink: Sink) -> None:
        """Wrap the private entry points listed in the module docstring."""
        m = self.module
        self._wrap(m._patch, "__enter__", self._enter_wrapper, sink)
        self._wrap(m._patch, "__exit__", self._exit_wrapper, sink)
        self._wrap(m._patch_dict, "_patch_dict", self._dict_enter_wrapper, sink)
        self._wrap(m._patch_dict, "_unpatch_dict", self._exit_wrapper, sink)
        self._wrap(m.CallableMixin, "_increment_mock_call", _call_wrapper, sink)

    def uninstall(self) -> None:
        """Put every original attribute back, last wrapped first."""
        while self._saved:
            owner, name, original = self._saved.pop()
            setattr(owner, name, original)

    def _wrap(
        self,
        owner: type,
        name: str,
        make: Callable[[Any, Sink], Callable[..., Any]],
        sink: Sink,
    ) -> None:
        original = owner.__dict__.get(name)
        if original is None:
            sink.warn(f"{self.label}: {owner.__qualname__}.{name} not found; not observed")
            return
        self._saved.append((owner, name, original))
        setattr(owner, name, make(original, sink))

    def is_mock(self, obj: object) -> bool:
        """Return True for instances of this module's mocks (never asks the object)."""
        return issubclass(type(obj), self.base)

    def inner_mock(self, obj: object) -> object | None:
        """Return the mock behind `obj`: itself, or an autospecced function's `.mock`."""
        if self.is_mock(obj):
            return obj
        if type(obj) is types.FunctionType:
            inner = obj.__dict__.get("mock")
            if self.is_mock(inner):
                return inner
        return None

    def decorated_code(self, frame: types.FrameType) -> types.CodeType | None:
        """Return the test function's code when `frame` is a patch decorator's wrapper."""
        code = frame.f_code
        if code.co_filename != self.file or code.co_name not in _DECORATOR_FRAMES:
            return None
        func = frame.f_locals.get(_DECORATOR_FRAMES[code.co_name])
        if func is None:
            return None
        with contextlib.suppress(ValueError):  # a __wrapped__ cycle
            func = inspect.unwrap(func)
        code_obj = getattr(func, "__code__", None)
        return code_obj if isinstance(code_obj, types.CodeType) else None

    # -- _patch -------------------------------------------------------------

    def _enter_wrapper(self, original: Any, sink: Sink) -> Callable[..., Any]:
        @functools.wraps(original)
        def __enter__(patcher: Any, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            result = original(patcher, *args, **kwargs)
            _safely(sink, "a patch", lambda: sink.replaced(patcher, self._event(patcher, result)))
            return result

        return __enter__

    def _exit_wrapper(self, original: Any, sink: Sink) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(patcher: Any, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            _safely(sink, "the end of a patch", lambda: sink.restored(patcher))
            return original(patcher, *args, **kwargs)

        return wrapper

    def _event(self, patcher: Any, result: object) -> Replacement:
        """Describe an entered `_patch` from the state `__enter__` left on it."""
        new = patcher.new
        if new is self._default:
            # The patch created the mock: `__enter__` returned it, or for
            # patch.multiple a dict holding it under the attribute's name.
            multiple = patcher.attribute_name is not None
            new = result[patcher.attribute_name] if multiple else result  # type: ignore[index]
        original = patcher.temp_original
        if original is self._default:
            original = MISSING
        hint = _getter_string(patcher.getter)
        return Replacement(
            via=self._patch_via(patcher, hint),
            owner=patcher.target,
            name=patcher.attribute,
            original=original,
            new=new,
            owner_hint=hint,
            autospec=patcher.autospec not in (None, False),
            spy=self._is_spy(new, original),
        )

    def _patch_via(self, patcher: Any, hint: str | None) -> str:
        if patcher.attribute_name is not None:
            return f"{self.label}.patch.multiple"
        return f"{self.label}.patch" if hint is not None else f"{self.label}.patch.object"

    def _is_spy(self, new: object, original: object) -> bool:
        """Return True when `new` is a mock that calls through to `original`."""
        inner = self.inner_mock(new)
        if inner is None:
            return False
        if vars(inner).get("_mock_wraps") is not None:
            return True
        effect = getattr(inner, "side_effect", None)
        wrapped = getattr(effect, "__wrapped__", None) if callable(effect) else None
        return wrapped is not None and _same_callable(wrapped, original)

    # -- _patch_dict --------------------------------------------------------

    def _dict_enter_wrapper(self, original: Any, sink: Sink) -> Callable[..., Any]:
        @functools.wraps(original)
        def _patch_dict(patcher: Any, *args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            # `in_dict` may still be the dotted string: it is resolved inside.
            hint = patcher.in_dict if isinstance(patcher.in_dict, str) else None
            result = original(patcher, *args, **kwargs)
            _safely(sink, "patch.dict", lambda: self._report_dict(sink, patcher, hint))
            return result

        return _patch_dict

    def _report_dict(self, sink: Sink, patcher: Any, hint: str | None) -> None:
        in_dict, before = patcher.in_dict, patcher._original or {}
        via = f"{self.label}.patch.dict"
        if patcher.clear:
            sink.replaced(patcher, Replacement(via, in_dict, "*", True, owner_hint=hint))
        for key, value in patcher.values.items():
            old = before.get(key, MISSING) if isinstance(before, dict) else MISSING
            event = Replacement(via, in_dict, key, True, old, value, owner_hint=hint)
            sink.replaced(patcher, event)


def _call_wrapper(original: Any, sink: Sink) -> Callable[..., Any]:
    # The hot path: one attribute read when no test runs.
    @functools.wraps(original)
    def _increment_mock_call(mock: Any, /, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if sink.recording:
            sink.mock_called(mock)
        return original(mock, *args, **kwargs)

    return _increment_mock_call


def _getter_string(getter: object) -> str | None:
    """Return the dotted string a `patch("a.b.c")` getter resolves, else None."""
    if isinstance(getter, functools.partial):  # 3.12+
        first = getter.args[0] if getter.args else None
        return first if isinstance(first, str) else None
    code = getattr(getter, "__code__", None)
    closure = getattr(getter, "__closure__", None)
    if code is None or not closure or "target" not in code.co_freevars:
        return None  # patch.object: `lambda: target` closes over an object
    value = closure[code.co_freevars.index("target")].cell_contents
    return value if isinstance(value, str) else None


def _same_callable(a: object, b: object) -> bool:
    """Return True when `a` and `b` are the same function, bound or not."""
    return _underlying(a) is _underlying(b)


def _underlying(obj: object) -> object:
    if isinstance(obj, (types.MethodType, staticmethod, classmethod)):
        return obj.__func__
    return obj


def mock_hooks_for(name: str) -> MockHooks | None:
    """Return hooks for `unittest.mock` or the `mock` backport once the suite imported it."""
    if name == "unittest.mock":
        # From sys.modules, never `import unittest.mock`: we never import it ourselves, and
        # while it is being imported (importwatch calls us then) `unittest` has no `mock` yet.
        found = sys.modules.get("unittest.mock")
        return None if found is None else MockHooks(found, "unittest.mock")
    module = sys.modules.get("mock.mock")
    if module is None or not hasattr(module, "_patch"):
        return None
    return MockHooks(module, "mock")

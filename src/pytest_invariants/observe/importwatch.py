"""Run code right after a module is imported, without importing it ourselves.

Two parts of the tool need this: the line recorder instruments scope modules
that a test imports late, and detector plugins hook a double library only once
the suite imports it. Importing moto, boto3 or httpx up front "just in case"
costs a suite that never uses them seconds of CPU (more modules, slower GC), so
detectors wait here instead.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["PostImportHook", "is_installed", "when_imported"]

Wants = Callable[[str, importlib.machinery.ModuleSpec], bool]
Loaded = Callable[[types.ModuleType], None]
Names = Callable[[str], bool]
Undo = Callable[[], None]


class PostImportHook(importlib.abc.MetaPathFinder):
    """Call `loaded(module)` right after each wanted module executes.

    Sits first on `sys.meta_path` and asks the finders behind it, in their
    order, so the spec it returns is the one the import system would have
    used; only the loader of a wanted module is wrapped.

    `names` tells, from the name alone, which modules can be wanted at all: for
    every other name the hook returns None at once. Asking the finders behind
    for a name nobody finds would make the import system ask them all again
    (twice the `PathFinder` work per failed lookup, once more per hook).
    """

    def __init__(self, wants: Wants, loaded: Loaded, names: Names | None = None) -> None:
        self._wants = wants
        self._loaded = loaded
        self._names = names
        self._busy: set[str] = set()

    def install(self) -> None:
        sys.meta_path.insert(0, self)

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self._busy or (self._names is not None and not self._names(fullname)):
            return None
        self._busy.add(fullname)
        try:
            spec = self._find_behind(fullname, path, target)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        if self._wants(fullname, spec):
            spec.loader = _NotifyingLoader(spec.loader, self._loaded)
        return spec

    def _find_behind(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None,
    ) -> importlib.machinery.ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


class _NotifyingLoader(importlib.abc.Loader):
    """Run the real loader, then tell the hook's owner."""

    def __init__(self, loader: Any, loaded: Loaded) -> None:
        self._loader = loader
        self._loaded = loaded

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: types.ModuleType) -> None:
        # Put the real loader back before the module runs: code that inspects
        # __loader__ (inspect.getsource, importlib.resources) must not see us.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._loaded(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def is_installed(top_level: str) -> bool:
    """Return True when the top-level package `top_level` can be imported (without importing it)."""
    if top_level in sys.modules:
        return True
    try:
        return importlib.util.find_spec(top_level) is not None
    except (ImportError, ValueError):
        return False


def when_imported(name: str, install: Callable[[types.ModuleType], Sequence[Undo]]) -> Undo:
    """Call `install(module)` once module `name` is imported: now if it already is.

    `install` returns the functions that undo it. Return one function that
    removes the watch and undoes whatever `install` did.
    """
    undo: list[Undo] = []
    module = sys.modules.get(name)
    if module is not None:
        undo.extend(install(module))
        return lambda: _undo_all(undo)

    def loaded(module: types.ModuleType) -> None:
        hook.remove()
        undo.extend(install(module))

    hook = PostImportHook(lambda _fullname, _spec: True, loaded, names=name.__eq__)
    hook.install()

    def remove() -> None:
        hook.remove()
        _undo_all(undo)

    return remove


def _undo_all(undo: list[Undo]) -> None:
    while undo:
        undo.pop()()

"""The worker: run one invariant's mutants in one pytest process (docs/prove.md).

`python -m pytest_invariants.prove.worker SPEC.json` starts pytest on the
linked tests only, collects them once, runs them against the real code (the
baseline), then for each mutant: compile the mutated function with its real
file name and line numbers, swap its `__code__`, run the tests until the first
failure, and swap the original back. The user's files are never written: the
mutant exists only in this process's memory, so killing the process at any
moment leaves nothing behind.

Events go to the controller as JSON lines on the file descriptor named in the
spec, one per finished step, so a worker that hangs or dies is noticed there.
"""

from __future__ import annotations

import ast
import functools
import gc
import importlib
import importlib.util
import inspect
import json
import os
import signal
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from pytest_invariants.prove.mutants import Mutant, function_code, mutated_tree

__all__ = ["main"]


class MutantTimeout(BaseException):
    """Raised by the alarm: a BaseException so that `except Exception` in tests can't hide it."""


def _emit_to(fd: int) -> Callable[[dict[str, Any]], None]:
    def emit(event: dict[str, Any]) -> None:
        os.write(fd, (json.dumps(event) + "\n").encode("utf-8"))

    return emit


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise MutantTimeout in the main thread after `seconds` (where SIGALRM exists)."""
    if not hasattr(signal, "setitimer"):
        yield  # the controller's hard deadline still applies
        return

    def ring(signum: int, frame: object) -> None:
        raise MutantTimeout

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_CACHE_TYPE = type(functools.lru_cache(maxsize=None)(len))


class _Target:
    """The live function objects of one scope function, with their original code."""

    def __init__(self, functions: list[types.FunctionType]) -> None:
        self.functions = functions
        self.original = functions[0].__code__
        self.caches = _caches_of(functions)

    def swap(self, code: types.CodeType) -> None:
        for func in self.functions:
            func.__code__ = code
        self.clear()

    def restore(self) -> None:
        self.swap(self.original)

    def clear(self) -> None:
        # A functools cache would answer with results computed by another mutant.
        for cache in self.caches:
            cache.cache_clear()


def _caches_of(functions: Sequence[types.FunctionType]) -> list[Any]:
    wanted = {id(f) for f in functions}
    found = []
    for obj in gc.get_objects():
        # Only real functools caches: getattr on arbitrary objects can run lazy imports.
        if not isinstance(obj, _CACHE_TYPE):
            continue
        try:
            chain = inspect.unwrap(obj, stop=lambda o: id(o) in wanted)
        except ValueError:
            continue
        if id(chain) in wanted:
            found.append(obj)
    return found


def _live_functions(path: str, name: str, first_line: int) -> list[types.FunctionType]:
    real = os.path.realpath(path)
    found = []
    for obj in gc.get_objects():
        if not isinstance(obj, types.FunctionType):
            continue
        code = obj.__code__
        same_def = code.co_name == name and code.co_firstlineno == first_line
        if same_def and os.path.realpath(code.co_filename) == real:
            found.append(obj)
    return found


class Runner:
    """A pytest plugin that replaces the test loop with baseline + one run per mutant."""

    def __init__(self, spec: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
        self._spec = spec
        self._emit = emit
        self._wanted: list[str] = list(spec["tests"])
        self._mutants = [Mutant(**m) for m in spec["mutants"]]
        self._targets: dict[tuple[str, str, int], _Target | str] = {}
        self._first_killer: str | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # The user's addopts may ask for our own report, a JUnit file or an HTML report:
        # a proof run must never write into the project, so those are switched off here.
        for name in (
            "invariants",
            "invariants_json",
            "invariants_html",
            "invariants_md",
            "invariants_sarif",
            "xmlpath",
            "htmlpath",
            "report_log",
        ):
            if hasattr(config.option, name):
                setattr(config.option, name, None)
        if hasattr(config.option, "invariants_prove"):
            config.option.invariants_prove = False

    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        order = {nodeid: index for index, nodeid in enumerate(self._wanted)}
        keep = sorted((i for i in items if i.nodeid in order), key=lambda i: order[i.nodeid])
        drop = [i for i in items if i.nodeid not in order]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        items = list(session.items)
        missing = sorted(set(self._wanted) - {i.nodeid for i in items})
        if missing:
            self._emit({"event": "baseline", "ok": False, "why": f"not collected: {missing[0]}"})
            return True
        started = time.perf_counter()
        failed, timed_out = self._run(session, items, float(self._spec["baseline_budget"]))
        seconds = time.perf_counter() - started
        if failed is not None:
            why = "timed out" if timed_out else "failed"
            self._emit({"event": "baseline", "ok": False, "why": f"{failed} {why}"})
            return True
        self._emit({"event": "baseline", "ok": True, "seconds": seconds})
        budget = self._spec["factor"] * max(seconds, self._spec["recorded"]) + self._spec["base"]
        for mutant in self._mutants:
            self._emit(self._one(session, items, mutant, budget))
        return True

    def _one(
        self, session: pytest.Session, items: list[pytest.Item], mutant: Mutant, budget: float
    ) -> dict[str, Any]:
        self._emit({"event": "start", "id": mutant.id, "budget": budget})
        result: dict[str, Any] = {"event": "result", "id": mutant.id, "killed_by": None}
        try:
            return {**result, **self._try(session, items, mutant, budget)}
        except Exception as exc:  # our own failure must cost one mutant, not the whole proof
            return {**result, "status": "error", "why": f"{type(exc).__name__}: {exc}"}

    def _try(
        self, session: pytest.Session, items: list[pytest.Item], mutant: Mutant, budget: float
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        target = self._target(mutant)
        if isinstance(target, str):
            return {**result, "status": "error", "why": target}
        try:
            code = function_code(
                mutated_tree(self._spec["sources"][mutant.file], mutant),
                target.original.co_filename,
                mutant.function,
                mutant.function_line,
            )
            target.swap(code)
        except (SyntaxError, ValueError, TypeError) as exc:
            target.restore()
            return {**result, "status": "error", "why": f"cannot apply: {exc}"}
        try:
            failed, timed_out = self._run(session, self._ordered(items), budget)
        finally:
            target.restore()
        if failed is None:
            return {**result, "status": "survived"}
        self._first_killer = failed
        return {**result, "status": "timeout" if timed_out else "killed", "killed_by": failed}

    def _ordered(self, items: list[pytest.Item]) -> list[pytest.Item]:
        # The test that killed the last mutant is likely to kill the next one: try it first.
        first = [i for i in items if i.nodeid == self._first_killer]
        return first + [i for i in items if i.nodeid != self._first_killer]

    def _target(self, mutant: Mutant) -> _Target | str:
        key = (mutant.file, mutant.function, mutant.function_line)
        if key not in self._targets:
            self._targets[key] = self._find(mutant)
        return self._targets[key]

    def _find(self, mutant: Mutant) -> _Target | str:
        path = self._spec["paths"][mutant.file]
        name = mutant.function.rpartition(".")[2]
        functions = _live_functions(path, name, mutant.function_line)
        module = self._spec["modules"].get(mutant.file)
        if not functions and module:
            try:
                importlib.import_module(module)
            except Exception as exc:  # the user's module: any error is a reason, not a crash
                return f"cannot import {module}: {exc}"
            functions = _live_functions(path, name, mutant.function_line)
        if not functions:
            return f"{mutant.function} ({mutant.file}:{mutant.function_line}) is not loaded"
        original = function_code(
            ast.parse(self._spec["sources"][mutant.file]),
            functions[0].__code__.co_filename,
            mutant.function,
            mutant.function_line,
        )
        if original.co_code != functions[0].__code__.co_code:
            return f"{mutant.file} changed since its mutants were made"
        return _Target(functions)

    def _run(
        self, session: pytest.Session, items: list[pytest.Item], budget: float
    ) -> tuple[str | None, bool]:
        """Run `items` until the first failure; return (its node id, whether it timed out)."""
        current = items[0].nodeid if items else None
        try:
            with _alarm(budget):
                for index, item in enumerate(items):
                    current = item.nodeid
                    nextitem = items[index + 1] if index + 1 < len(items) else None
                    reports = runtestprotocol(item, log=False, nextitem=nextitem)
                    if any(r.failed for r in reports):
                        timed_out = any(_is_timeout(r) for r in reports)
                        _teardown_all(session)
                        return item.nodeid, timed_out
        except MutantTimeout:
            _teardown_all(session)
            return current, True
        return None, False


def _is_timeout(report: pytest.TestReport) -> bool:
    longrepr = report.longrepr
    text = str(longrepr) if longrepr is not None else ""
    return "MutantTimeout" in text


def _teardown_all(session: pytest.Session) -> None:
    # Fixtures built against a mutant must not serve the next one: tear everything down.
    # A failing teardown after a kill changes nothing about the verdict.
    with suppress(Exception):
        session._setupstate.teardown_exact(None)


def _pytest_args(spec: dict[str, Any]) -> list[str]:
    files = sorted({nodeid.split("::", 1)[0] for nodeid in spec["tests"]})
    args = [
        *files,
        "-q",
        "-p",
        "no:randomly",
        "--rootdir",
        spec["rootdir"],
        "-o",
        f"cache_dir={spec['cache_dir']}",
    ]
    if importlib.util.find_spec("xdist") is not None:
        args += ["-n", "0"]  # one mutant at a time in this process; parallelism is ours
    if importlib.util.find_spec("pytest_cov") is not None:
        args += ["--no-cov"]  # pytest-cov would write .coverage into the project
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker described by the spec file named in `argv`; return pytest's status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    sys.dont_write_bytecode = True  # no .pyc files in the user's tree either
    emit = _emit_to(int(spec["fd"]))
    return int(pytest.main(_pytest_args(spec), plugins=[Runner(spec, emit)]))


if __name__ == "__main__":
    sys.exit(main())

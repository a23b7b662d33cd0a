"""The worker: collect once, then test each mutant in a fork of the warm process.

`python -m pytest_invariants.prove.worker` reads its spec (one JSON line) from
stdin, starts pytest on the linked tests of every task, collects them once, and
from then on never imports or collects again: for each task it forks a child
that runs the task's tests against the real code (the *baseline*), and for each
mutant a child that swaps the mutated code into the live function objects, runs
only the tests that executed the mutated line until the first failure, reports,
and exits. The parent process never runs a test and never holds a mutant, so
one mutant cannot leak into the next, and killing a child at its time box
costs nothing but that child (docs/prove.md).

Nothing outlives the controller: this process dies with it (PR_SET_PDEATHSIG
on Linux, and end-of-file on stdin, which the controller holds open), its
children die with it, and its one temporary folder (pytest's basetemp) is
removed on the way out; a folder left by a process killed with SIGKILL is
removed by the next worker that starts.

Events go to the controller as JSON lines on the file descriptor named in the
spec: `collected`, then `baseline` per task, `result` per mutant, and `done`.

Time boxes: a mutant's child gets a CPU-time box (its tests' own time x the
factor + a small margin, SIGPROF from the kernel), which a loaded machine does
not shrink, and a wall-clock box (the same x the factor + the base) for a
mutant that blocks without computing (a wait that never ends).
"""

from __future__ import annotations

import ast
import base64
import contextlib
import ctypes
import functools
import gc
import importlib
import importlib.util
import inspect
import json
import marshal
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from _pytest.runner import runtestprotocol

from pytest_invariants.prove.mutants import Mutant, code_fingerprint, mutant_code

__all__ = ["FOLDER_PREFIX", "die_with_parent", "main", "sweep_stale_folders"]

FOLDER_PREFIX = "invariants-prove-"
_FOLDER = re.compile(re.escape(FOLDER_PREFIX) + r"(\d+)-")
_PR_SET_PDEATHSIG = 1
_CACHE_TYPE = type(functools.lru_cache(maxsize=None)(len))
# The CPU box's margin, seconds of CPU. A test's own time is measured around the same
# calls the box covers, in a fresh fork with that test alone (so a cold start, such as a
# lazy import an earlier test used to pay, is in it); CPU time does not grow with the
# machine's load, so the margin need not cover scheduling delays either.
CPU_MARGIN = 0.02


# -- dying with the parent ----------------------------------------------------------------


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # loaded once, before the forks


def die_with_parent(parent: int, how: signal.Signals) -> None:
    """Ask the kernel for signal `how` when `parent` dies; exit now if it already has.

    Linux only (prctl); elsewhere the controller's stdin closing is the signal.
    """
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            _libc().prctl(_PR_SET_PDEATHSIG, int(how), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_folders(root: str | None = None) -> None:
    """Remove our temporary folders whose worker is gone (it was killed with SIGKILL)."""
    base = Path(root or tempfile.gettempdir())
    with suppress(OSError):
        for path in base.iterdir():
            match = _FOLDER.match(path.name)
            if match and path.is_dir() and not _alive(int(match.group(1))):
                shutil.rmtree(path, ignore_errors=True)


# -- the scope functions, found once in the parent -------------------------------------------


@dataclass
class _Target:
    """The live function objects of one scope function, and functools caches around them."""

    functions: list[types.FunctionType]
    caches: list[Any] = field(default_factory=list)

    def swap(self, code: types.CodeType) -> None:
        for func in self.functions:
            func.__code__ = code
        self.clear()

    def set_default(self, param: str, value: object) -> None:
        for func in self.functions:
            code = func.__code__
            names = code.co_varnames[: code.co_argcount]
            defaults = func.__defaults__ or ()
            if param in names and names.index(param) >= len(names) - len(defaults):
                index = names.index(param) - (len(names) - len(defaults))
                func.__defaults__ = (*defaults[:index], value, *defaults[index + 1 :])
            elif func.__kwdefaults__ and param in func.__kwdefaults__:
                func.__kwdefaults__ = {**func.__kwdefaults__, param: value}
            else:
                raise ValueError(f"{func.__qualname__} has no default for {param!r}")
        self.clear()

    def clear(self) -> None:
        # A functools cache would answer with results computed by the real code.
        for cache in self.caches:
            cache.cache_clear()


_Key = tuple[str, int, str]  # (function name, co_firstlineno, real path of its file)


def _scan(wanted: set[_Key]) -> dict[_Key, _Target]:
    """Find every live function object (and functools cache) of the wanted definitions."""
    found: dict[_Key, _Target] = {}
    caches: list[Any] = []
    quick = {(name, first) for name, first, _ in wanted}  # realpath only for candidates
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType):
            code = obj.__code__
            if (code.co_name, code.co_firstlineno) not in quick:
                continue
            key = (code.co_name, code.co_firstlineno, os.path.realpath(code.co_filename))
            if key in wanted:
                found.setdefault(key, _Target([])).functions.append(obj)
        elif isinstance(obj, _CACHE_TYPE):
            caches.append(obj)
    by_id = {id(f): target for target in found.values() for f in target.functions}
    for cache in caches:
        # Only real functools caches: getattr on arbitrary objects can run lazy imports.
        with suppress(ValueError):
            inner = inspect.unwrap(cache, stop=lambda o: id(o) in by_id)
            if id(inner) in by_id:
                by_id[id(inner)].caches.append(cache)
    return found


# -- jobs: one forked child each ---------------------------------------------------------------


@dataclass
class _Job:
    task: str
    tests: list[str]
    budget: float  # wall-clock seconds
    mutant: Mutant | None = None  # None: the baseline (or, `alone`, one test's calibration)
    cpu_budget: float = 0.0  # seconds of CPU; 0: no CPU box (the baseline)
    alone: bool = False  # one test alone in a fresh fork: does it pass, how long does it take

    @property
    def name(self) -> str:
        if self.mutant is not None:
            return self.mutant.id
        return f"{self.tests[0]} alone" if self.alone else f"baseline of {self.task}"


@dataclass
class _Running:
    job: _Job
    fd: int
    deadline: float
    data: bytes = b""


def _emit_to(fd: int) -> Callable[[dict[str, Any]], None]:
    def emit(event: dict[str, Any]) -> None:
        os.write(fd, (json.dumps(event) + "\n").encode("utf-8"))

    return emit


class Runner:
    """A pytest plugin that replaces the test loop: baselines and mutants in forked children."""

    def __init__(
        self, spec: dict[str, Any], emit: Callable[[dict[str, Any]], None], folder: str = ""
    ) -> None:
        self._spec = spec
        self._folder = folder
        self._emit = emit
        self._tasks: dict[str, dict[str, Any]] = {t["id"]: t for t in spec["tasks"]}
        self._wanted = list(dict.fromkeys(n for t in spec["tasks"] for n in t["tests"]))
        self._items: dict[str, pytest.Item] = {}
        self._session: pytest.Session | None = None
        self._trees: dict[str, ast.Module] = {}
        self._targets: dict[tuple[str, str, int], _Target | str] = {}
        self._durations: dict[str, float] = {}
        self._cpu: dict[str, float] = {}  # each test's CPU seconds in its baseline
        self._alone: dict[str, float] = {}  # each test's time alone in a fresh fork
        self._alone_failed: dict[str, str] = {}  # tests that fail alone, and why
        self._passed: dict[str, dict[str, Any]] = {}  # baselines passed, mutants not queued
        self._exiting: set[int] = set()  # children that reported and are exiting
        self._code: dict[str, types.CodeType] = {}  # mutant id -> code compiled by the controller
        self._killer: dict[str, str] = {}  # task -> the test that killed its last mutant
        self._running: dict[int, _Running] = {}

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
        if hasattr(config.option, "no_invariants"):
            # An ini `invariants_*` key or an addopts gate must not turn the plugin on here.
            config.option.no_invariants = True

    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        wanted = set(self._wanted)
        drop = [i for i in items if i.nodeid not in wanted]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i.nodeid in wanted]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        self._session = session
        self._items = {item.nodeid: item for item in session.items}
        self._emit({"event": "collected", "tests": len(self._items)})
        if not self._receive_mutants():
            self._leave(session.config)  # the controller has nothing for us, or is gone
        self._prepare()
        queue: list[_Job] = []
        alone: set[str] = set()
        for task in self._spec["tasks"]:
            missing = [n for n in task["tests"] if n not in self._items]
            if missing:
                why = f"not collected: {missing[0]}"
                self._emit({"event": "baseline", "task": task["id"], "ok": False, "why": why})
                continue
            queue.append(_Job(task["id"], list(task["tests"]), self._baseline_budget(task)))
            for test in task["tests"]:  # each test once, whichever tasks share it
                if test not in alone:
                    alone.add(test)
                    budget = self._baseline_budget(task, [test])
                    queue.append(_Job(task["id"], [test], budget, alone=True))
        self._warm()
        try:
            self._schedule(queue)
        finally:
            self._kill_children()
        self._emit({"event": "done"})
        self._leave(session.config)

    def _leave(self, config: pytest.Config) -> NoReturn:
        """Exit now: this process ran no test, so there is no session to finish.

        The session-finish hooks (the terminal summary, where hypothesis imports
        itself: a second or more) would only delay the controller. Unconfigure
        hooks still run: plugins release what they set up at configure time.
        """
        with suppress(Exception):
            config._ensure_unconfigure()
        shutil.rmtree(self._folder, ignore_errors=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _warm(self) -> None:
        """Before the first fork: compute what pytest computes lazily, and freeze the heap.

        Each item's `location` (a cached property) would otherwise be computed in
        every child again. `gc.freeze()` moves every object to a generation the
        collector never scans, so a child's collections do not touch (and copy)
        the pages of the whole heap; only the child's own objects are collected.
        No collection first: over a heap with pytest and its plugins that takes
        longer than the garbage it would free is worth.
        """
        for item in self._items.values():
            with suppress(Exception):
                item.location  # noqa: B018 - computed for its cache
        gc.freeze()

    # -- preparing, in the parent ------------------------------------------------------------

    def _receive_mutants(self) -> bool:
        """Read the spec's second line (the mutants, made while we collected) into the tasks."""
        line = sys.stdin.buffer.readline()
        if not line.strip():
            return False
        same_python = self._spec.get("python") == sys.version
        for body in json.loads(line)["tasks"]:
            task = self._tasks.get(body["id"])
            if task is None:
                continue
            task.update(body)
            if same_python:  # marshal's format belongs to one interpreter version
                for mid, data in body.get("code", {}).items():
                    with suppress(ValueError, EOFError, TypeError):
                        self._code[mid] = marshal.loads(base64.b64decode(data))
        return True

    def _baseline_budget(self, task: dict[str, Any], tests: Sequence[str] = ()) -> float:
        recorded = sum(float(task["recorded"].get(n, 0.0)) for n in tests or task["tests"])
        return max(30.0, 10.0 * recorded)  # the baseline measures; it is not time-boxed tightly

    def _prepare(self) -> None:
        """Parse every scope source and find every scope function once, before any fork."""
        mutants = [Mutant(**m) for t in self._spec["tasks"] for m in t["mutants"]]
        for task in self._spec["tasks"]:
            for file, source in task["sources"].items():
                with suppress(SyntaxError, ValueError):
                    self._trees.setdefault(file, ast.parse(source))
        paths = {f: p for t in self._spec["tasks"] for f, p in t["paths"].items()}
        modules = {f: m for t in self._spec["tasks"] for f, m in t["modules"].items()}
        keys = {(m.file, m.function, m.function_line) for m in mutants}

        def key_of(k: tuple[str, str, int]) -> _Key:
            return (k[1].rpartition(".")[2], k[2], os.path.realpath(paths[k[0]]))

        found = _scan({key_of(k) for k in keys})
        missing = {k for k in keys if key_of(k) not in found}
        for file in {k[0] for k in missing}:
            if modules.get(file):
                with suppress(Exception):  # the user's module: an error is a reason below
                    importlib.import_module(modules[file])
        if missing:
            found.update(_scan({key_of(k) for k in missing}))
        for k in keys:
            target = found.get(key_of(k))
            self._targets[k] = self._check(k, target)

    def _check(self, key: tuple[str, str, int], target: _Target | None) -> _Target | str:
        file, function, first = key
        if target is None:
            return f"{function} ({file}:{first}) is not loaded"
        tree = self._trees.get(file)
        if tree is None:
            return f"{file} does not parse"
        try:
            original = mutant_code(tree, None, "<scope>", function, first)
        except (SyntaxError, ValueError) as exc:
            return f"cannot compile {function}: {exc}"
        if code_fingerprint(original) != code_fingerprint(target.functions[0].__code__):
            return f"{file} changed since its mutants were made"
        return target

    # -- scheduling children -----------------------------------------------------------------

    def _schedule(self, queue: list[_Job]) -> None:
        jobs = max(1, int(self._spec["jobs"]))
        while queue or self._running:
            while queue and len(self._running) < jobs:
                self._start(queue.pop(0))
            now = time.monotonic()
            wait = max(0.0, min(r.deadline for r in self._running.values()) - now)
            fds = [r.fd for r in self._running.values()]
            ready, _, _ = select.select([*fds, sys.stdin.fileno()], [], [], min(wait, 1.0))
            if sys.stdin.fileno() in ready and not os.read(sys.stdin.fileno(), 4096):
                raise KeyboardInterrupt  # the controller is gone: stop, clean up, exit
            for pid, running in list(self._running.items()):
                if running.fd in ready:
                    chunk = os.read(running.fd, 65536)
                    running.data += chunk
                    # A child's result is one line: its slot is free once the line is in,
                    # while the kernel is still tearing the child down.
                    if not chunk or running.data.endswith(b"\n"):
                        self._finish(pid, queue, complete=bool(chunk))
                elif time.monotonic() >= running.deadline:
                    os.kill(pid, signal.SIGKILL)
                    self._finish(pid, queue, timed_out=True)
            self._reap_exited()

    def _start(self, job: _Job) -> None:
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12)
            pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            self._child(job, write_fd, parent)
        os.close(write_fd)
        self._running[pid] = _Running(job, read_fd, time.monotonic() + job.budget)

    def _finish(
        self, pid: int, queue: list[_Job], timed_out: bool = False, complete: bool = False
    ) -> None:
        running = self._running.pop(pid)
        os.close(running.fd)
        job = running.job
        try:
            result: dict[str, Any] = json.loads(running.data) if running.data else {}
        except ValueError:
            result = {}
        if complete and result:
            self._exiting.add(pid)  # reaped once it has exited (`_reap_exited`)
            status = 0
        else:
            _, status = os.waitpid(pid, 0)
        if timed_out:
            why = f"ran past its time box ({job.budget:.2f}s)"
            result = {"status": "timeout", "why": why}
        elif not result and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGPROF:
            why = f"used more than its CPU time box ({job.cpu_budget:.2f}s of CPU)"
            result = {"status": "timeout", "why": why}
        elif not result:
            how = (
                f"signal {os.WTERMSIG(status)}"
                if os.WIFSIGNALED(status)
                else f"exit status {os.waitstatus_to_exitcode(status)}"
            )
            result = {"status": "error", "why": f"the test process died ({how})"}
        if job.alone:
            self._alone_done(job, result, queue)
            return
        if job.mutant is None:
            self._baseline_done(job, result, queue)
            return
        if result.get("killed_by"):
            self._killer[job.task] = str(result["killed_by"])
        self._emit({"event": "result", "task": job.task, "id": job.mutant.id, **result})

    def _baseline_done(self, job: _Job, result: dict[str, Any], queue: list[_Job]) -> None:
        ok = result.get("status") == "survived"  # no test failed on the real code
        if not ok:
            failed = f"{result.get('killed_by')} failed" if result.get("killed_by") else ""
            why = result.get("why") or failed
            self._emit({"event": "baseline", "task": job.task, "ok": False, "why": why})
            return
        self._durations.update(result.get("durations", {}))
        self._cpu.update(result.get("cpu", {}))
        self._passed[job.task] = result
        self._release(queue)

    def _alone_done(self, job: _Job, result: dict[str, Any], queue: list[_Job]) -> None:
        test = job.tests[0]
        if result.get("status") == "survived":
            own = (result.get("durations", {}).get(test, 0.0), result.get("cpu", {}).get(test, 0.0))
            self._alone[test] = max(own)
        else:
            self._alone_failed[test] = result.get("why") or "it fails"
        self._release(queue)

    def _release(self, queue: list[_Job]) -> None:
        """Queue the mutants of each task whose baseline passed and whose tests ran alone.

        A mutant runs some of the tests, in another order, in a fresh fork: a test
        that fails alone would "kill" every mutant, so its task is not proven.
        """
        for task_id in list(self._passed):
            task = self._tasks[task_id]
            if any(n not in self._alone and n not in self._alone_failed for n in task["tests"]):
                continue  # calibration still running
            result = self._passed.pop(task_id)
            failed = next((n for n in task["tests"] if n in self._alone_failed), None)
            if failed is not None:
                why = f"{failed} fails when run alone ({self._alone_failed[failed]})"
                self._emit({"event": "baseline", "task": task_id, "ok": False, "why": why})
                continue
            self._emit({"event": "baseline", "task": task_id, "ok": True, **result})
            for data in task["mutants"]:
                mutant = Mutant(**data)
                tests = list(task["reach"][mutant.id])
                wall, cpu = self._budget(task, tests)
                queue.append(_Job(task_id, tests, wall, mutant, cpu))

    def _budget(self, task: dict[str, Any], tests: Sequence[str]) -> tuple[float, float]:
        """Return the (wall, CPU) time boxes: a few times the tests' own time + a margin.

        A test's own time is the largest of its recorded duration, its time in
        the baseline here and its time alone in a fresh fork, each the larger of
        wall and CPU time (threads can use more CPU than wall time).
        """
        recorded = task["recorded"]
        own = sum(
            max(
                self._durations.get(n, 0.0),
                self._cpu.get(n, 0.0),
                self._alone.get(n, 0.0),
                float(recorded.get(n, 0.0)),
            )
            for n in tests
        )
        factor, base = float(self._spec["factor"]), float(self._spec["base"])
        return factor * own + base, factor * own + min(base, CPU_MARGIN)

    def _reap_exited(self) -> None:
        for pid in list(self._exiting):
            with suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue  # still exiting
            self._exiting.discard(pid)

    def _kill_children(self) -> None:
        for pid in [*self._running, *self._exiting]:
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with suppress(OSError):
                os.waitpid(pid, 0)
        for running in self._running.values():
            with suppress(OSError):
                os.close(running.fd)
        self._running.clear()
        self._exiting.clear()

    # -- in the child ------------------------------------------------------------------------

    def _child(self, job: _Job, fd: int, parent: int) -> None:
        """Run one job and exit: the mutant lives and dies in this process only."""
        code = 0
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            die_with_parent(parent, signal.SIGKILL)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(int(self._spec["fd"]))  # only the parent speaks to the controller
            result = self._run_job(job)
            os.write(fd, (json.dumps(result) + "\n").encode("utf-8"))
        except BaseException as exc:  # noqa: BLE001 - the child must exit, whatever happened
            with suppress(Exception):
                signal.setitimer(signal.ITIMER_PROF, 0)
                why = f"{type(exc).__name__}: {exc}"
                os.write(fd, (json.dumps({"status": "error", "why": why}) + "\n").encode())
            code = 1
        finally:
            os._exit(code)

    def _run_job(self, job: _Job) -> dict[str, Any]:
        if job.mutant is not None:
            error = self._apply(job.mutant)
            if error is not None:
                return {"status": "error", "why": error}
        killer = self._killer.get(job.task)
        order = sorted(job.tests, key=lambda n: n != killer)  # the last killer first
        items = [self._items[n] for n in order]
        durations: dict[str, float] = {}
        cpu: dict[str, float] = {}
        _arm_cpu_box(job.cpu_budget)
        failed = _run(self._session, items, durations, cpu)
        signal.setitimer(signal.ITIMER_PROF, 0)
        result: dict[str, Any] = {"status": "survived" if failed is None else "killed"}
        result["killed_by"] = failed
        if job.mutant is None:
            result["durations"] = durations
            result["cpu"] = cpu
            result["seconds"] = sum(durations.values())
        return result

    def _apply(self, mutant: Mutant) -> str | None:
        target = self._targets.get((mutant.file, mutant.function, mutant.function_line))
        if not isinstance(target, _Target):
            return target or f"{mutant.function} is not loaded"
        try:
            if mutant.default_of:
                target.set_default(mutant.default_of, ast.literal_eval(mutant.default_value))
            else:
                filename = target.functions[0].__code__.co_filename
                code = self._code.get(mutant.id)
                if code is None:
                    code = mutant_code(self._trees[mutant.file], mutant, filename)
                target.swap(_with_filename(code, filename))
        except (SyntaxError, ValueError, TypeError) as exc:
            return f"cannot apply: {exc}"
        return None


def _with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    """Return `code` (and its nested code) as compiled from `filename`: tracebacks, coverage."""
    if code.co_filename == filename:
        return code
    consts = tuple(
        _with_filename(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def _arm_cpu_box(seconds: float) -> None:
    """Have the kernel end this process (SIGPROF) after `seconds` of CPU (0: never)."""
    if seconds > 0:
        signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the default action ends the process
        signal.setitimer(signal.ITIMER_PROF, seconds)


def _no_traceback(*args: object, **kwargs: object) -> str:
    return "failed"


def _run(
    session: pytest.Session | None,
    items: list[pytest.Item],
    durations: dict[str, float],
    cpu: dict[str, float],
) -> str | None:
    """Run `items` until the first failure; return its node id (None: all passed)."""
    for item in items:
        # Only pass or fail matters here. Formatting a traceback costs a fork that never
        # did it (cold caches, lazy imports) far more than the test itself.
        item.repr_failure = _no_traceback  # type: ignore[method-assign]
        item._repr_failure_py = _no_traceback  # type: ignore[method-assign,assignment]
    for index, item in enumerate(items):
        nextitem = items[index + 1] if index + 1 < len(items) else None
        started = time.process_time()
        reports = runtestprotocol(item, log=False, nextitem=nextitem)
        cpu[item.nodeid] = time.process_time() - started
        durations[item.nodeid] = sum(r.duration for r in reports)
        if any(r.failed for r in reports):
            signal.setitimer(signal.ITIMER_PROF, 0)  # killed: the teardown is not timed
            if session is not None:
                # A failing teardown after a kill changes nothing about the verdict.
                with suppress(Exception):
                    session._setupstate.teardown_exact(None)
            return item.nodeid
    return None


def _rewrite_no_plugins() -> None:
    """Have pytest rewrite the asserts of tests and conftests only, not of installed plugins.

    pytest marks every module of each installed plugin's distribution for assert
    rewriting: with bytecode writing off (here always) it parses and compiles each
    of them again, most of a worker's start-up. A rewritten assert fails exactly
    when a plain one does; only its message differs, and a proof never shows it.
    Marking a module this process already imported (this package) would also warn,
    which `filterwarnings = error` turns into a failed start.
    """
    mark = getattr(pytest.Config, "_mark_plugins_for_rewrite", None)
    if mark is None:  # another pytest: leave it as it is
        return

    def only_the_hook(config: pytest.Config, hook: Any, *args: Any, **kwargs: Any) -> None:
        config.pluginmanager.rewrite_hook = hook

    setattr(pytest.Config, "_mark_plugins_for_rewrite", only_the_hook)  # noqa: B010


def _pytest_args(spec: dict[str, Any], folder: str) -> list[str]:
    tests = [n for t in spec["tasks"] for n in t["tests"]]
    files = sorted({nodeid.split("::", 1)[0] for nodeid in tests})
    args = [
        *files,
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",  # pytest's cache would be written into the project
        "--capture=no",  # children share the parent's capture files: keep them out of it
        "--continue-on-collection-errors",  # one broken file fails one task's baseline
        "--rootdir",
        spec["rootdir"],
        f"--basetemp={Path(folder, 'tmp')}",
    ]
    if importlib.util.find_spec("xdist") is not None:
        args += ["-n", "0"]  # one process here; the parallelism is ours
    if importlib.util.find_spec("pytest_cov") is not None:
        args += ["--no-cov"]  # pytest-cov would write .coverage into the project
    return args


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _move_to(rootdir: str, started_in: str) -> None:
    """Work in the project's rootdir, as if started there (the controller may start us early).

    `python -m` put the folder we started in first on sys.path.
    """
    if os.path.realpath(rootdir) == os.path.realpath(started_in):
        return
    os.chdir(rootdir)
    if sys.path and sys.path[0] == started_in:
        sys.path[0] = rootdir


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker described by the spec on stdin's first line; return pytest's status.

    The controller may start this process before it knows what to prove (it reads
    the results meanwhile): until the spec comes, we only import.
    """
    die_with_parent(os.getppid(), signal.SIGTERM)
    started_in = os.getcwd()
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0  # the controller had nothing for us, or is gone
    spec = json.loads(line)
    die_with_parent(int(spec["controller"]), signal.SIGTERM)
    sys.dont_write_bytecode = True  # no .pyc files in the user's tree
    _move_to(str(spec["rootdir"]), started_in)
    sweep_stale_folders()
    with _sigterm_interrupts():  # before the folder exists: SIGTERM always removes it
        folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
        runner = Runner(spec, _emit_to(int(spec["fd"])), folder)
        try:
            _rewrite_no_plugins()
            return int(pytest.main(_pytest_args(spec, folder), plugins=[runner]))
        finally:
            runner._kill_children()
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

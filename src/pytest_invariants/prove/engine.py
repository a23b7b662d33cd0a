"""Proof by targeted mutation (docs/prove.md): plan, run workers, cache, report.

For each verified invariant with a scope, make small mutants of its scope code
(`mutants.py`), run only its `real`, passing tests against each one in a
worker process (`prove/worker.py`), and record which mutants the tests
killed. The user's files are never written: mutants live only in a worker's
memory. What this module writes is ours: `.invariants/proof-cache.json`, and
only when a proof finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pytest_invariants import __version__
from pytest_invariants.model import (
    InvariantResult,
    LinkKind,
    Outcome,
    RunResults,
    ScopeEntry,
    ScopeKind,
    Status,
)
from pytest_invariants.prove.mutants import MUTATOR_VERSION, Mutant, generate
from pytest_invariants.results import write_atomically
from pytest_invariants.status import classify

__all__ = [
    "CACHE_PATH",
    "DEFAULT_THRESHOLD",
    "KILLED",
    "ProveSettings",
    "Task",
    "apply_proofs",
    "plan",
    "prove",
    "prove_results",
]

CACHE_PATH = Path(".invariants") / "proof-cache.json"
# Version history of the cache format:
# 1: one entry per invariant id: {key, proof}.
CACHE_SCHEMA = "pytest-invariants/proof-cache/1"
DEFAULT_THRESHOLD = 1.0
KILLED = ("killed", "timeout")  # a hang is a failure the tests noticed
STARTUP_SECONDS = 120.0  # pytest start-up and collection, before the baseline alarm starts
HARD_FACTOR, HARD_GRACE = 2.0, 10.0  # the controller's deadline beyond the worker's own alarm


@dataclass(frozen=True)
class ProveSettings:
    """How to run a proof; the time box is `factor` x the tests' duration + `base` seconds."""

    jobs: int = 0  # 0: one worker per core
    use_cache: bool = True
    progress: bool | None = None  # None: only when stderr is a terminal
    factor: float = 10.0
    base: float = 5.0
    only: tuple[str, ...] = ()  # invariant ids; empty: every verified invariant with a scope


@dataclass(frozen=True)
class Task:
    """One invariant to prove: its mutants, its tests and what the cache keys on."""

    invariant_id: str
    threshold: float
    tests: tuple[str, ...]
    recorded: float  # the tests' recorded duration, seconds
    mutants: tuple[Mutant, ...]
    sources: dict[str, str] = field(default_factory=dict)  # scope file -> source text
    paths: dict[str, str] = field(default_factory=dict)  # scope file -> absolute path
    modules: dict[str, str] = field(default_factory=dict)  # scope file -> dotted module
    key: str = ""


@dataclass
class _Outcome:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str | None = None


# -- planning ------------------------------------------------------------------------------


def _provable(res: InvariantResult, only: Sequence[str]) -> bool:
    if only and res.invariant.id not in only:
        return False
    return res.invariant.scoped and res.status in (Status.VERIFIED, Status.PROVEN)


def _real_tests(res: InvariantResult) -> tuple[str, ...]:
    return tuple(
        link.nodeid
        for link in res.links
        if link.kind is LinkKind.REAL and link.outcome is Outcome.PASSED
    )


def _module_of(entry: ScopeEntry) -> str | None:
    if entry.kind is ScopeKind.QUALNAME:
        return entry.raw.partition(":")[0]
    return entry.dotted


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _test_files(rootdir: Path, tests: Sequence[str]) -> list[Path]:
    """Return the test files and every conftest.py between them and the rootdir."""
    files: set[Path] = set()
    for nodeid in tests:
        path = rootdir / nodeid.split("::", 1)[0]
        files.add(path)
        for folder in path.parents:
            files.add(folder / "conftest.py")
            if folder == rootdir or rootdir not in folder.parents:
                break
    return sorted(files)


def _cache_key(rootdir: Path, sources: Mapping[str, str], tests: Sequence[str]) -> str:
    """Fingerprint what a proof depends on: scope files, tests, test files, tool versions."""
    parts: dict[str, Any] = {
        "tool": __version__,
        "mutator": MUTATOR_VERSION,
        "python": sys.version_info[:2],
        "scope": {f: hashlib.sha256(s.encode()).hexdigest() for f, s in sorted(sources.items())},
        "tests": sorted(tests),
        "test_files": {
            str(p.relative_to(rootdir)) if rootdir in p.parents else str(p): _digest(p)
            for p in _test_files(rootdir, tests)
        },
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _task(res: InvariantResult, rootdir: Path, durations: Mapping[str, float]) -> Task:
    inv = res.invariant
    tests = _real_tests(res)
    mutants: dict[str, Mutant] = {}
    sources: dict[str, str] = {}
    modules: dict[str, str] = {}
    for entry in inv.code:
        text = _read(rootdir / entry.file)
        if text is None:
            continue
        sources[entry.file] = text
        if (module := _module_of(entry)) is not None:
            modules.setdefault(entry.file, module)
        for mutant in generate(text, entry.file, entry.lines):
            mutants.setdefault(mutant.id, mutant)
    threshold = DEFAULT_THRESHOLD if inv.prove_threshold is None else float(inv.prove_threshold)
    return Task(
        invariant_id=inv.id,
        threshold=threshold,
        tests=tests,
        recorded=sum(durations.get(t, 0.0) for t in tests),
        mutants=tuple(mutants.values()),
        sources=sources,
        paths={f: str((rootdir / f).resolve()) for f in sources},
        modules=modules,
        key=_cache_key(rootdir, sources, tests),
    )


def plan(results: RunResults, rootdir: Path, only: Sequence[str] = ()) -> list[Task]:
    """Return one task per verified invariant with a scope (and a real passing test)."""
    durations = {ev.nodeid: ev.duration for ev in results.tests}
    return [
        _task(res, rootdir, durations)
        for res in results.invariants
        if _provable(res, only) and _real_tests(res)
    ]


# -- the proof of one invariant as a value -------------------------------------------------------


def _mutant_entry(mutant: Mutant, outcome: Mapping[str, Any] | None) -> dict[str, Any]:
    outcome = outcome or {"status": "error", "why": "not run"}
    entry: dict[str, Any] = {
        "id": mutant.id,
        "operator": mutant.operator,
        "file": mutant.file,
        "line": mutant.line,
        "diff": mutant.diff,
        "status": outcome["status"],
        "killed_by": outcome.get("killed_by"),
        "waived": mutant.waived,
    }
    if outcome.get("why"):
        entry["why"] = outcome["why"]
    return entry


def proof_of(
    mutants: Sequence[Mapping[str, Any]], threshold: float, cached: bool, note: str | None
) -> dict[str, Any]:
    """Return the `proof` value of one invariant from its mutants' entries.

    Waived mutants are listed but not counted; zero counted mutants is never a
    proof (a gate that passes while measuring nothing is the failure this tool
    exists to prevent), and neither is a proof with a `note` (baseline failed).
    """
    counted = [m for m in mutants if not m.get("waived")]
    killed = sum(1 for m in counted if m["status"] in KILLED)
    total = len(counted)
    score = killed / total if total else None
    if not total and note is None:
        note = "no mutant could be made of the scope code: nothing was measured"
    proven = note is None and total > 0 and killed >= threshold * total - 1e-9
    return {
        "score": None if score is None else round(score, 4),
        "threshold": threshold,
        "proven": proven,
        "total": total,
        "killed": killed,
        "survived": sum(1 for m in counted if m["status"] == "survived"),
        "errors": sum(1 for m in counted if m["status"] == "error"),
        "waived": len(mutants) - total,
        "mutants": [dict(m) for m in mutants],
        "cached": cached,
        "note": note,
    }


def _proof_for(task: Task, outcome: _Outcome) -> dict[str, Any]:
    entries = [_mutant_entry(m, outcome.results.get(m.id)) for m in task.mutants]
    return proof_of(entries, task.threshold, cached=False, note=outcome.note)


# -- the cache ------------------------------------------------------------------------------------


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _cached(entries: Mapping[str, Any], task: Task) -> dict[str, Any] | None:
    entry = entries.get(task.invariant_id)
    if not isinstance(entry, dict) or entry.get("key") != task.key:
        return None
    proof = entry.get("proof")
    if not isinstance(proof, dict) or not isinstance(proof.get("mutants"), list):
        return None
    # The threshold may have changed without touching code or tests: recompute the verdict.
    return proof_of(proof["mutants"], task.threshold, cached=True, note=proof.get("note"))


def _save_cache(path: Path, entries: Mapping[str, Any], keep: set[str]) -> None:
    # One entry per invariant still in the results: the file never grows without bound.
    kept = {iid: entry for iid, entry in entries.items() if iid in keep}
    text = json.dumps({"schema": CACHE_SCHEMA, "entries": kept}, indent=1, sort_keys=True)
    write_atomically(path, text + "\n")


# -- workers --------------------------------------------------------------------------------------


class _Processes:
    """The live worker processes, so an interrupt can end every one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[bytes]] = set()
        self.stopping = threading.Event()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._live.add(proc)
        if self.stopping.is_set():
            proc.kill()

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._live.discard(proc)

    def kill_all(self) -> None:
        self.stopping.set()
        with self._lock:
            live = list(self._live)
        for proc in live:
            proc.kill()
        for proc in live:
            proc.wait()


def _spec(
    task: Task,
    mutants: Sequence[Mutant],
    rootdir: Path,
    settings: ProveSettings,
    fd: int,
    cache_dir: str,
) -> dict[str, Any]:
    return {
        "rootdir": str(rootdir),
        "tests": list(task.tests),
        "mutants": [asdict(m) for m in mutants],
        "sources": task.sources,
        "paths": task.paths,
        "modules": task.modules,
        "recorded": task.recorded,
        "factor": settings.factor,
        "base": settings.base,
        "baseline_budget": settings.factor * task.recorded + settings.base,
        "fd": fd,
        "cache_dir": cache_dir,
    }


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # never add .pyc files to the user's tree
    return env


def _lines(
    fd: int, proc: subprocess.Popen[bytes], deadline: Callable[[], float]
) -> Iterator[dict[str, Any]]:
    """Yield the worker's events; yield {'event': 'hang'} and stop when a deadline passes."""
    buffer = b""
    while True:
        wait_for = deadline() - time.monotonic()
        if wait_for <= 0:
            yield {"event": "hang"}
            return
        ready, _, _ = select.select([fd], [], [], min(wait_for, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                yield json.loads(line)
            except ValueError:
                continue


class _Worker:
    """One worker process for a run of one task's mutants."""

    def __init__(
        self,
        task: Task,
        mutants: Sequence[Mutant],
        rootdir: Path,
        settings: ProveSettings,
        processes: _Processes,
    ) -> None:
        self._task, self._mutants, self._rootdir = task, mutants, rootdir
        self._settings, self._processes = settings, processes
        self._deadline = time.monotonic() + STARTUP_SECONDS + self._baseline_budget()
        self.log_tail = ""

    def _baseline_budget(self) -> float:
        return self._settings.factor * self._task.recorded + self._settings.base

    def events(self) -> Iterator[dict[str, Any]]:
        """Start the worker and yield its events, ending with {'event': 'exit', 'code': N}."""
        folder = tempfile.mkdtemp(prefix="invariants-prove-")
        read_fd, write_fd = os.pipe()
        try:
            spec_path = Path(folder, "spec.json")
            spec = _spec(
                self._task,
                self._mutants,
                self._rootdir,
                self._settings,
                write_fd,
                str(Path(folder, "cache")),
            )
            spec_path.write_text(json.dumps(spec), encoding="utf-8")
            with open(Path(folder, "worker.log"), "wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "pytest_invariants.prove.worker", str(spec_path)],
                    cwd=self._rootdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(write_fd,),
                    env=_worker_env(),
                )
            os.close(write_fd)
            write_fd = -1
            self._processes.add(proc)
            try:
                yield from self._follow(read_fd, proc)
            finally:
                if proc.poll() is None:
                    proc.kill()
                code = proc.wait()
                self._processes.discard(proc)
                self.log_tail = _tail(Path(folder, "worker.log"))
            yield {"event": "exit", "code": code}
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
            shutil.rmtree(folder, ignore_errors=True)

    def _follow(self, fd: int, proc: subprocess.Popen[bytes]) -> Iterator[dict[str, Any]]:
        for event in _lines(fd, proc, lambda: self._deadline):
            if event.get("event") == "start":
                budget = float(event.get("budget", self._settings.base))
                self._deadline = time.monotonic() + budget * HARD_FACTOR + HARD_GRACE
            elif event.get("event") in ("baseline", "result"):
                self._deadline = time.monotonic() + STARTUP_SECONDS
            yield event
            if event.get("event") == "hang":
                return


def _tail(path: Path, lines: int = 8) -> str:
    text = _read(path) or ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _run_task(
    task: Task,
    rootdir: Path,
    settings: ProveSettings,
    processes: _Processes,
    tick: Callable[[int], None],
) -> _Outcome:
    """Run every mutant of `task`, restarting the worker after a hang or a crash."""
    outcome = _Outcome()
    remaining = list(task.mutants)
    while remaining and not processes.stopping.is_set():
        progressed = _run_worker(task, remaining, rootdir, settings, processes, outcome, tick)
        remaining = [m for m in remaining if m.id not in outcome.results]
        if outcome.note is not None or not progressed:
            break
    return outcome


def _run_worker(
    task: Task,
    mutants: Sequence[Mutant],
    rootdir: Path,
    settings: ProveSettings,
    processes: _Processes,
    outcome: _Outcome,
    tick: Callable[[int], None],
) -> bool:
    """Run one worker over `mutants`; return True when it settled at least one of them."""
    worker = _Worker(task, mutants, rootdir, settings, processes)
    current: str | None = None
    settled = 0
    for event in worker.events():
        kind = event.get("event")
        if kind == "baseline" and not event.get("ok"):
            why = event.get("why")
            outcome.note = f"the linked tests do not pass alone on the real code: {why}"
        elif kind == "start":
            current = str(event["id"])
        elif kind == "result":
            outcome.results[str(event["id"])] = event
            current, settled = None, settled + 1
            tick(1)
        elif kind == "hang" and current is not None:
            outcome.results[current] = {"status": "timeout", "why": "hung past the time box"}
            current, settled = None, settled + 1
            tick(1)
        elif kind == "exit" and current is not None and not processes.stopping.is_set():
            why = f"the test process died (exit status {event.get('code')})"
            outcome.results[current] = {"status": "error", "why": why}
            current, settled = None, settled + 1
            tick(1)
    if not settled and outcome.note is None and not processes.stopping.is_set():
        outcome.note = f"the proof worker failed before running a mutant: {worker.log_tail}"
    return settled > 0


# -- running every task ---------------------------------------------------------------------------


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt meanwhile, so workers are ended, not orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(settings: ProveSettings, total: int) -> Any:
    console = Console(stderr=True)
    show = console.is_terminal if settings.progress is None else settings.progress
    return Progress(
        TextColumn("proving invariants"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("mutants"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
        transient=False,
    )


def prove(tasks: Sequence[Task], rootdir: Path, settings: ProveSettings) -> dict[str, _Outcome]:
    """Run every task in a pool of worker processes; return outcomes by invariant id.

    On KeyboardInterrupt (or SIGTERM) every worker is killed before it re-raises.
    """
    processes = _Processes()
    jobs = max(1, min(settings.jobs or os.cpu_count() or 1, len(tasks) or 1))
    total = sum(len(t.mutants) for t in tasks)
    outcomes: dict[str, _Outcome] = {}
    with _sigterm_interrupts(), _progress(settings, total) as bar:
        task_id = bar.add_task("mutants", total=total)
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="invariants-prove")
        try:
            futures: dict[Future[_Outcome], str] = {
                pool.submit(
                    _run_task, t, rootdir, settings, processes, lambda n: bar.advance(task_id, n)
                ): t.invariant_id
                for t in tasks
            }
            pending = set(futures)
            while pending:
                # A timeout keeps the main thread responsive to Ctrl-C while workers run.
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    outcomes[futures[future]] = future.result()
        except BaseException:
            processes.kill_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return outcomes


def apply_proofs(results: RunResults, proofs: Mapping[str, dict[str, Any]]) -> RunResults:
    """Return `results` re-classified with these proofs (`proven` where a proof says so)."""
    proven = {iid for iid, proof in proofs.items() if proof.get("proven")}
    suspect = {res.invariant.id for res in results.invariants if res.suspect}
    verdicts = classify(
        results.invariant_set, results.tests, proven=proven, suspect=suspect, proofs=proofs
    )
    return replace(results, invariants=verdicts)


def _previous_proofs(results: RunResults, tasks: Sequence[Task]) -> dict[str, dict[str, Any]]:
    """Keep earlier proofs of verified invariants that were not asked for this time."""
    asked = {t.invariant_id for t in tasks}
    return {
        res.invariant.id: dict(res.proof)
        for res in results.invariants
        if res.proof
        and res.invariant.id not in asked
        and res.status in (Status.VERIFIED, Status.PROVEN)
    }


def prove_results(
    results: RunResults, rootdir: Path, settings: ProveSettings
) -> tuple[RunResults, list[Task]]:
    """Prove what can be proven in `results`; return re-classified results and the tasks."""
    tasks = plan(results, rootdir, settings.only)
    cache_path = rootdir / CACHE_PATH
    entries = _load_cache(cache_path) if settings.use_cache else {}
    proofs = _previous_proofs(results, tasks)
    to_run = []
    for task in tasks:
        hit = _cached(entries, task) if settings.use_cache else None
        if hit is not None:
            proofs[task.invariant_id] = hit
        else:
            to_run.append(task)
    for task_id, outcome in prove(to_run, rootdir, settings).items():
        task = next(t for t in to_run if t.invariant_id == task_id)
        proofs[task_id] = _proof_for(task, outcome)
        entries[task_id] = {"key": task.key, "proof": proofs[task_id]}
    updated = apply_proofs(results, proofs)
    _save_cache(cache_path, entries, {res.invariant.id for res in results.invariants})
    return updated, tasks

"""Proof by targeted mutation (docs/prove.md): plan, run the worker, cache, report.

For each verified invariant with a scope, make small mutants of its scope code
(`mutants.py`), and test each one with only the invariant's `real`, passing
tests that executed the mutated line, in a fork of one warm worker process
(`prove/worker.py`). The user's files are never written: mutants live only in
a forked child's memory. What this module writes is ours:
`.invariants/proof-cache.json`, only when a proof finished and the cache is on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import marshal
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from pytest_invariants import __version__
from pytest_invariants.model import (
    InvariantResult,
    LinkKind,
    MutantOutcome,
    MutantStatus,
    Outcome,
    Proof,
    RunResults,
    ScopeEntry,
    ScopeKind,
    Status,
)
from pytest_invariants.prove.launch import WorkerProcess
from pytest_invariants.prove.mutants import MUTATOR_VERSION, Mutant, distinct_code, generate
from pytest_invariants.results import proof_from_dict, proof_to_dict, write_atomically
from pytest_invariants.status import classify

__all__ = [
    "CACHE_PATH",
    "DEFAULT_THRESHOLD",
    "ProveSettings",
    "Task",
    "apply_proofs",
    "kill_rate",
    "plan",
    "proof_of",
    "prove",
    "prove_results",
]

CACHE_PATH = Path(".invariants") / "proof-cache.json"
# Version history of the cache format:
# 1: one entry per invariant id: {key, proof}.
# 2: the key covers the scope's own lines and which tests reached each mutant.
# 3: instead of which tests reached each mutant, which scope lines each test ran (the
#    same information, known before any mutant is made).
CACHE_SCHEMA = "pytest-invariants/proof-cache/3"
DEFAULT_THRESHOLD = 1.0
STARTUP_SECONDS = 120.0  # pytest start-up and collection in the worker
QUIET_GRACE = 60.0  # the worker's silence beyond its longest time box, before it is ended
PLAIN_EVERY = 5.0  # seconds between plain progress lines (no terminal)
DONE_GRACE = 5.0  # seconds a worker that is done has to exit by itself


@dataclass(frozen=True)
class ProveSettings:
    """How to run a proof; a mutant's time box is `factor` x its tests' time + `base` s."""

    jobs: int = 0  # 0: one child per core
    use_cache: bool = True
    progress: bool | None = None  # None: a bar on a terminal, plain lines otherwise
    factor: float = 4.0
    base: float = 0.5
    only: tuple[str, ...] = ()  # invariant ids; empty: every verified invariant with a scope


@dataclass(frozen=True)
class Task:
    """One invariant to prove: its mutants, which tests reach each one, the cache key.

    Planned in two steps: first what the cache key and the worker's start need
    (tests, scope sources, the lines each test ran), then the mutants
    (`_with_mutants`), made while the worker starts up.
    """

    invariant_id: str
    threshold: float
    tests: tuple[str, ...]
    recorded: dict[str, float]  # each test's recorded duration, seconds
    mutants: tuple[Mutant, ...] = ()
    reach: dict[str, tuple[str, ...]] = field(default_factory=dict)  # mutant id -> its tests
    sources: dict[str, str] = field(default_factory=dict)  # scope file -> source text
    paths: dict[str, str] = field(default_factory=dict)  # scope file -> absolute path
    modules: dict[str, str] = field(default_factory=dict)  # scope file -> dotted module
    skipped: int = 0  # equivalent or duplicate mutants left out
    key: str = ""
    entries: tuple[ScopeEntry, ...] = ()  # the scope entries whose source could be read
    executed: dict[str, dict[str, frozenset[int]]] = field(default_factory=dict)  # test->file
    code: dict[str, bytes] = field(default_factory=dict)  # mutant id -> marshalled code


@dataclass
class _Outcome:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str | None = None


# -- planning ------------------------------------------------------------------------------


def _provable(res: InvariantResult, only: Sequence[str]) -> bool:
    if only and res.invariant.id not in only:
        return False
    return res.invariant.scoped and res.status in (Status.VERIFIED, Status.PROVEN)


def _real_links(res: InvariantResult) -> list[Any]:
    return [
        link for link in res.links if link.kind is LinkKind.REAL and link.outcome is Outcome.PASSED
    ]


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


def _scope_text(entry: ScopeEntry, source: str) -> str:
    """The scope's own code: its lines for a function, the whole file for a module."""
    if entry.lines is None:
        return source
    first, last = entry.lines
    return "\n".join(source.splitlines()[first - 1 : last])


def _reached(
    entries: Sequence[ScopeEntry], executed: Mapping[str, Mapping[str, frozenset[int]]]
) -> dict[str, dict[str, list[int]]]:
    """Return, per test, the scope lines it ran: which tests reach each mutant follows."""
    return {
        test: {
            e.raw: sorted(line for line in files.get(e.file, ()) if e.contains_line(line))
            for e in entries
        }
        for test, files in sorted(executed.items())
    }


def _cache_key(
    rootdir: Path,
    entries: Sequence[tuple[ScopeEntry, str]],
    executed: Mapping[str, Mapping[str, frozenset[int]]],
    tests: Sequence[str],
) -> str:
    """Fingerprint what a proof depends on: scope code, tests and their files, versions.

    The mutants are a function of the scope code and the mutator's version, and
    which tests reach each one a function of the scope lines each test ran, so
    the key is known before any mutant is made. An edit elsewhere in a scope
    file (outside the scope's lines) keeps the key: a PR re-proves only the
    invariants whose code or tests changed.
    """
    parts: dict[str, Any] = {
        "tool": __version__,
        "mutator": MUTATOR_VERSION,
        "python": sys.version_info[:2],
        "scope": [
            [e.raw, e.lines, hashlib.sha256(_scope_text(e, s).encode()).hexdigest()]
            for e, s in entries
        ],
        "reached": _reached([e for e, _ in entries], executed),
        "tests": sorted(tests),
        "test_files": {
            str(p.relative_to(rootdir)) if rootdir in p.parents else str(p): _digest(p)
            for p in _test_files(rootdir, tests)
        },
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _head(res: InvariantResult, rootdir: Path, durations: Mapping[str, float]) -> Task:
    """Plan a task up to its cache key: tests, scope sources, the lines each test ran."""
    inv = res.invariant
    links = _real_links(res)
    tests = tuple(link.nodeid for link in links)
    sources: dict[str, str] = {}
    modules: dict[str, str] = {}
    entries: list[tuple[ScopeEntry, str]] = []
    for entry in inv.code:
        text = sources.get(entry.file) or _read(rootdir / entry.file)
        if text is None:
            continue
        sources[entry.file] = text
        entries.append((entry, text))
        if (module := _module_of(entry)) is not None:
            modules.setdefault(entry.file, module)
    executed = {link.nodeid: dict(link.executed) for link in links}
    threshold = DEFAULT_THRESHOLD if inv.prove_threshold is None else float(inv.prove_threshold)
    return Task(
        invariant_id=inv.id,
        threshold=threshold,
        tests=tests,
        recorded={t: durations.get(t, 0.0) for t in tests},
        sources=sources,
        paths={f: str((rootdir / f).resolve()) for f in sources},
        modules=modules,
        key=_cache_key(rootdir, entries, executed, tests),
        entries=tuple(e for e, _ in entries),
        executed=executed,
    )


def _with_mutants(task: Task) -> Task:
    """Return `task` with its distinct mutants, their compiled code and who reaches each."""
    mutants: dict[str, Mutant] = {}
    code: dict[str, bytes] = {}
    skipped = 0
    for entry in task.entries:
        text = task.sources[entry.file]
        made = generate(text, entry.file, entry.lines)
        kept, gone, compiled = distinct_code(text, made, task.paths[entry.file])
        skipped += gone
        for mutant in kept:
            if mutant.id not in mutants:
                mutants[mutant.id] = mutant
                if mutant.id in compiled:
                    code[mutant.id] = marshal.dumps(compiled[mutant.id])
    # A test can kill a mutant only if it ran one of the mutated lines.
    reach = {
        mid: tuple(
            test
            for test in task.tests
            if not task.executed.get(test, {}).get(m.file, frozenset()).isdisjoint(m.lines)
        )
        for mid, m in mutants.items()
    }
    return replace(task, mutants=tuple(mutants.values()), reach=reach, skipped=skipped, code=code)


def _heads(results: RunResults, rootdir: Path, only: Sequence[str]) -> list[Task]:
    durations = {ev.nodeid: ev.duration for ev in results.tests}
    return [
        _head(res, rootdir, durations)
        for res in results.invariants
        if _provable(res, only) and _real_links(res)
    ]


def plan(results: RunResults, rootdir: Path, only: Sequence[str] = ()) -> list[Task]:
    """Return one task per verified invariant with a scope (and a real passing test)."""
    return [_with_mutants(head) for head in _heads(results, rootdir, only)]


# -- the proof of one invariant as a value -------------------------------------------------------


def _mutant_outcome(task: Task, mutant: Mutant, outcome: Mapping[str, Any] | None) -> MutantOutcome:
    reach = task.reach.get(mutant.id, ())
    if not reach:
        outcome = {"status": MutantStatus.NOT_REACHED.value, "why": "no linked test ran this line"}
    outcome = outcome or {"status": MutantStatus.ERROR.value, "why": "not run"}
    return MutantOutcome(
        id=mutant.id,
        operator=mutant.operator,
        file=mutant.file,
        line=mutant.line,
        diff=mutant.diff,
        status=MutantStatus(outcome["status"]),
        killed_by=outcome.get("killed_by"),
        waived=mutant.waived,
        why=outcome.get("why"),
        tests=len(reach),
    )


def proof_of(
    mutants: Sequence[MutantOutcome],
    threshold: float,
    cached: bool,
    note: str | None,
    skipped: int = 0,
) -> Proof:
    """Return the proof of one invariant from its mutants' outcomes.

    Waived mutants are listed but not counted; zero counted mutants is never a
    proof (a gate that passes while measuring nothing is the failure this tool
    exists to prevent), and neither is a proof with a `note` (baseline failed).
    A mutant no test reached counts as not killed: the tests cannot notice it.
    """
    counted = [m for m in mutants if not m.waived]
    killed = sum(1 for m in counted if m.status.killed)
    total = len(counted)
    score = killed / total if total else None
    if not total and note is None:
        note = "no mutant could be made of the scope code: nothing was measured"
    proven = note is None and total > 0 and killed >= threshold * total - 1e-9
    return Proof(
        score=None if score is None else round(score, 4),
        threshold=threshold,
        proven=proven,
        total=total,
        killed=killed,
        survived=sum(1 for m in counted if m.status is MutantStatus.SURVIVED),
        errors=sum(1 for m in counted if m.status is MutantStatus.ERROR),
        waived=len(mutants) - total,
        mutants=tuple(mutants),
        cached=cached,
        note=note,
        not_reached=sum(1 for m in counted if m.status is MutantStatus.NOT_REACHED),
        skipped=skipped,
    )


def _proof_for(task: Task, outcome: _Outcome) -> Proof:
    entries = [_mutant_outcome(task, m, outcome.results.get(m.id)) for m in task.mutants]
    return proof_of(entries, task.threshold, cached=False, note=outcome.note, skipped=task.skipped)


def kill_rate(proofs: Sequence[Proof]) -> float | None:
    """Return killed / counted mutants over `proofs` (None: nothing was counted)."""
    total = sum(p.total for p in proofs)
    return sum(p.killed for p in proofs) / total if total else None


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


def _cached(entries: Mapping[str, Any], task: Task) -> Proof | None:
    entry = entries.get(task.invariant_id)
    if not isinstance(entry, dict) or entry.get("key") != task.key:
        return None
    try:
        proof = proof_from_dict(entry.get("proof") or {})
    except (ValueError, TypeError, KeyError):
        return None  # a damaged entry is a miss, never an error
    # The threshold may have changed without touching code or tests: recompute the verdict.
    return proof_of(proof.mutants, task.threshold, True, proof.note, proof.skipped)


def _save_cache(path: Path, entries: Mapping[str, Any], keep: set[str]) -> None:
    # One entry per invariant still in the results: the file never grows without bound.
    kept = {iid: entry for iid, entry in entries.items() if iid in keep}
    text = json.dumps({"schema": CACHE_SCHEMA, "entries": kept}, indent=1, sort_keys=True)
    write_atomically(path, text + "\n")


# -- the worker -----------------------------------------------------------------------------------


def _spec_head(
    tasks: Sequence[Task], rootdir: Path, settings: ProveSettings, fd: int
) -> dict[str, Any]:
    """The spec's first line: what the worker needs to start pytest and collect."""
    jobs = settings.jobs or os.cpu_count() or 1
    return {
        "rootdir": str(rootdir),
        "controller": os.getpid(),
        "fd": fd,
        "jobs": jobs,
        "factor": settings.factor,
        "base": settings.base,
        "python": sys.version,  # marshalled code is only read by the same interpreter
        "tasks": [
            {"id": t.invariant_id, "tests": list(t.tests), "recorded": t.recorded} for t in tasks
        ],
    }


def _spec_body(tasks: Sequence[Task]) -> dict[str, Any]:
    """The spec's second line, sent while the worker collects: the mutants."""
    return {
        "tasks": [
            {
                "id": t.invariant_id,
                # A mutant no test reaches is not run: it is "not reached", never killed.
                "mutants": [asdict(m) for m in t.mutants if t.reach.get(m.id)],
                "reach": {mid: list(tests) for mid, tests in t.reach.items() if tests},
                "code": {
                    mid: base64.b64encode(code).decode("ascii")
                    for mid, code in t.code.items()
                    if t.reach.get(mid)
                },
                "sources": t.sources,
                "paths": t.paths,
                "modules": t.modules,
            }
            for t in tasks
        ],
    }


def _events(fd: int, deadline: Callable[[], float]) -> Iterator[dict[str, Any]]:
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
            with suppress(ValueError):
                yield json.loads(line)


def _tail(log: IO[bytes], lines: int = 8) -> str:
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    return "\n".join(text.strip().splitlines()[-lines:])


def _end(proc: subprocess.Popen[bytes], done: bool) -> None:
    """End the worker: SIGTERM lets it kill its children and remove its folder.

    A worker that said it is `done` is exiting by itself: it gets a moment first.
    """
    if done:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=DONE_GRACE)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


class _Run:
    """One worker process proving every task; settles outcomes from its events.

    `started()` starts the worker (or takes one started earlier, waiting for
    its spec) and sends it the tasks' heads (tests to collect); `send()` hands
    it the mutants, made meanwhile; `follow()` reads its events.
    """

    def __init__(
        self,
        heads: Sequence[Task],
        rootdir: Path,
        settings: ProveSettings,
        worker: WorkerProcess | None = None,
    ) -> None:
        self._tasks = {t.invariant_id: t for t in heads}
        self._rootdir, self._settings = rootdir, settings
        self._worker = worker
        self._tick: Callable[[int, int], None] = lambda done, killed: None
        self.outcomes = {t.invariant_id: _Outcome() for t in heads}
        longest = max(
            (settings.factor * sum(t.recorded.values()) + settings.base for t in heads),
            default=0.0,
        )
        self._quiet = max(longest, 30.0) + QUIET_GRACE
        self._done = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1

    @contextmanager
    def started(self) -> Iterator[None]:
        worker = self._worker or WorkerProcess(self._rootdir)
        worker.used = True
        proc, log = worker.proc, worker.log
        self._proc, self._fd = proc, worker.read_fd
        try:
            try:
                head = _spec_head(
                    list(self._tasks.values()), self._rootdir, self._settings, worker.fd
                )
                self._write(head)  # stdin stays open: the worker's lifeline
                yield
            finally:
                _end(proc, self._done)
            self._settle(f"the proof worker stopped (exit status {proc.returncode})", log)
        finally:
            worker.close()

    def _write(self, line: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        with suppress(BrokenPipeError):  # the worker died: its log says why (`_settle`)
            self._proc.stdin.write((json.dumps(line) + "\n").encode("utf-8"))
            self._proc.stdin.flush()

    def send(self, tasks: Sequence[Task]) -> None:
        """Hand the worker the mutants of every task (the same tasks, planned in full)."""
        self._tasks = {t.invariant_id: t for t in tasks}
        self._write(_spec_body(tasks))

    def follow(self, tick: Callable[[int, int], None]) -> None:
        self._tick = tick
        self._follow(self._fd)

    def _follow(self, fd: int) -> None:
        # Until collection, start-up time; then each event buys the longest time box again.
        deadline = [time.monotonic() + STARTUP_SECONDS]
        for event in _events(fd, lambda: deadline[0]):
            deadline[0] = time.monotonic() + self._quiet
            kind = event.get("event")
            outcome = self.outcomes.get(str(event.get("task")))
            if kind == "baseline" and outcome is not None and not event.get("ok"):
                why = event.get("why")
                outcome.note = f"the linked tests do not pass alone on the real code: {why}"
                task = self._tasks[str(event["task"])]
                self._tick(sum(1 for m in task.mutants if task.reach.get(m.id)), 0)
            elif kind == "result" and outcome is not None:
                outcome.results[str(event["id"])] = event
                killed = MutantStatus(event.get("status", "error")).killed
                self._tick(1, int(killed))
            elif kind == "done":
                self._done = True
                return
            elif kind == "hang":
                return

    def _settle(self, why: str, log: IO[bytes]) -> None:
        """Give every mutant the worker did not report a reason, and each proof a note."""
        for iid, outcome in self.outcomes.items():
            task = self._tasks[iid]
            pending = [m for m in task.mutants if task.reach.get(m.id)]
            pending = [m for m in pending if m.id not in outcome.results]
            if outcome.note is not None or not pending:
                continue
            if len(pending) == sum(1 for m in task.mutants if task.reach.get(m.id)):
                tail = _tail(log)
                outcome.note = f"the proof worker failed before running a mutant: {tail}"
                continue
            for mutant in pending:
                outcome.results[mutant.id] = {"status": "error", "why": why}


# -- progress -------------------------------------------------------------------------------------


class _Plain:
    """Progress as plain periodic lines on stderr, for CI logs (no terminal)."""

    def __init__(self, total: int, every: float = PLAIN_EVERY) -> None:
        self._total, self._every = total, every
        self._done = self._killed = 0
        self._started = self._last = time.monotonic()

    def tick(self, done: int, killed: int) -> None:
        self._done += done
        self._killed += killed
        now = time.monotonic()
        if now - self._last >= self._every or self._done >= self._total:
            self._last = now
            self.line(now)

    def line(self, now: float) -> None:
        elapsed = now - self._started
        eta = elapsed / self._done * (self._total - self._done) if self._done else None
        shown = "?" if eta is None else f"{eta:.0f}s"
        print(
            f"invariants prove: {self._done}/{self._total} mutants, {self._killed} killed, "
            f"{elapsed:.0f}s elapsed, ETA {shown}",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def _progress(settings: ProveSettings, total: int) -> Iterator[Callable[[int, int], None]]:
    if settings.progress is False or total == 0:
        yield lambda done, killed: None
        return
    # rich is imported only when progress is shown (`--no-progress`: never).
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if settings.progress is None and not console.is_terminal:
        yield _Plain(total).tick
        return
    bar = Progress(
        TextColumn("proving invariants"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("mutants"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with bar:
        task_id = bar.add_task("mutants", total=total)
        yield lambda done, killed: bar.advance(task_id, done)


# -- running every task ---------------------------------------------------------------------------


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt meanwhile, so the worker is ended, not orphaned."""
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


def _execute(
    heads: Sequence[Task],
    rootdir: Path,
    settings: ProveSettings,
    complete: Callable[[Task], Task],
    worker: WorkerProcess | None = None,
) -> tuple[list[Task], dict[str, _Outcome]]:
    """Start the worker on the heads, complete the tasks meanwhile, run them.

    The worker's start-up (interpreter, plugins, collection) is the largest
    fixed cost of a proof; making the mutants overlaps it. On KeyboardInterrupt
    (or SIGTERM) the worker and its children are ended before it re-raises.
    A `worker` started earlier is used (or, with nothing to prove, ended).
    """
    if not heads:
        if worker is not None:
            worker.discard()
        return [], {}
    with _sigterm_interrupts():
        run = _Run(heads, rootdir, settings, worker)
        with run.started():
            tasks = [complete(head) for head in heads]
            total = sum(1 for t in tasks for m in t.mutants if t.reach.get(m.id))
            if total:
                run.send(tasks)
                with _progress(settings, total) as tick:
                    run.follow(tick)
    return tasks, run.outcomes


def prove(tasks: Sequence[Task], rootdir: Path, settings: ProveSettings) -> dict[str, _Outcome]:
    """Run every (planned) task in one worker process; return outcomes by invariant id."""
    return _execute(list(tasks), rootdir, settings, lambda task: task)[1]


def apply_proofs(results: RunResults, proofs: Mapping[str, Proof]) -> RunResults:
    """Return `results` re-classified with these proofs (`proven` where a proof says so)."""
    proven = {iid for iid, proof in proofs.items() if proof.proven}
    suspect = {res.invariant.id for res in results.invariants if res.suspect}
    verdicts = classify(
        results.invariant_set,
        results.tests,
        proven=proven,
        suspect=suspect,
        proofs=proofs,
        claims_unknown=not results.info.claims_known,
    )
    return replace(results, invariants=verdicts)


def _previous_proofs(results: RunResults, tasks: Sequence[Task]) -> dict[str, Proof]:
    """Keep earlier proofs of verified invariants that were not asked for this time."""
    asked = {t.invariant_id for t in tasks}
    return {
        res.invariant.id: res.proof
        for res in results.invariants
        if res.proof
        and res.invariant.id not in asked
        and res.status in (Status.VERIFIED, Status.PROVEN)
    }


def prove_results(
    results: RunResults,
    rootdir: Path,
    settings: ProveSettings,
    worker: WorkerProcess | None = None,
) -> tuple[RunResults, list[Task]]:
    """Prove what can be proven in `results`; return re-classified results and the tasks.

    With the cache on, an invariant whose scope code and tests did not change
    keeps its cached proof; with it off, the cache file is neither read nor written.
    `worker`: one started earlier (`launch.WorkerProcess`), waiting for its spec.
    """
    tasks = _heads(results, rootdir, settings.only)
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
    ran, outcomes = _execute(to_run, rootdir, settings, _with_mutants, worker)
    for task in ran:
        proof = proofs[task.invariant_id] = _proof_for(task, outcomes[task.invariant_id])
        entries[task.invariant_id] = {"key": task.key, "proof": proof_to_dict(proof)}
    updated = apply_proofs(results, proofs)
    if settings.use_cache:
        _save_cache(cache_path, entries, {res.invariant.id for res in results.invariants})
    return updated, tasks

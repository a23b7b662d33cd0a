"""Measure analysis and every report on generated results: 10,000 tests x 1,000 invariants.

Usage::

    python benchmarks/scale.py [--tests 10000] [--invariants 1000] [--scope-lines 12]
                               [--grow] [--profile STAGE] [--keep DIR]

No pytest run is involved: the script generates, in a temporary directory, a
source tree (so the HTML report can show scope code) and the evidence that a
suite of `--tests` tests would have produced for `--invariants` invariants,
then times, stage by stage, what a `pytest --invariants` run does after the
last test: classification (links, statuses, coverage, at-risk), the graph, the
JSON results (written and read back), and the terminal, Markdown, SARIF and
HTML reports. Each measurement runs in a fresh child process, so the peak
memory reported (`ru_maxrss` of the child) is the run's own and includes the
interpreter and its imports.

`--grow` repeats the measurement while doubling tests, invariants and scope
size one at a time, and prints each stage's cost relative to the base size:
a ratio near 2 for a doubled input means linear growth.

SPEC section 11 sets the budget: analysis plus every report in a few seconds
and a few hundred MB at most; this script checks <= 5 s and <= 500 MB.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUDGET_SECONDS = 5.0
BUDGET_MB = 500.0
FUNCTIONS_PER_FILE = 40
CLAIM_SHARE = 0.7  # tests that claim an invariant
DOUBLE_SHARE = 0.15  # tests that patch a scope function (mock-based links)
# `json-read` is what `invariants report/gate/combine` pay later, not the run itself.
STAGES = ("classify", "graph", "json-write", "json-read", "terminal", "markdown", "sarif", "html")


# -- generation ---------------------------------------------------------------


def _write_sources(root: Path, files: int, scope_lines: int) -> list[list[tuple[int, int]]]:
    """Write `files` modules of FUNCTIONS_PER_FILE functions; return each function's span."""
    spans: list[list[tuple[int, int]]] = []
    (root / "pkg").mkdir(parents=True, exist_ok=True)
    (root / "pkg" / "__init__.py").write_text("")
    for index in range(files):
        lines: list[str] = []
        file_spans: list[tuple[int, int]] = []
        for func in range(FUNCTIONS_PER_FILE):
            first = len(lines) + 1
            lines.append(f"def f{func}(x):")
            lines.extend(f"    x = x + {n}" for n in range(scope_lines - 2))
            lines.append("    return x")
            file_spans.append((first, len(lines)))
            lines.append("")
        (root / "pkg" / f"m{index}.py").write_text("\n".join(lines) + "\n")
        spans.append(file_spans)
    return spans


def generate(root: Path, tests: int, invariants: int, scope_lines: int, seed: int = 7) -> Any:
    """Return (InvariantSet, [TestEvidence]) for a synthetic project written under `root`."""
    from pytest_invariants.model import (
        DoubleKind,
        DoubleRecord,
        Invariant,
        InvariantSet,
        Location,
        ObjectRef,
        Outcome,
        ScopeEntry,
        ScopeKind,
        Severity,
        TestEvidence,
    )

    rnd = random.Random(seed)
    files = max(1, invariants // 5)  # five invariants per module, as in a real package
    spans = _write_sources(root, files, scope_lines)

    def entry(file: int, func: int) -> ScopeEntry:
        first, last = spans[file][func]
        return ScopeEntry(
            raw=f"pkg.m{file}:f{func}",
            kind=ScopeKind.QUALNAME,
            file=f"pkg/m{file}.py",
            dotted=f"pkg.m{file}.f{func}",
            lines=(first, last),
            executable=frozenset(range(first + 1, last + 1)),
            location=Location("invariants.yaml", 1),
        )

    severities = list(Severity)
    guarded: list[list[tuple[int, int]]] = []
    made = []
    for number in range(invariants):
        file = number % files
        funcs = rnd.sample(range(FUNCTIONS_PER_FILE), rnd.choice((1, 1, 2)))
        guarded.append([(file, f) for f in funcs])
        deps = (f"INV-{rnd.randrange(number):04d}",) if number and rnd.random() < 0.3 else ()
        made.append(
            Invariant(
                id=f"INV-{number:04d}",
                title=f"Rule number {number} holds",
                why="Generated for the scale benchmark.",
                owner=f"team-{number % 17}",
                severity=severities[number % 4],
                code=tuple(entry(file, f) for _, f in guarded[-1]),
                depends_on=deps,
                location=Location("invariants.yaml", 5 + 6 * number),
            )
        )
    iset = InvariantSet(tuple(made), files=("invariants.yaml",), fingerprint="bench")

    outcomes = [Outcome.PASSED] * 96 + [Outcome.FAILED, Outcome.SKIPPED, Outcome.XFAILED] * 1
    evidence = []
    for number in range(tests):
        mine = rnd.randrange(invariants)
        claims = (f"INV-{mine:04d}",) if rnd.random() < CLAIM_SHARE else ()
        executed: dict[str, set[int]] = {}
        ran = list(guarded[mine]) + [
            (rnd.randrange(files), rnd.randrange(FUNCTIONS_PER_FILE)) for _ in range(2)
        ]
        for file, func in ran:
            first, last = spans[file][func]
            executed.setdefault(f"pkg/m{file}.py", set()).update(range(first + 1, last + 1))
        doubles: tuple[DoubleRecord, ...] = ()
        if rnd.random() < DOUBLE_SHARE:
            file, func = guarded[mine][0]
            doubles = (
                DoubleRecord(
                    target=f"pkg.m{file}.f{func}",
                    kind=DoubleKind.DOUBLE,
                    replacement="MagicMock",
                    via="unittest.mock.patch",
                    where=f"tests/test_t{number // 50}.py:{number % 50 * 8 + 3}",
                    original=ObjectRef(
                        f"pkg.m{file}",
                        f"f{func}",
                        f"pkg/m{file}.py",
                        spans[file][func][0],
                        "function",
                    ),
                ),
            )
        evidence.append(
            TestEvidence(
                nodeid=f"tests/test_t{number // 50}.py::test_{number}",
                outcome=rnd.choice(outcomes),
                claims=claims,
                executed={path: frozenset(lines) for path, lines in executed.items()},
                doubles=doubles,
                duration=0.001,
                location=Location(f"tests/test_t{number // 50}.py", number % 50 * 8 + 1),
            )
        )
    return iset, evidence


# -- the stages ------------------------------------------------------------------


def _stages(root: Path, iset: Any, evidence: list[Any]) -> dict[str, Callable[[], object]]:
    """Return the stages in run order; each later stage uses what `classify` produced."""
    from pytest_invariants.gate import evaluate, parse_policy
    from pytest_invariants.graph import build_graph
    from pytest_invariants.model import RunInfo, RunResults
    from pytest_invariants.reports.files import render_format
    from pytest_invariants.reports.terminal import make_console
    from pytest_invariants.reports.terminal import render as render_terminal
    from pytest_invariants.results import read_results, write_results
    from pytest_invariants.status import classify

    state: dict[str, Any] = {}
    policy = parse_policy("critical:mock-only,unverified;high:unverified")

    def do_classify() -> None:
        verdicts = classify(iset, evidence)
        info = RunInfo(rootdir=str(root), tool_version="bench", python=sys.version.split()[0])
        state["results"] = RunResults(iset, verdicts, tuple(evidence), info)
        state["violations"] = evaluate(verdicts, policy)

    path = root / ".invariants" / "results.json"

    def do_write() -> None:
        write_results(state["results"], path)

    def do_terminal() -> None:
        out = io.StringIO()
        render_terminal(state["results"], state["violations"], make_console(out, width=120), 0)

    def report(fmt: str) -> Callable[[], object]:
        return lambda: render_format(fmt, state["results"], state["violations"])

    return {
        "classify": do_classify,
        "graph": lambda: build_graph(state["results"]),
        "json-write": do_write,
        "json-read": lambda: read_results(path),
        "terminal": do_terminal,
        "markdown": report("md"),
        "sarif": report("sarif"),
        "html": report("html"),
    }


def path_size(root: Path) -> float:
    """Return the size of the results file written under `root`, in MB."""
    return (root / ".invariants" / "results.json").stat().st_size / 2**20


def _max_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def child(tests: int, invariants: int, scope_lines: int, profile: str | None) -> dict[str, Any]:
    """Generate, run every stage once, and return seconds and peak memory per stage."""
    with tempfile.TemporaryDirectory(prefix="inv-scale-") as tmp:
        root = Path(tmp)
        iset, evidence = generate(root, tests, invariants, scope_lines)
        base_mb = _max_rss_mb()
        seconds: dict[str, float] = {}
        cpu: dict[str, float] = {}
        json_mb = 0.0
        rss: dict[str, float] = {}
        for name, stage in _stages(root, iset, evidence).items():
            profiler = cProfile.Profile() if name == profile else None
            start, cpu_start = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.runcall(stage)
            else:
                stage()
            seconds[name] = time.perf_counter() - start
            cpu[name] = time.process_time() - cpu_start
            rss[name] = _max_rss_mb()
            if profiler is not None:
                stats = pstats.Stats(profiler, stream=sys.stderr)
                stats.sort_stats("cumulative").print_stats(25)
            if name == "json-write":
                json_mb = path_size(root)
        return {
            "seconds": seconds,
            "cpu": cpu,
            "rss_mb": rss,
            "input_mb": base_mb,
            "json_mb": json_mb,
        }


def measure(tests: int, invariants: int, scope_lines: int, profile: str | None = None) -> Any:
    """Run `child` in a fresh interpreter and return its figures and its peak memory."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        f"--tests={tests}",
        f"--invariants={invariants}",
        f"--scope-lines={scope_lines}",
    ]
    if profile:
        cmd.append(f"--profile={profile}")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"child failed:\n{done.stderr}")
    if profile:
        sys.stderr.write(done.stderr)
    return json.loads(done.stdout)


# -- output -----------------------------------------------------------------------


def _table(figures: dict[str, Any]) -> tuple[float, float, float]:
    wall, cpu = sum(figures["seconds"].values()), sum(figures["cpu"].values())
    print(f"{'stage':<10} {'wall s':>8} {'CPU s':>8} {'share':>6} {'peak MB after':>14}")
    for name in STAGES:
        secs, used = figures["seconds"][name], figures["cpu"][name]
        mb = figures["rss_mb"][name]
        print(f"{name:<10} {secs:8.3f} {used:8.3f} {used / cpu:6.0%} {mb:14.0f}")
    peak = max(figures["rss_mb"].values())
    print(f"{'total':<10} {wall:8.3f} {cpu:8.3f} {'':>6} {peak:14.0f}")
    print(f"(generated input alone: {figures['input_mb']:.0f} MB peak before the first stage;")
    print(f" results.json: {figures['json_mb']:.1f} MB)")
    return wall, cpu, peak


def grow(tests: int, invariants: int, scope_lines: int) -> None:
    """Print each stage's cost when one dimension doubles, relative to the base size."""
    base = measure(tests, invariants, scope_lines)
    rows = {
        f"2x tests ({tests * 2})": measure(tests * 2, invariants, scope_lines),
        f"2x invariants ({invariants * 2})": measure(tests, invariants * 2, scope_lines),
        f"2x scope lines ({scope_lines * 2})": measure(tests, invariants, scope_lines * 2),
    }
    print(f"\ncost relative to {tests} tests x {invariants} invariants x {scope_lines} lines")
    print(
        f"{'CPU time':<26}" + "".join(f"{name:>11}" for name in STAGES) + f"{'total':>9}{'MB':>7}"
    )
    for label, figures in rows.items():
        cells = [figures["cpu"][n] / max(base["cpu"][n], 1e-9) for n in STAGES]
        total = sum(figures["cpu"].values()) / sum(base["cpu"].values())
        mem = max(figures["rss_mb"].values()) / max(base["rss_mb"].values())
        print(f"{label:<26}" + "".join(f"{c:11.2f}" for c in cells) + f"{total:9.2f}{mem:7.2f}")


# -- start-up: load, resolve and instrument ---------------------------------------

STARTUP_BUDGET_SECONDS = 1.0
STARTUP_STAGES = ("load-cold", "load-warm", "import", "instrument-cold", "instrument")


def write_startup_project(root: Path, invariants: int, files: int, scope_lines: int) -> None:
    """Write `files` scope modules and an invariants file of `invariants` one-entry scopes."""
    _write_sources(root, files, scope_lines)
    rows = ["version: 1", "defaults: {owner: bench, severity: medium}", "invariants:"]
    for number in range(invariants):
        rows += [
            f"  - id: INV-{number:05d}",
            f"    title: Rule number {number} holds",
            "    why: Generated for the start-up benchmark.",
            f"    code: [pkg.m{number % files}:f{number // files % FUNCTIONS_PER_FILE}]",
        ]
    (root / "invariants.yaml").write_text("\n".join(rows) + "\n")


def startup_child(invariants: int, files: int, scope_lines: int) -> dict[str, Any]:
    """Time, in this fresh process, what a run does before its first test."""
    import importlib

    from pytest_invariants.load.loading import load_invariants
    from pytest_invariants.load.scopes import search_path
    from pytest_invariants.observe.choose import make_recorder

    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="inv-startup-") as tmp:
        root = Path(tmp)
        write_startup_project(root, invariants, files, scope_lines)
        paths = [root / "invariants.yaml"]
        for stage in ("load-cold", "load-warm"):  # the second run reads .invariants/ caches
            start = time.process_time()
            iset, problems = load_invariants(paths, root, search_path(root, []))
            cpu[stage] = time.process_time() - start
            if iset is None or problems:
                raise SystemExit(f"load failed: {problems[:3]}")
        sys.path.insert(0, str(root))
        start = time.process_time()
        for index in range(files):
            importlib.import_module(f"pkg.m{index}")
        cpu["import"] = time.process_time() - start
        scope = sorted({str(root / e.file) for inv in iset.invariants for e in inv.code})
        for stage in ("instrument-cold", "instrument"):  # the second reads .invariants/probes
            start = time.process_time()
            recorder = make_recorder(scope, cache_dir=root / ".invariants" / "probes")
            recorder.start()
            cpu[stage] = time.process_time() - start
            recorder.stop()
    return {"cpu": cpu, "recorder": recorder.name, "rss_mb": _max_rss_mb()}


def startup(invariants: int, files: int, scope_lines: int, python: str) -> bool:
    """Print the start-up stages' CPU time; return True when the budget is met."""
    cmd = [python, __file__, "--startup-child", f"--invariants={invariants}"]
    cmd += [f"--files={files}", f"--scope-lines={scope_lines}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"child failed:\n{done.stderr}")
    figures = json.loads(done.stdout)
    lines = files and (scope_lines + 1) * FUNCTIONS_PER_FILE
    print(f"start-up: {invariants} invariants over {files} modules of {lines} lines")
    for stage in STARTUP_STAGES:
        print(f"  {stage:<15} {figures['cpu'][stage]:7.3f} CPU s")
    # What a run pays from the second run on: load (caches warm) and instrument;
    # importing the modules is the suite's own cost, paid with or without us.
    ours = figures["cpu"]["load-warm"] + figures["cpu"]["instrument"]
    met = ours <= STARTUP_BUDGET_SECONDS
    print(
        f"  load (warm) + instrument ({figures['recorder']}): {ours:.3f} s, budget "
        f"<= {STARTUP_BUDGET_SECONDS:.0f} s: {'met' if met else 'MISSED'}; "
        f"peak {figures['rss_mb']:.0f} MB"
    )
    return met


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when a budget is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10_000)
    parser.add_argument("--invariants", type=int, default=1_000)
    parser.add_argument("--scope-lines", type=int, default=12, help="lines per scope function")
    parser.add_argument("--grow", action="store_true", help="also double each dimension")
    parser.add_argument("--profile", choices=STAGES, help="print a cProfile of one stage")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--startup",
        action="store_true",
        help="time load + resolve + instrument instead (10,000 invariants over 200 modules)",
    )
    parser.add_argument("--files", type=int, default=200, help="scope modules for --startup")
    parser.add_argument("--python", default=sys.executable, help="interpreter for --startup")
    parser.add_argument("--startup-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.startup_child:
        print(json.dumps(startup_child(args.invariants, args.files, args.scope_lines)))
        return 0
    if args.startup:
        invariants = args.invariants if "--invariants" in " ".join(argv or sys.argv) else 10_000
        lines = args.scope_lines if "--scope-lines" in " ".join(argv or sys.argv) else 13
        return 0 if startup(invariants, args.files, lines, args.python) else 1
    if args.child:
        figures = child(args.tests, args.invariants, args.scope_lines, args.profile)
        print(json.dumps(figures))
        return 0
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPU(s)")
    print(f"{args.tests} tests x {args.invariants} invariants, {args.scope_lines} lines per scope")
    wall, cpu, peak = _table(measure(args.tests, args.invariants, args.scope_lines, args.profile))
    # CPU seconds decide: on a shared machine wall time also measures the neighbours.
    verdict = cpu <= BUDGET_SECONDS and peak <= BUDGET_MB
    print(
        f"budget <= {BUDGET_SECONDS:.0f} CPU s and <= {BUDGET_MB:.0f} MB: "
        f"{'met' if verdict else 'MISSED'} (wall {wall:.2f} s)"
    )
    if args.grow:
        grow(args.tests, args.invariants, args.scope_lines)
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())

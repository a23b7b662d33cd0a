"""Measure what per-test line recording costs, side by side with pytest-cov.

Usage::

    python benchmarks/overhead.py [--tests 3000] [--scope 0.05 0.5] [--repeat 5]
                                  [--plugin-flag=--invariants] [--keep DIR]

Generates a package and a suite of `--tests` tests in a temporary directory,
then runs, interleaved `--repeat` times, each in a fresh child process:

* plain ``pytest``;
* ``pytest`` with the line recorder on a scope of each `--scope` fraction of
  the package's modules;
* ``pytest --cov=benchpkg --cov-context=test`` (coverage.py's per-test contexts).

It prints the median CPU time (user + system) of each child and its ratio to
plain pytest. Without `--plugin-flag` the recorder is driven by a tiny
conftest shim (switched on through an environment variable); with
`--plugin-flag=--invariants` the real plugin runs, reading the generated
``invariants.yaml`` whose ``code:`` lists the scope modules.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

MODULES = 40
FUNCTIONS_PER_MODULE = 12
CALLS_PER_TEST = 6
PACKAGE = "benchpkg"

SHIM = '''\
"""Drive the line recorder the way the plugin will, when INV_BENCH_SCOPE is set."""
import json
import os

import pytest

_state = {}


def pytest_collection_finish(session):
    scope = os.environ.get("INV_BENCH_SCOPE")
    if not scope:
        return
    from pytest_invariants.observe.choose import make_recorder

    recorder = make_recorder(scope.split(os.pathsep), os.environ.get("INV_BENCH_PREFER") or None)
    recorder.start()
    _state.update(recorder=recorder, tests=0, with_hits=0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    recorder = _state.get("recorder")
    if recorder is None:
        yield
        return
    recorder.begin_test()
    yield
    executed = recorder.end_test()
    _state["tests"] += 1
    _state["with_hits"] += bool(executed)


def pytest_sessionfinish(session):
    recorder = _state.get("recorder")
    if recorder is None:
        return
    recorder.stop()
    report = {
        "name": recorder.name,
        "tests": _state["tests"],
        "with_hits": _state["with_hits"],
        "problems": recorder.problems(),
    }
    with open(os.environ["INV_BENCH_OUT"], "w") as fh:
        json.dump(report, fh)
'''


def _function(module: int, index: int) -> str:
    return textwrap.dedent(
        f"""
        def f{index}(x):
            total = 0
            for k in range(x % 5 + 3):
                if k % 2:
                    total += k * {module + 1}
                else:
                    total -= k
            values = [v * 2 for v in range(3)]
            return _clip(total + sum(values))
        """
    )


def _module(module: int) -> str:
    head = textwrap.dedent(
        """
        def _clip(value):
            if value < 0:
                return -value
            return value
        """
    )
    return head + "".join(_function(module, i) for i in range(FUNCTIONS_PER_MODULE))


def _test_file(first: int, count: int, calls: int, rng: random.Random) -> str:
    lines = [f"from {PACKAGE} import " + ", ".join(f"m{i}" for i in range(MODULES)), ""]
    for number in range(first, first + count):
        lines.append(f"def test_{number}():")
        for _ in range(calls):
            module, function = rng.randrange(MODULES), rng.randrange(FUNCTIONS_PER_MODULE)
            lines.append(f"    assert m{module}.f{function}({number}) >= 0")
        lines.append("")
    return "\n".join(lines)


def generate(root: Path, tests: int, calls: int = CALLS_PER_TEST) -> None:
    """Write the package, the tests and the conftest shim under `root`."""
    rng = random.Random(20240601)
    package = root / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for module in range(MODULES):
        (package / f"m{module}.py").write_text(_module(module))
    suite = root / "tests"
    suite.mkdir()
    per_file = 100
    for first in range(0, tests, per_file):
        count = min(per_file, tests - first)
        (suite / f"test_{first // per_file:03d}.py").write_text(
            _test_file(first, count, calls, rng)
        )
    (root / "conftest.py").write_text(SHIM)
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")


def scope_modules(fraction: float) -> list[str]:
    """Return the dotted modules making up `fraction` of the package."""
    count = max(1, math.ceil(MODULES * fraction))
    return [f"{PACKAGE}.m{i}" for i in range(count)]


def write_invariants(root: Path, modules: list[str]) -> None:
    """Write the invariants.yaml the real plugin reads: one invariant over `modules`."""
    code = "".join(f"      - {m}\n" for m in modules)
    (root / "invariants.yaml").write_text(
        "version: 1\n"
        "invariants:\n"
        "  - id: BENCH-001\n"
        "    title: Benchmark scope\n"
        "    why: Measures the cost of per-test line recording.\n"
        "    owner: benchmarks\n"
        "    severity: low\n"
        "    code:\n" + code
    )


@dataclass
class Config:
    label: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    scope: list[str] | None = None  # dotted modules for the real plugin
    times: list[float] = field(default_factory=list)
    report: dict[str, object] | None = None


TESTMON_LABEL = "pytest --testmon-noselect"


def configs(
    root: Path, fractions: list[float], plugin_flag: str | None, testmon_available: bool = False
) -> list[Config]:
    """Return the set-ups to time, plain pytest first."""
    base = ["-q", "-p", "no:cacheprovider"]
    shim_base = [*base, "-p", "no:invariants"]  # the shim stands in for the plugin
    result = [Config("pytest", base if plugin_flag else shim_base)]
    for fraction in fractions:
        modules = scope_modules(fraction)
        label = f"recorder, scope {fraction:.0%} ({len(modules)} modules)"
        if plugin_flag:
            result.append(Config(label, [*base, plugin_flag], scope=modules))
            continue
        files = [str(root / (m.replace(".", "/") + ".py")) for m in modules]
        env = {"INV_BENCH_SCOPE": os.pathsep.join(files)}
        result.append(Config(label, shim_base, env))
    cov = ["--cov=" + PACKAGE, "--cov-context=test", "--cov-report="]
    result.append(Config("pytest --cov --cov-context=test", [*shim_base, *cov]))
    if testmon_available:
        # --testmon-noselect records per-test dependencies but runs every test,
        # so it is timed doing the same work; its database is removed before each run.
        result.append(Config(TESTMON_LABEL, [*shim_base, "--testmon-noselect"]))
    return result


def run_once(root: Path, python: str, config: Config, prefer: str | None) -> float:
    """Run pytest once for `config`; return the child's CPU seconds."""
    if config.scope is not None:
        write_invariants(root, config.scope)
    out = root / "recorder.json"
    out.unlink(missing_ok=True)
    if config.label == TESTMON_LABEL:
        for data in root.glob(".testmondata*"):
            data.unlink()
    env = {**os.environ, **config.env, "INV_BENCH_OUT": str(out)}
    if prefer:
        env["INV_BENCH_PREFER"] = prefer
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [python, "-m", "pytest", *config.args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{config.label}: pytest failed\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    if out.exists():
        config.report = json.loads(out.read_text())
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(root: Path, python: str, todo: list[Config], repeat: int, prefer: str | None) -> None:
    """Time every config `repeat` times, interleaved so drifts in load hit all alike."""
    for config in todo:  # warm-up: .pyc files, OS caches
        run_once(root, python, config, prefer)
    for round_ in range(repeat):
        order = todo[:] if round_ % 2 == 0 else todo[::-1]
        for config in order:
            config.times.append(run_once(root, python, config, prefer))


def render(todo: list[Config], python: str, tests: int, calls: int) -> str:
    """Return the results table."""
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    plain = statistics.median(todo[0].times)
    runs = len(todo[0].times)
    rows = [f"Python {version}, {tests} tests x {calls} calls, median CPU seconds of {runs} runs"]
    for config in todo:
        median = statistics.median(config.times)
        note = ""
        if config.report:
            note = (
                f"  [{config.report['name']}: {config.report['with_hits']}/"
                f"{config.report['tests']} tests with scope hits]"
            )
            if config.report.get("problems"):
                note += f" problems: {config.report['problems']}"
        rows.append(f"  {config.label:<42} {median:7.2f}s  {median / plain:5.2f}x{note}")
    return "\n".join(rows)


def _has_testmon(python: str) -> bool:
    probe = [python, "-c", "import testmon"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def main(argv: list[str] | None = None) -> int:
    """Generate the suite, time every set-up and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=3000)
    parser.add_argument(
        "--calls", type=int, default=CALLS_PER_TEST, help="package calls per test (work)"
    )
    parser.add_argument("--scope", type=float, nargs="+", default=[0.05, 0.5])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="interpreter to benchmark")
    parser.add_argument("--prefer", choices=["sys.monitoring", "probes"], default=None)
    parser.add_argument(
        "--plugin-flag",
        default="--invariants",
        help="flag that turns the plugin on (default --invariants: the whole plugin, doubles "
        "and all); give --plugin-flag= to time the bare line recorder through a shim instead",
    )
    parser.add_argument("--keep", type=Path, default=None, help="generate here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="inv-bench-") as tmp:
        root = args.keep or Path(tmp) / "project"
        generate(root, args.tests, args.calls)
        todo = configs(root, args.scope, args.plugin_flag or None, _has_testmon(args.python))
        measure(root, args.python, todo, args.repeat, args.prefer)
        print(render(todo, args.python, args.tests, args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

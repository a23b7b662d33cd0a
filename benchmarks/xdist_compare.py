"""Compare `pytest --invariants -n N` with a serial run: the same results, and the speed-up.

Usage::

    python benchmarks/xdist_compare.py [--tests 400] [--work-ms 20] [--workers 2]
                                       [--repeat 3] [--keep DIR]

Generates, in a temporary directory, a package of 10 modules and a suite of
`--tests` tests (each busy for about `--work-ms` of CPU, a third of them
patching a scope function, a few skipped or failing) with an invariants file
whose scopes cover half of the modules. Then runs, interleaved `--repeat`
times, `pytest --invariants` serially and with `-n --workers`, each in a fresh
process, and:

* asserts that both runs give the same statuses, flags and links (test,
  link kind, outcome) for every invariant, and the same per-test evidence;
* prints the median wall time of each and the speed-up ratio.

Wall time, not CPU time: xdist spends more CPU in total (N interpreters, N
collections) to finish sooner.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODULES = 10
FUNCTIONS = 8
STATUS_KEYS = ("status", "partial", "at_risk", "scope_coverage", "suggested_tests")


def _module(index: int) -> str:
    body = []
    for func in range(FUNCTIONS):
        body.append(
            f"def f{func}(n):\n"
            f"    total = 0\n"
            f"    for i in range(n):\n"
            f"        total += (i * {func + index + 1}) % 7\n"
            f"    return total\n"
        )
    return "\n\n".join(body)


def _invariants() -> str:
    lines = ["version: 1", "defaults:", "  owner: bench", "invariants:"]
    for index in range(0, MODULES, 2):
        for func in range(FUNCTIONS):
            lines += [
                f"  - id: B-{index}-{func}",
                f"    title: f{func} of module {index} is right",
                "    why: Generated for the xdist comparison.",
                "    severity: medium",
                f"    code: [benchpkg.m{index}:f{func}]",
            ]
    return "\n".join(lines) + "\n"


def _test(number: int, work: int) -> str:
    module, func = number % MODULES, (number // MODULES) % FUNCTIONS
    marker = f'@pytest.mark.invariant("B-{module}-{func}")\n' if module % 2 == 0 else ""
    extra = ""
    if number % 3 == 0:
        extra = f'    with patch("benchpkg.m{module}.f{(func + 1) % FUNCTIONS}"):\n        pass\n'
    if number % 50 == 7:
        extra += '    pytest.skip("generated skip")\n'
    if number % 97 == 11:
        extra += "    assert False, 'generated failure'\n"
    return (
        f"{marker}def test_{number}():\n"
        f"    from benchpkg.m{module} import f{func}\n"
        f"    assert f{func}({work}) >= 0\n{extra}"
    )


def generate(root: Path, tests: int, work_ms: int) -> None:
    """Write the package, the tests (50 per file) and the invariants under `root`."""
    pkg = root / "src" / "benchpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for index in range(MODULES):
        (pkg / f"m{index}.py").write_text(_module(index))
    (root / "tests").mkdir()
    work = work_ms * 5_000  # loop iterations: about 1 ms per 5,000 on a 2020s core
    head = "from unittest.mock import patch\n\nimport pytest\n\n\n"
    for start in range(0, tests, 50):
        body = "\n\n".join(_test(n, work) for n in range(start, min(start + 50, tests)))
        (root / "tests" / f"test_b{start // 50:03d}.py").write_text(head + body + "\n")
    (root / "invariants.yaml").write_text(_invariants())
    (root / "pytest.ini").write_text("[pytest]\npythonpath = src\n")


def run(root: Path, name: str, *args: str, plugin: bool = True) -> tuple[float, dict[str, Any]]:
    """Run pytest (--invariants unless `plugin` is False); return wall time and results."""
    out = root / f"{name}.json"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    if plugin:
        cmd += ["--invariants", "--invariants-json", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: the generated failures
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed, json.loads(out.read_text()) if plugin else {}


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """Return what must not depend on -n: verdicts, links and per-test evidence."""
    invariants = {
        inv["id"]: (
            {key: inv[key] for key in STATUS_KEYS},
            sorted((t["nodeid"], t["link"], t["detail"], t["outcome"]) for t in inv["tests"]),
        )
        for inv in data["invariants"]
    }
    tests = {
        t["nodeid"]: (t["outcome"], t["claims"], t["executed"], [d["target"] for d in t["doubles"]])
        for t in data["tests"]
    }
    return {"invariants": invariants, "tests": tests, "partial": data["run"]["partial"]}


def main(argv: list[str] | None = None) -> int:
    """Run both set-ups interleaved; return 1 when their results differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=400)
    parser.add_argument("--work-ms", type=int, default=20, help="CPU work per test")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="inv-xdist-") as tmp:
        root = args.keep or Path(tmp)
        generate(root, args.tests, args.work_ms)
        parallel = f"-n {args.workers}"
        times: dict[str, list[float]] = {
            label: [] for label in ("serial", parallel, "plain serial", f"plain {parallel}")
        }
        reference: dict[str, Any] | None = None
        for _ in range(args.repeat):
            for label in times:
                extra = ("-n", str(args.workers)) if label.endswith(parallel) else ()
                plugin = not label.startswith("plain")
                elapsed, data = run(root, label.replace(" ", ""), *extra, plugin=plugin)
                times[label].append(elapsed)
                if not plugin:
                    continue  # timed only, to tell xdist's own cost from ours
                seen = comparable(data)
                if reference is None:
                    reference = seen
                elif seen != reference:
                    print(f"RESULTS DIFFER: {label} does not match the first serial run")
                    return 1
    assert reference is not None
    counts: dict[str, int] = {}
    for verdict, _ in reference["invariants"].values():
        counts[verdict["status"]] = counts.get(verdict["status"], 0) + 1
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s); {args.tests} tests, "
        f"~{args.work_ms} ms each; {len(reference['invariants'])} invariants {counts}"
    )
    print("results: identical (statuses, flags, links, per-test evidence) in every run")
    print("speed-up: the serial run of the same kind (with or without --invariants) / this one")
    print(f"{'set-up':<16} {'median s':>9} {'runs':>24} {'speed-up':>9}")
    for label, values in times.items():
        serial = statistics.median(times["plain serial" if "plain" in label else "serial"])
        median = statistics.median(values)
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{label:<16} {median:9.2f} {runs:>24} {serial / median:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

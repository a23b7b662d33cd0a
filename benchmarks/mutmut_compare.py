"""Compare `invariants prove` with mutmut 3 on the same functions and the same tests.

    python benchmarks/mutmut_compare.py [--rounds 3] [--suite shop toolz]

Two suites, side by side in one run:

- `shop`: the bundled `examples/shop` (copied; the example itself is never
  touched), ORD-002 `shop.shipping:shipping_fee` and ORD-003
  `shop.orders:discount_for`;
- `toolz`: the test suite of toolz 1.2.0, a real PyPI project (192 tests),
  downloaded once as a pinned sdist (`pip download --no-deps --no-binary
  :all:`), sha256-checked and cached outside the repository
  (`$PYTEST_INVARIANTS_BENCH_CACHE`, default `~/.cache/pytest-invariants-bench`),
  with the nine invariants of `TOOLZ_INVARIANTS` over nine of its functions.

For each suite and round, in a fresh copy: the plain suite (`pytest -p
no:invariants`, the baseline of the ratio), the suite with `--invariants` (what
a user runs anyway; it records the per-test lines the proof selects tests
with), then `invariants prove --no-cache` over every verified invariant, and
`mutmut run` restricted as tightly as mutmut 3 allows: mutants generated only
for the scope files (`only_mutate`), run only for the scope functions
(`mutmut run NAME-GLOB`), with only the tests linked to them
(`pytest_add_cli_args_test_selection`). mutmut 3.8 lives in its own venv under
the cache folder (one per interpreter), with the suites' test dependencies.
Both tools use one process per core. Wall times are medians of `--rounds`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(
    os.environ.get("PYTEST_INVARIANTS_BENCH_CACHE", "~/.cache/pytest-invariants-bench")
).expanduser()
BIN = Path(sys.executable).parent
MUTMUT = ("mutmut==3.8.1", "pytest==9.2.0", "freezegun==1.5.5", "responses==0.26.3")
KILLED = ("killed", "timeout")

TOOLZ = ("toolz", "1.2.0", "9667a038e9d6ecba37995e26cb2f59ec6420b6ad8dd9677de59db9b956b08490")
TOOLZ_FUNCTIONS = {
    "TZ-ACC": ("toolz.itertoolz", "accumulate", "test_itertoolz.py::test_accumulate*"),
    "TZ-GROUP": ("toolz.itertoolz", "groupby", "test_itertoolz.py::test_groupby*"),
    "TZ-UNIQUE": ("toolz.itertoolz", "unique", "test_itertoolz.py::test_unique"),
    "TZ-PART": ("toolz.itertoolz", "partition_all", "test_itertoolz.py::test_partition_all"),
    "TZ-FREQ": ("toolz.itertoolz", "frequencies", "test_itertoolz.py::test_frequencies"),
    "TZ-WINDOW": ("toolz.itertoolz", "sliding_window", "test_itertoolz.py::test_sliding_window*"),
    "TZ-REDUCE": ("toolz.itertoolz", "reduceby", "test_itertoolz.py::test_reduceby"),
    "TZ-UPDATE": ("toolz.dicttoolz", "update_in", "test_dicttoolz.py::*::test_update_in"),
    "TZ-MERGE": ("toolz.dicttoolz", "merge_with", "test_dicttoolz.py::*::test_merge_with"),
}
TOOLZ_INVARIANTS = "version: 1\ndefaults:\n  owner: bench\ninvariants:\n" + "".join(
    f"  - id: {iid}\n    title: {name} keeps its documented behaviour\n    why: Benchmark.\n"
    f"    code: ['{module}:{name}']\n    tests: ['toolz/tests/{glob}']\n"
    for iid, (module, name, glob) in TOOLZ_FUNCTIONS.items()
)


@dataclass(frozen=True)
class Suite:
    name: str
    prepare: Callable[[Path], Path]  # temp folder -> a fresh copy of the project
    invariants_arg: str  # how `pytest --invariants` finds the file
    ids: tuple[str, ...]  # what to prove (empty: every verified invariant)
    sources: tuple[str, ...]  # mutmut's source_paths
    scope_files: tuple[str, ...]  # mutmut's only_mutate
    also_copy: tuple[str, ...] = ()


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, Any]:
    started = time.perf_counter()
    proc = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        check=False,
    )
    return time.perf_counter() - started, proc


def _shop(folder: Path) -> Path:
    target = folder / "shop"
    skip = shutil.ignore_patterns(".invariants", "__pycache__")
    shutil.copytree(ROOT / "examples" / "shop", target, ignore=skip)
    return target


def _toolz_sdist() -> Path:
    name, version, sha = TOOLZ
    folder = CACHE / "sdists"
    sdist = folder / f"{name}-{version}.tar.gz"
    if not sdist.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             f"{name}=={version}", "-d", str(folder)],
            check=True,
        )
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != sha:
        raise SystemExit(f"{sdist}: sha256 {digest} is not the pinned {sha}")
    return sdist


def _toolz(folder: Path) -> Path:
    with tarfile.open(_toolz_sdist()) as archive:
        archive.extractall(folder, filter="data")
    target = folder / f"{TOOLZ[0]}-{TOOLZ[1]}"
    (target / "invariants.bench.yaml").write_text(TOOLZ_INVARIANTS)
    return target


SUITES = {
    "shop": Suite(
        "shop", _shop, "--invariants", ("ORD-002", "ORD-003"), ("src/shop",),
        ("src/shop/shipping.py", "src/shop/orders.py"), ("pytest.ini",),
    ),
    "toolz": Suite(
        "toolz", _toolz, "--invariants=invariants.bench.yaml", (), ("toolz",),
        ("toolz/itertoolz.py", "toolz/dicttoolz.py"),
    ),
}


def _mutmut_venv() -> Path:
    """A venv with mutmut 3 for this interpreter, under the cache folder."""
    tag = f"py{sys.version_info[0]}.{sys.version_info[1]}"
    venv = CACHE / f"mutmut-{tag}"
    if not (venv / "bin" / "mutmut").exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *MUTMUT], check=True)
    return venv / "bin"


def _scope(data: dict[str, Any], ids: set[str]) -> tuple[list[str], list[str]]:
    """Return (mutmut name globs of the scope functions, the real linked tests)."""
    names, tests = [], []
    for inv in data["invariants"]:
        if inv["id"] not in ids:
            continue
        for entry in inv["code"]:
            module, _, qualname = entry["entry"].partition(":")
            names.append(f"{module}.x_{qualname}__mutmut_*")
        tests += [t["nodeid"] for t in inv["tests"] if t["link"] == "real"]
    return names, sorted(set(tests))


def ours(suite: Suite, folder: Path) -> dict[str, Any]:
    """Plain suite, suite with --invariants, then `invariants prove` (no cache)."""
    project = suite.prepare(folder)
    plain, _ = _run([sys.executable, "-m", "pytest", "-p", "no:invariants", "-p",
                     "no:cacheprovider", "-q"], project)
    observed, _ = _run([sys.executable, "-m", "pytest", suite.invariants_arg, "-p",
                        "no:cacheprovider", "-q"], project)
    results = project / ".invariants" / "results.json"
    before = json.loads(results.read_text())
    verified = {i["id"] for i in before["invariants"] if i["status"] in ("verified", "proven")}
    ids = set(suite.ids) or verified
    seconds, proc = _run([str(BIN / "invariants"), "prove", *suite.ids, "--no-cache",
                          "--no-progress"], project)
    data = json.loads(results.read_text())
    proofs = {i["id"]: i["proof"] for i in data["invariants"] if i["id"] in ids}
    if not proofs or any(p is None for p in proofs.values()):
        raise SystemExit(f"invariants prove failed:\n{proc.stdout}\n{proc.stderr}")
    mutants = [m for p in proofs.values() for m in p["mutants"]]
    run = [m for m in mutants if m["status"] != "not-reached"]
    names, tests = _scope(data, ids)
    return {
        "plain": plain,
        "observed": observed,
        "seconds": seconds,
        "made": len(mutants),
        "mutants": len(run),
        "killed": sum(m["status"] in KILLED for m in run),
        "timeouts": sum(m["status"] == "timeout" for m in run),
        "survived": sum(m["status"] == "survived" for m in run),
        "not_reached": len(mutants) - len(run),
        "status": {i["id"]: i["status"] for i in data["invariants"] if i["id"] in ids},
        "survivors": {
            iid: [f"{m['file']}:{m['line']} {m['operator']}" for m in p["mutants"]
                  if m["status"] == "survived"]
            for iid, p in proofs.items()
        },
        "names": names,
        "tests": tests,
    }


def mutmut(suite: Suite, folder: Path, names: list[str], tests: list[str]) -> dict[str, Any]:
    """A cold `mutmut run` limited to the scope functions and the linked tests."""
    project = suite.prepare(folder)
    bindir = _mutmut_venv()
    lines = ["[mutmut]", "source_paths=" + "\n    ".join(suite.sources),
             "only_mutate=\n    " + "\n    ".join(suite.scope_files),
             "pytest_add_cli_args_test_selection=\n    " + "\n    ".join(tests)]
    if suite.also_copy:
        lines.append("also_copy=\n    " + "\n    ".join(suite.also_copy))
    (project / "setup.cfg").write_text("\n".join(lines) + "\n")
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(bindir.parent)}
    seconds, proc = _run([str(bindir / "mutmut"), "run", *names], project, env)
    _, listing = _run([str(bindir / "mutmut"), "results", "--all", "true"], project, env)
    prefixes = [n.split("*")[0] for n in names]
    rows = [line.strip().rsplit(": ", 1) for line in listing.stdout.splitlines()]
    statuses = [r[1] for r in rows if len(r) == 2 and any(r[0].startswith(p) for p in prefixes)]
    if not statuses:
        raise SystemExit(f"mutmut produced no results:\n{proc.stdout[-2000:]}\n{proc.stderr}")
    return {
        "seconds": seconds,
        "mutants": len(statuses),
        "killed": sum(s in KILLED for s in statuses),
        "timeouts": sum(s == "timeout" for s in statuses),
        "survived": sum(s == "survived" for s in statuses),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def _spread(runs: list[dict[str, Any]], key: str) -> str:
    """The rounds' range: on a shared machine the noise is part of the result."""
    values = [float(r[key]) for r in runs]
    return f"{min(values):.2f}-{max(values):.2f}"


def _report(name: str, mine: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    last, other = mine[-1], theirs[-1]
    prove, mm = _median(mine, "seconds"), _median(theirs, "seconds")
    plain = _median(mine, "plain")
    per_ours = prove / max(last["mutants"], 1)
    per_mm = mm / max(other["mutants"], 1)
    ratios = [m["seconds"] / m["plain"] for m in mine]
    print(f"\n## {name}: plain suite {plain:.2f}s ({_spread(mine, 'plain')}), with "
          f"--invariants {_median(mine, 'observed'):.2f}s")
    print("| tool | wall s (range) | mutants run | killed (timeout) | survived | s/mutant |")
    print("|---|---|---|---|---|---|")
    print(f"| invariants prove | {prove:.2f} ({_spread(mine, 'seconds')}) | {last['mutants']} | "
          f"{last['killed']} ({last['timeouts']}) | {last['survived']} | {per_ours:.4f} |")
    print(f"| mutmut 3.8.1 | {mm:.2f} ({_spread(theirs, 'seconds')}) | {other['mutants']} | "
          f"{other['killed']} ({other['timeouts']}) | {other['survived']} | {per_mm:.4f} |")
    print(f"per mutant: {per_mm / per_ours:.1f}x faster than mutmut; proof wall time = "
          f"{prove / plain:.2f}x the plain suite (per round: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); not reached (not run): "
          f"{last['not_reached']} of {last['made']} made")
    print(f"statuses: {last['status']}")
    for iid, survivors in last["survivors"].items():
        if survivors:
            print(f"  {iid} survivors: {', '.join(survivors)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--suite", nargs="+", choices=sorted(SUITES), default=sorted(SUITES))
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, rounds: {args.rounds}")
    for name in args.suite:
        suite = SUITES[name]
        mine: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="bench-prove-") as tmp:
                mine.append(ours(suite, Path(tmp)))
            with tempfile.TemporaryDirectory(prefix="bench-mutmut-") as tmp:
                theirs.append(mutmut(suite, Path(tmp), mine[-1]["names"], mine[-1]["tests"]))
        _report(name, mine, theirs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

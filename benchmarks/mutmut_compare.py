"""Compare `invariants prove` with mutmut on the same functions and the same tests.

Both tools work on throw-away copies of `examples/shop` (the example itself is
never touched) and are limited to the same two functions and the same two
tests:

- ORD-002 `shop.shipping:shipping_fee`, tested by
  `tests/test_shipping.py::test_shipping_fee_around_the_free_threshold`;
- ORD-003 `shop.orders:discount_for`, tested by
  `tests/test_orders.py::test_big_orders_get_a_discount`.

mutmut 3 cannot be limited to a function when it *generates* mutants (only to
files: `only_mutate`), but it can *run* only some (`mutmut run NAME-GLOB`) and
only some tests (`pytest_add_cli_args_test_selection`). Both tools run with
their default parallelism (one process per core). Timings are wall-clock
medians of `--rounds` cold runs (no cache for either tool).

    .venv/bin/python benchmarks/mutmut_compare.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop"
BIN = Path(sys.executable).parent
TESTS = (
    "tests/test_shipping.py::test_shipping_fee_around_the_free_threshold",
    "tests/test_orders.py::test_big_orders_get_a_discount",
)
IDS = ("ORD-002", "ORD-003")
MUTMUT_NAMES = ("shop.shipping.x_shipping_fee__mutmut_*", "shop.orders.x_discount_for__mutmut_*")
MUTMUT_CONFIG = """\
[mutmut]
source_paths=src/shop
only_mutate=
    src/shop/shipping.py
    src/shop/orders.py
pytest_add_cli_args_test_selection=
    {tests}
also_copy=
    pytest.ini
"""


def _copy(folder: Path) -> Path:
    target = folder / "shop"
    shutil.copytree(SHOP, target, ignore=shutil.ignore_patterns(".invariants", "__pycache__"))
    return target


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)


def ours(folder: Path) -> dict[str, object]:
    """Time `pytest --invariants` on the two tests, then `invariants prove` (no cache)."""
    shop = _copy(folder)
    started = time.perf_counter()
    _run([sys.executable, "-m", "pytest", "--invariants", "-p", "no:cacheprovider", "-q", *TESTS],
         shop)
    tests_done = time.perf_counter()
    proc = _run([str(BIN / "invariants"), "prove", *IDS, "--no-cache", "--no-progress"], shop)
    finished = time.perf_counter()
    data = json.loads((shop / ".invariants" / "results.json").read_text())
    proofs = {inv["id"]: inv["proof"] for inv in data["invariants"] if inv["id"] in IDS}
    if any(p is None for p in proofs.values()):
        raise SystemExit(f"invariants prove failed:\n{proc.stdout}\n{proc.stderr}")
    mutants = [m for p in proofs.values() for m in p["mutants"]]
    return {
        "seconds_total": finished - started,
        "seconds_prove": finished - tests_done,
        "mutants": len(mutants),
        "killed": sum(m["status"] in ("killed", "timeout") for m in mutants),
        "survived": sum(m["status"] == "survived" for m in mutants),
        "status": {iid: inv["status"] for iid, inv in
                   ((i["id"], i) for i in data["invariants"]) if iid in IDS},
    }


def mutmut(folder: Path) -> dict[str, object]:
    """Time a cold `mutmut run` limited to the two functions and the two tests."""
    shop = _copy(folder)
    (shop / "setup.cfg").write_text(MUTMUT_CONFIG.format(tests="\n    ".join(TESTS)))
    started = time.perf_counter()
    proc = _run([str(BIN / "mutmut"), "run", *MUTMUT_NAMES], shop)
    finished = time.perf_counter()
    listing = _run([str(BIN / "mutmut"), "results", "--all", "true"], shop).stdout
    rows = [line.strip().rsplit(": ", 1) for line in listing.splitlines() if "__mutmut_" in line]
    statuses = [row[1] for row in rows if len(row) == 2 and
                any(name.split("*")[0] in row[0] for name in MUTMUT_NAMES)]
    if not statuses:
        raise SystemExit(f"mutmut produced no results:\n{proc.stdout[-2000:]}\n{proc.stderr}")
    return {
        "seconds_total": finished - started,
        "mutants": len(statuses),
        "killed": sum(s in ("killed", "timeout") for s in statuses),
        "survived": sum(s == "survived" for s in statuses),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("mutmut", path=str(BIN)) is None:
        print("mutmut is not installed in this environment: pip install mutmut", file=sys.stderr)
        return 2
    rows: dict[str, list[dict[str, object]]] = {"invariants prove": [], "mutmut": []}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-prove-") as tmp:
            rows["invariants prove"].append(ours(Path(tmp)))
        with tempfile.TemporaryDirectory(prefix="bench-mutmut-") as tmp:
            rows["mutmut"].append(mutmut(Path(tmp)))
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, rounds: {args.rounds}")
    print(f"{'tool':<18}{'wall s (median)':>16}{'mutants':>9}{'killed':>8}{'survived':>10}"
          f"{'s/mutant':>10}")
    medians = {}
    for tool, runs in rows.items():
        wall = statistics.median(float(r["seconds_total"]) for r in runs)  # type: ignore[arg-type]
        medians[tool] = wall
        last = runs[-1]
        per = wall / max(int(last["mutants"]), 1)  # type: ignore[call-overload]
        print(f"{tool:<18}{wall:>16.2f}{last['mutants']!s:>9}{last['killed']!s:>8}"
              f"{last['survived']!s:>10}{per:>10.3f}")
    ours_runs = rows["invariants prove"]
    prove_only = statistics.median(
        float(r["seconds_prove"]) for r in ours_runs  # type: ignore[arg-type]
    )
    print(f"invariants prove alone (tests already run): {prove_only:.2f}s")
    ratio = medians["invariants prove"] / medians["mutmut"]
    print(f"ratio wall time invariants/mutmut: {ratio:.2f}")
    print(f"statuses: {rows['invariants prove'][-1]['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

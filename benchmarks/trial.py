"""Trial on real PyPI suites: the engine's statuses against a ground truth set by hand.

Usage::

    python benchmarks/trial.py [--suite NAME ...] [--python PATH|3.12] [--repo PATH]
    python benchmarks/trial.py --contexts [--suite NAME ...]   # the material for the truth

For each suite in ``TRIALS`` it downloads the pinned sdist (sha256-checked), unpacks
it and builds a venv with the project, its test requirements and this repository,
all through ``real_suites.py`` and in its cache (``$PYTEST_INVARIANTS_BENCH_CACHE``,
default ``~/.cache/pytest-invariants-bench``), never in the repository. It copies
``benchmarks/trials/<name>/invariants.yaml`` into the tree (claims are ``tests:``
globs: the upstream tests stay untouched), runs ``pytest --invariants`` there, and
compares every invariant's status in ``.invariants/results.json`` with
``benchmarks/trials/<name>/truth.yaml``: the status decided by hand, with its reason,
and the claims a double spoils (every other passed claim that ran the scope should be
a ``real`` link). It prints both agreements per suite and overall and each
disagreement; the exit status is 1 when any disagrees.

``--contexts`` runs each suite once under ``pytest-cov --cov-context=test`` instead
and prints, per invariant, which tests executed its scope lines (scope lines found
with ``ast`` here, not by the engine) and whether each claims it. That, plus reading
those tests for the doubles they install, is how ``truth.yaml`` was written
(docs/trials.md).
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import real_suites
import yaml
from real_suites import SetupError, Suite

HERE = Path(__file__).resolve().parent
TRIAL_FILE = "invariants.trial.yaml"  # a name no upstream tree ships
STATUSES = ("failing", "proven", "verified", "mock-only", "claimed", "incidental", "unverified")


@dataclass(frozen=True)
class Trial:
    suite: Suite
    source: str  # the folder of the package inside the tree ("src", or "" for the top)


TRIALS = {
    trial.suite.name: trial
    for trial in (
        Trial(
            Suite(
                "dotenv",
                "python-dotenv",
                "1.2.4",
                "f0d53e69935a851c0dcc78f3ab7aaccd8cabef0b92382b576b824212902873c0",
                "dotenv",
                # click for the CLI tests; ipython for tests/test_ipython.py (the magic).
                deps=("click==8.5.1", "ipython==9.18.1"),
            ),
            "src",
        ),
        Trial(
            Suite(
                "humanize",
                "humanize",
                "4.17.0",
                "1d6a36c453dbfbb3f0b34601d2e0b4ce5d48d780305cd45714843f0068fde6ac",
                "humanize",
                deps=("freezegun==1.5.5",),
                # The benchmark tests need pytest-benchmark/codspeed and only re-run
                # functions the other tests already cover.
                args=("--ignore=tests/test_benchmarks.py",),
            ),
            "src",
        ),
        Trial(
            Suite(
                "tenacity",
                "tenacity",
                "9.2.1",
                "a606b5c808d0cded4a359d5b9932d867ff2a6a6b64d37350260fd01bbdf83839",
                "tenacity",
                deps=("tornado==6.6.1",),  # its `test` extra
            ),
            "",
        ),
    )
}


# --- set-up ------------------------------------------------------------------------------


def prepare(trial: Trial, python: Path, repo: Path) -> real_suites.Prepared:
    """Download, unpack and install `trial`'s suite; copy its invariants into the tree."""
    suite = trial.suite
    cache = real_suites.cache_root()
    tree = real_suites.unpack(real_suites.download(suite, cache), suite, cache)
    shutil.copyfile(HERE / "trials" / suite.name / "invariants.yaml", tree / TRIAL_FILE)
    version = real_suites.python_version(python)
    venv_python = real_suites.make_venv(suite, tree, python, version, repo)
    return real_suites.Prepared(suite, tree, venv_python, version)


def run_pytest(prep: real_suites.Prepared, args: list[str]) -> real_suites.Sample:
    real_suites.clean(prep.tree)
    cmd = [str(prep.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    # The venv's scripts first: dotenv's CLI tests run `dotenv` found on PATH.
    env["PATH"] = f"{prep.python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTEST_ADDOPTS", None)  # the caller's options would change the run
    sample = real_suites.run_child(
        [*cmd, *prep.suite.args, *args], prep.tree, env, real_suites.TIMEOUT
    )
    # Exit 1 (a failing upstream test) still gives results; anything else is a broken set-up.
    if sample.status not in (0, 1):
        raise SetupError(
            f"{prep.suite.name}: pytest exited {sample.status}\n{sample.output[-3000:]}"
        )
    return sample


# --- comparison --------------------------------------------------------------------------


def load_truth(name: str) -> dict[str, dict[str, Any]]:
    path = HERE / "trials" / name / "truth.yaml"
    try:
        truth: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise SetupError(f"{path}: not valid YAML: {error}") from None
    for inv_id, entry in truth.items():
        if entry.get("status") not in STATUSES or not entry.get("reason"):
            raise SetupError(
                f"{path}: {inv_id} needs a status ({', '.join(STATUSES)}) and a reason"
            )
    return truth


def engine_statuses(tree: Path) -> dict[str, dict[str, Any]]:
    path = tree / ".invariants" / "results.json"
    if not path.exists():
        raise SetupError(f"{tree}: the run wrote no .invariants/results.json")
    return {inv["id"]: inv for inv in json.loads(path.read_text())["invariants"]}


def describe_links(inv: dict[str, Any], shown: int = 3) -> list[str]:
    """The engine's passed links for `inv` by kind, a few of each, for reading a disagreement."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for link in inv.get("tests", []):
        if link["outcome"] == "passed":
            by_kind.setdefault(link["link"], []).append(link)
    rows = []
    for kind, links in sorted(by_kind.items()):
        if kind == "incidental":
            rows.append(f"      ({len(links)} incidental)")
            continue
        rows.append(f"      {len(links)} {kind}, e.g.:")
        for link in links[:shown]:
            evidence = "; ".join(link.get("evidence") or [])
            rows.append(f"        {link['nodeid']}: {evidence[:200]}")
    return rows


@dataclass
class Tally:
    """Agreement of one suite: invariant statuses, and the links of passed claiming tests."""

    agree: int = 0
    total: int = 0
    links_agree: int = 0
    links_total: int = 0
    # The same per test function: parametrized cases fold into one (all must agree).
    funcs_agree: int = 0
    funcs_total: int = 0

    def add(self, other: Tally) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def compare_links(inv: dict[str, Any], mock_based: list[str]) -> tuple[Tally, list[str]]:
    """Compare the real/mock-based link of each passed claim that ran the scope.

    truth.yaml lists, per invariant, the claims a double spoils (`mock_based:` globs);
    every other passed claim that ran the scope is expected `real`.
    """
    tally = Tally()
    funcs: dict[str, bool] = {}
    wrong: dict[tuple[str, str], list[str]] = {}
    for link in inv.get("tests", []):
        if link["outcome"] != "passed" or link["link"] not in ("real", "mock-based"):
            continue
        want = "mock-based" if matches(link["nodeid"], mock_based) else "real"
        tally.links_total += 1
        func = link["nodeid"].split("[")[0]
        funcs[func] = funcs.get(func, True) and link["link"] == want
        if link["link"] == want:
            tally.links_agree += 1
        else:
            wrong.setdefault((link["link"], want), []).append(link["nodeid"])
    tally.funcs_total, tally.funcs_agree = len(funcs), sum(funcs.values())
    lines = []
    for (got, want), tests in sorted(wrong.items()):
        lines.append(f"  {inv['id']}: {len(tests)} claim(s) engine {got}, truth {want}, e.g.:")
        lines.extend(f"        {test}" for test in tests[:3])
    return tally, lines


def compare(name: str, tree: Path) -> tuple[Tally, list[str], list[str]]:
    """Return the tally and the status and link disagreements of one suite."""
    truth = load_truth(name)
    engine = engine_statuses(tree)
    missing = sorted(set(truth) ^ set(engine))
    if missing:
        raise SetupError(f"{name}: truth.yaml and the invariants differ in ids: {missing}")
    tally = Tally(total=len(truth))
    statuses, links = [], []
    for inv_id in sorted(truth):
        want, got = truth[inv_id]["status"], engine[inv_id]["status"]
        links_tally, wrong = compare_links(
            engine[inv_id], list(truth[inv_id].get("mock_based", []))
        )
        tally.add(links_tally)
        links.extend(wrong)
        if want == got:
            tally.agree += 1
            continue
        statuses.append(f"  {inv_id}: engine {got}, truth {want} ({truth[inv_id]['reason']})")
        statuses.extend(describe_links(engine[inv_id]))
    return tally, statuses, links


def links_figure(tally: Tally) -> str:
    return (
        f"links of passed claims: {tally.links_agree} of {tally.links_total} agree "
        f"({tally.funcs_agree} of {tally.funcs_total} test functions)"
    )


def run_trial(trial: Trial, python: Path, repo: Path) -> Tally:
    prep = prepare(trial, python, repo)
    sample = run_pytest(prep, [f"--invariants={prep.tree / TRIAL_FILE}"])
    tally, statuses, links = compare(trial.suite.name, prep.tree)
    print(
        f"{trial.suite.name} {trial.suite.version} on Python {prep.version}: "
        f"{real_suites.count_tests(sample.output)}\n"
        f"  statuses: {tally.agree} of {tally.total} agree; {links_figure(tally)}"
    )
    if statuses:
        print(" status disagreements:", *statuses, sep="\n")
    if links:
        print(" link disagreements:", *links, sep="\n")
    return tally


# --- ground-truth material: coverage.py contexts -----------------------------------------


def scope_lines(tree: Path, source: str, entry: str) -> tuple[Path, set[int]]:
    """Return the file and the lines of one `code:` entry (module or module:qualname)."""
    module, _, qualname = entry.partition(":")
    base = tree / source / Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    tree_ast = ast.parse(path.read_text())
    if not qualname:
        return path, set(range(1, len(path.read_text().splitlines()) + 1))
    node: ast.AST = tree_ast
    for part in qualname.split("."):
        defs = [
            child
            for child in ast.iter_child_nodes(node)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and child.name == part
        ]
        if not defs:
            raise SetupError(f"{entry}: no {part} in {path}")
        node = defs[-1]  # the definition bound at run time
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    # The body only: the def line itself runs at import, in no test.
    return path, set(range(node.body[0].lineno, (node.end_lineno or node.lineno) + 1))


def contexts_by_file(tree: Path) -> dict[str, dict[int, set[str]]]:
    """Read coverage.py's sqlite data: file -> line -> the test contexts that ran it."""
    out: dict[str, dict[int, set[str]]] = {}
    with sqlite3.connect(tree / ".coverage") as con:
        # coverage's `coverage.numbits` format is a bitmap of line numbers, little-endian.
        rows = con.execute(
            "SELECT file.path, context.context, line_bits.numbits FROM line_bits "
            "JOIN file ON file.id = line_bits.file_id "
            "JOIN context ON context.id = line_bits.context_id"
        )
        for path, context, numbits in rows:
            if not context:
                continue
            test = context.rsplit("|", 1)[0]  # "nodeid|run" (also |setup, |teardown)
            # Relative when the project sets `relative_files` (python-dotenv does).
            lines = out.setdefault(str((tree / path).resolve()), {})
            for byte_i, byte in enumerate(numbits):
                for bit in range(8):
                    if byte & (1 << bit):
                        lines.setdefault(byte_i * 8 + bit, set()).add(test)
    return out


def print_contexts(trial: Trial, python: Path, repo: Path) -> None:
    prep = prepare(trial, python, repo)
    cov = [f"--cov={trial.suite.package}", "--cov-context=test", "--cov-report="]
    run_pytest(prep, ["-p", "no:invariants", "--cov-fail-under=0", *cov])
    data = contexts_by_file(prep.tree)
    collected = collect(prep)
    spec = yaml.safe_load((prep.tree / TRIAL_FILE).read_text())
    for inv in spec["invariants"]:
        ran: dict[str, int] = {}
        for entry in inv.get("code", []):
            path, lines = scope_lines(prep.tree, trial.source, entry)
            for line, tests in data.get(str(path.resolve()), {}).items():
                if line in lines:
                    for test in tests:
                        ran[test] = ran.get(test, 0) + 1
        globs = inv.get("tests", [])
        claims = functools.partial(matches, globs=globs)
        print(f"{inv['id']}: {inv['title']}")
        for test, n in grouped(ran, claims):
            print(f"    {'CLAIMS' if claims(test) else 'ran   '} {n:>9} lines  {test}")
        unreached = sorted({t.split("[")[0] for t in collected if claims(t) and t not in ran})
        print(f"    claims that ran none of it: {', '.join(unreached) or 'none'}")


def matches(test: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(test, g) for g in globs)


def grouped(ran: dict[str, int], claims: Any) -> list[tuple[str, str]]:
    """Fold the parametrized cases of one test function into one row ("fn[3 cases]")."""
    groups: dict[str, list[int]] = {}
    for test, n in ran.items():
        groups.setdefault(test.split("[")[0], []).append(n)
    rows = []
    for base in sorted(groups, key=lambda t: (not claims(t), t)):
        counts = groups[base]
        name = base if len(counts) == 1 else f"{base}[{len(counts)} cases]"
        span = str(counts[0]) if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        rows.append((name, span))
    return rows


def collect(prep: real_suites.Prepared) -> list[str]:
    cmd = [str(prep.python), "-m", "pytest", "--collect-only", "-q", "-p", "no:invariants"]
    proc = subprocess.run([*cmd, *prep.suite.args], cwd=prep.tree, capture_output=True, text=True)
    return [line for line in proc.stdout.splitlines() if "::" in line]


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=sorted(TRIALS), help="repeatable")
    parser.add_argument("--python", default=sys.executable, help="interpreter or pyenv version")
    parser.add_argument("--repo", type=Path, default=HERE.parent, help="pytest-invariants")
    parser.add_argument("--contexts", action="store_true", help="print coverage contexts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = real_suites.resolve_python(args.python)
    repo = args.repo.resolve()
    overall = Tally()
    failed = []
    for name in args.suite or list(TRIALS):
        try:
            with real_suites.locked(TRIALS[name].suite):
                if args.contexts:
                    print_contexts(TRIALS[name], python, repo)
                    continue
                tally = run_trial(TRIALS[name], python, repo)
        except SetupError as error:
            print(f"SETUP FAILED: {name}: {error}", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        overall.add(tally)
    if overall.total:
        print(
            f"overall: statuses {overall.agree} of {overall.total} agree "
            f"({100 * overall.agree / overall.total:.0f}%); {links_figure(overall)}"
        )
    disagree = overall.agree != overall.total or overall.links_agree != overall.links_total
    return 1 if failed or disagree else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure what pytest-invariants costs on the test suites of real PyPI projects.

Usage::

    python benchmarks/real_suites.py [--suite NAME ...] [--python 3.12 ...] [--repeat 5]
                                     [--quick] [--no-profile] [--repo PATH]

For each suite it downloads a pinned sdist (``pip download --no-deps --no-binary
:all:``), checks its sha256, unpacks it, builds a venv per suite and interpreter with
the project, its test requirements, pytest-cov, pytest-testmon and this repository
(``pip install -e``), and copies ``benchmarks/suites/<name>/invariants.yaml`` into the
tree. Everything downloaded or built lives in ``$PYTEST_INVARIANTS_BENCH_CACHE``
(default ``~/.cache/pytest-invariants-bench``), never in the repository.

Then it runs, in fresh child processes, interleaved ``--repeat`` times after one
warm-up round (the order rotates each round so drifting load hits every set-up alike):

* ``plain``: ``pytest -p no:invariants`` (the baseline of every ratio);
* ``off``: ``pytest`` with the plugin installed but not switched on;
* ``invariants``: ``pytest --invariants=<the suite's file>``;
* ``cov``: ``pytest -p no:invariants --cov=<pkg> --cov-context=test``;
* ``testmon``: ``pytest -p no:invariants --testmon-noselect`` (records, runs every test).

By default every run starts **cold**: the state the tools leave behind (``STATE``:
our ``.invariants/`` caches and results, testmon's database, coverage data) is removed
before each run, as in a fresh CI clone. ``--warm`` keeps it between runs, as on a
developer's second run (each tool finds what its own previous run, or the warm-up
round, left). ``--setup`` picks the set-ups besides plain.

It prints the median CPU time (user + system, from ``os.wait4`` of each child) and
peak RSS of each set-up as ratios to plain pytest, with the spread of the per-round
ratios as a noise figure. Last comes a breakdown of the plugin's own cost by phase:
from ``$PYTEST_INVARIANTS_TIMINGS`` if the plugin writes it, otherwise from one
cProfile run (see ``PHASES``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE_ENV = "PYTEST_INVARIANTS_BENCH_CACHE"
TIMINGS_ENV = "PYTEST_INVARIANTS_TIMINGS"
BENCH_FILE = "invariants.bench.yaml"  # a name no upstream tree ships, so nothing is clobbered
# Pinned so that a rerun months later measures the same tools.
# coverage 7.17 needs Python 3.11: 3.10 gets the last release before it.
TOOLS = (
    *("pytest==9.2.0", "pytest-cov==7.1.0", "pytest-testmon==2.2.0"),
    *("coverage==7.17.5; python_version >= '3.11'", "coverage==7.16.2; python_version < '3.11'"),
)
# Left behind by one run and read by the next; removed so every run starts cold.
STATE = (".testmondata*", ".coverage*", ".invariants", ".hypothesis")


TIMED_OUT = -999  # the status run_child reports for a child it had to kill
TIMEOUT = 900.0  # seconds per pytest run; --timeout overrides


class SetupError(Exception):
    """A suite could not be downloaded, verified, installed or run."""


@dataclass(frozen=True)
class Suite:
    name: str
    dist: str  # the PyPI name
    version: str
    sha256: str
    package: str  # what --cov measures
    deps: tuple[str, ...] = ()  # the suite's own test requirements, pinned
    args: tuple[str, ...] = ()  # extra pytest arguments, each with its reason in SUITES
    no_testmon: bool = False  # a suite pytest-testmon cannot run (the reason in SUITES)


SUITES = {
    suite.name: suite
    for suite in (
        Suite(
            "toolz",
            "toolz",
            "1.2.0",
            "9667a038e9d6ecba37995e26cb2f59ec6420b6ad8dd9677de59db9b956b08490",
            "toolz",
        ),
        Suite(
            "tomlkit",
            "tomlkit",
            "0.15.2",
            "83e32755ba1d20d9340bd069ee97e9f6232ba2346b63ffcba425de01f7e327a6",
            "tomlkit",
            deps=("PyYAML==6.0.4",),
        ),
        Suite(
            "packaging",
            "packaging",
            "26.4",
            "c4b671c41ddb9bf26e543c37723610d28fb6bf7affc4da17cf048d419d2c062a",
            "packaging",
            deps=(
                "hypothesis==6.170.17",
                "pretend==1.0.9",
                "tomli_w==1.2.0",
                "tomli==2.5.0; python_version < '3.11'",
            ),
            # test_version.py alone holds 51,000 of the 64,000 tests (30 s a run); the
            # rest is still 12,000 tests, and the fixed seed keeps hypothesis's work equal.
            # Its addopts turn legacypath off, and pytest-testmon 2.2 needs config.rootdir
            # from it; turning it back on warns, and the suite makes warnings errors.
            args=(
                *("--ignore=tests/test_version.py", "-p", "no:randomly", "--hypothesis-seed=0"),
                *("-p", "legacypath", "-W", "ignore::pytest.PytestAssertRewriteWarning"),
            ),
        ),
    )
}


@dataclass
class Config:
    label: str
    args: list[str]
    cpu: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)


@dataclass
class Sample:
    cpu: float
    rss_kb: int
    status: int
    output: str


@dataclass
class Prepared:
    suite: Suite
    tree: Path
    python: Path  # the venv's interpreter
    version: str
    statuses: str = "not run"  # the invariants' statuses from the warm-up run
    timeout: float = TIMEOUT
    # Warm: each tool keeps what its previous run left (our .invariants/ caches, testmon's
    # database), as on a developer's second run; cold: removed before every run (a CI clone).
    warm: bool = False


# --- cache, download, unpack -------------------------------------------------------------


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "pytest-invariants-bench")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_sdist(folder: Path, suite: Suite) -> Path | None:
    # sdist names normalise differently across backends (python_dateutil-…, tomlkit-…).
    stem = re.sub(r"[-_.]+", "[-_.]", suite.dist)
    pattern = re.compile(rf"{stem}-{re.escape(suite.version)}\.(tar\.gz|zip)$", re.I)
    return next((p for p in sorted(folder.glob("*")) if pattern.match(p.name)), None)


def download(suite: Suite, cache: Path) -> Path:
    """Return the verified sdist of `suite`, downloading it once."""
    folder = cache / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    sdist = _find_sdist(folder, suite)
    if sdist is None:
        spec = f"{suite.dist}=={suite.version}"
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
        run_checked([*cmd, "--no-binary", ":all:", spec, "-d", str(folder)], f"download {spec}")
        sdist = _find_sdist(folder, suite)
    if sdist is None:
        raise SetupError(f"{suite.name}: pip downloaded no sdist of {suite.version}")
    actual = sha256_of(sdist)
    if actual != suite.sha256:
        sdist.unlink()  # a bad download must not be trusted on the next run either
        raise SetupError(f"{suite.name}: sha256 {actual} != pinned {suite.sha256}")
    return sdist


def unpack(sdist: Path, suite: Suite, cache: Path) -> Path:
    """Return the unpacked tree of `sdist`, unpacking it once (atomically)."""
    tree = cache / "trees" / f"{suite.name}-{suite.version}-{suite.sha256[:8]}"
    if tree.is_dir():
        return tree
    tree.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tree.parent) as tmp:
        with tarfile.open(sdist) as archive:
            # The "data" filter refuses absolute paths, links out of the tree and devices.
            archive.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()  # an sdist holds exactly one top-level folder
        top.rename(tree)
    return tree


# --- interpreters and venvs --------------------------------------------------------------


def resolve_python(spec: str) -> Path:
    """Return the interpreter for `spec`: a path, or a version pyenv knows (3.12, 3.12.1)."""
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", spec):
        return Path(spec)
    bare = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True)
    matches = [v for v in bare.stdout.split() if v == spec or v.startswith(spec + ".")]
    if not matches:
        raise SetupError(f"pyenv has no Python {spec} (has: {' '.join(bare.stdout.split())})")
    env = {**os.environ, "PYENV_VERSION": matches[-1]}
    found = subprocess.run(["pyenv", "which", "python"], capture_output=True, text=True, env=env)
    if found.returncode:
        raise SetupError(f"pyenv which python for {matches[-1]} failed: {found.stderr.strip()}")
    return Path(found.stdout.strip())


def python_version(python: Path) -> str:
    probe = [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]
    out = subprocess.run(probe, capture_output=True, text=True)
    if out.returncode:
        raise SetupError(f"{python} does not run: {out.stderr.strip()}")
    return out.stdout.strip()


def run_checked(cmd: Sequence[str], what: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, cwd=cwd)
    if proc.returncode:
        raise SetupError(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def make_venv(suite: Suite, tree: Path, python: Path, version: str, repo: Path) -> Path:
    """Return the venv interpreter for `suite` on `python`, installing it when needed."""
    venv = cache_root() / "venvs" / f"{suite.name}-{suite.version}-py{version}"
    key = json.dumps([TOOLS, suite.deps, str(repo), sha256_of(repo / "pyproject.toml")])
    stamp = venv / "bench-installed.json"
    venv_python = venv / "bin" / "python"
    if stamp.exists() and stamp.read_text() == key:
        return venv_python
    shutil.rmtree(venv, ignore_errors=True)
    run_checked([str(python), "-m", "venv", str(venv)], f"venv for {suite.name}")
    pip = [str(venv_python), "-m", "pip", "install", "-q"]
    # Editable, so scopes resolve to the very files the tests import and run.
    run_checked([*pip, *TOOLS, *suite.deps, "-e", str(tree)], f"install {suite.name}")
    run_checked([*pip, "-e", str(repo)], f"install pytest-invariants from {repo}")
    stamp.write_text(key)
    return venv_python


def prepare(suite: Suite, python: Path, repo: Path) -> Prepared:
    cache = cache_root()
    tree = unpack(download(suite, cache), suite, cache)
    shutil.copyfile(HERE / "suites" / suite.name / "invariants.yaml", tree / BENCH_FILE)
    version = python_version(python)
    return Prepared(suite, tree, make_venv(suite, tree, python, version, repo), version)


# --- running -----------------------------------------------------------------------------


SETUPS = ("off", "invariants", "cov", "testmon")  # --setup names; plain always runs


def configs(suite: Suite, tree: Path, setups: Sequence[str] = SETUPS) -> list[Config]:
    """Return the set-ups to time, the baseline first."""
    base = ["-q", "-p", "no:cacheprovider", *suite.args]
    off = [*base, "-p", "no:invariants"]
    # --cov-fail-under=0: a project's own threshold (packaging's is 100) would fail the run.
    cov = [f"--cov={suite.package}", "--cov-context=test", "--cov-report=", "--cov-fail-under=0"]
    named = {
        "off": Config("plugin installed, off", base),
        "invariants": Config("pytest --invariants", [*base, f"--invariants={tree / BENCH_FILE}"]),
        "cov": Config("pytest-cov --cov-context=test", [*off, *cov]),
        "testmon": Config("pytest-testmon --testmon-noselect", [*off, "--testmon-noselect"]),
    }
    if suite.no_testmon:
        named.pop("testmon")
    return [Config("plain (-p no:invariants)", off), *(named[s] for s in setups if s in named)]


def clean(tree: Path) -> None:
    for pattern in STATE:
        for path in tree.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, resource.struct_rusage]:
    # wait4 with WNOHANG in a loop: a blocking wait4 has no timeout, and a hung suite
    # (seen: a fork deadlock on 3.12) must be reported, not wait forever.
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return os.waitstatus_to_exitcode(status), usage
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)  # its group: a hung fork must go too
            _, status, usage = os.wait4(proc.pid, 0)
            return TIMED_OUT, usage
        time.sleep(0.02)


def run_child(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Sample:
    """Run `cmd`; return its own CPU time and peak RSS (not those of earlier children)."""
    with tempfile.TemporaryFile("w+") as out:
        # A session of its own, so that a timeout can kill the child's whole group.
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        status, usage = _reap(proc, timeout)
        proc.returncode = status  # already reaped: tell Popen
        out.seek(0)
        output = out.read()
    return Sample(usage.ru_utime + usage.ru_stime, usage.ru_maxrss, status, output)


def run_config(prep: Prepared, config: Config, extra_env: dict[str, str] | None = None) -> Sample:
    if not prep.warm:
        clean(prep.tree)
    env = {**os.environ, "PYTHONHASHSEED": "0", **(extra_env or {})}
    env.pop("PYTEST_ADDOPTS", None)  # the caller's options would change what is measured
    # A user's runs write .pyc files (and pytest its rewritten test modules); without them
    # every run compiles every imported source file again, ours included (~40 ms of ours).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [str(prep.python), "-m", "pytest", *config.args]
    sample = run_child(cmd, prep.tree, env, prep.timeout)
    if sample.status == TIMED_OUT:
        raise SetupError(
            f"{prep.suite.name}: `{config.label}` hung (killed after {prep.timeout:.0f}s)"
        )
    if sample.status != 0:
        raise SetupError(
            f"{prep.suite.name}: `{config.label}` exited {sample.status}\n{sample.output[-3000:]}"
        )
    return sample


def timings_path(prep: Prepared) -> Path:
    return cache_root() / "timings" / f"{prep.suite.name}-py{prep.version}.json"


def _env_for(prep: Prepared, config: Config) -> dict[str, str]:
    # Only the plugin's own run asks for its timings, and outside the tree that clean() empties.
    if not any(arg.startswith("--invariants=") for arg in config.args):
        return {}
    timings_path(prep).parent.mkdir(parents=True, exist_ok=True)
    return {TIMINGS_ENV: str(timings_path(prep))}


def measure(prep: Prepared, todo: list[Config], repeat: int) -> list[Sample]:
    """Time every config `repeat` times, rotated; return the warm-up round's samples."""
    timings_path(prep).unlink(missing_ok=True)
    clean(prep.tree)  # a warm measurement starts from what its own warm-up round leaves
    # Warm-up: .pyc files and OS caches; it is also where a broken set-up shows.
    warm = []
    for config in todo:
        warm.append(run_config(prep, config, _env_for(prep, config)))
        if _env_for(prep, config):  # read now: a cold run's clean() removes it
            prep.statuses = statuses(prep.tree)
    for round_ in range(repeat):
        shift = round_ % len(todo)
        for config in todo[shift:] + todo[:shift]:
            sample = run_config(prep, config, _env_for(prep, config))
            config.cpu.append(sample.cpu)
            config.rss_kb.append(sample.rss_kb)
    return warm


def count_tests(output: str) -> str:
    found = re.findall(r"(\d+) (passed|skipped|deselected|xfailed|xpassed)", output)
    return ", ".join(f"{n} {what}" for n, what in found) or "?"


def statuses(tree: Path) -> str:
    path = tree / ".invariants" / "results.json"
    if not path.exists():
        return "no results.json"
    by_status = json.loads(path.read_text())["summary"]["by_status"]
    return ", ".join(f"{n} {status}" for status, n in by_status.items() if n)


# --- reporting ---------------------------------------------------------------------------


def _spread(config: Config, plain: Config) -> str:
    # Each round's ratio pairs runs made seconds apart; their range is the noise figure.
    ratios = [c / p for c, p in zip(config.cpu, plain.cpu, strict=True)]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def render(prep: Prepared, todo: list[Config], warm: list[Sample]) -> str:
    plain = todo[0]
    cpu0 = statistics.median(plain.cpu)
    rss0 = statistics.median(plain.rss_kb)
    rows = [
        f"{prep.suite.name} {prep.suite.version} on Python {prep.version}, "
        f"{'warm' if prep.warm else 'cold'}: "
        f"{count_tests(warm[0].output)}; median of {len(plain.cpu)} rounds",
        f"  {'set-up':<36} {'CPU s':>7} {'CPU ratio':>9} {'per-round':>11} {'RSS MB':>7} "
        f"{'RSS ratio':>9}",
    ]
    for config in todo:
        cpu = statistics.median(config.cpu)
        rss = statistics.median(config.rss_kb)
        rows.append(
            f"  {config.label:<36} {cpu:7.2f} {cpu / cpu0:8.2f}x {_spread(config, plain):>11} "
            f"{rss / 1024:7.0f} {rss / rss0:8.2f}x"
        )
    rows.append(f"  invariants: {prep.statuses}")
    return "\n".join(rows)


# --- phase breakdown ---------------------------------------------------------------------

# Each phase's patterns match "<path inside our package>:<function name>" (fnmatch),
# first phase first. They name pytest hooks (fixed by pytest's API) and broad words in
# module and function names, so the grouping survives moving or renaming our modules.
# A function that matches none takes the phase of its heaviest caller of ours; one called
# only from outside (line callbacks, patched mock hooks, import hooks, ast visitors) is
# "other".
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("per test", ("*:pytest_runtest_*", "*:begin_test", "*:end_test", "*:*logreport*")),
    ("report", ("*:pytest_terminal_summary", "*report*:*", "*output*:*", "*:*render*")),
    ("write", ("*:*write*", "*:*dump*", "*:to_dict", "*:*_to_dict")),
    ("classify", ("*:pytest_sessionfinish", "*:build", "*link*:*", "*status*:*", "*graph*:*")),
    (
        "instrument",
        ("*:pytest_sessionstart", "*:pytest_collection*", "*:*recorder*", "*:start", "*:*install*"),
    ),
    ("load", ("*:pytest_configure", "*:pytest_addoption", "*:pytest_load_initial_conftests")),
    ("load", ("*load*:*", "*scope*:*", "*yaml*:*", "*:*valid*", "*:pytest_addhooks")),
)
PHASE_ORDER = ("load", "instrument", "per test", "classify", "write", "report", "other")
OUR_DIRS = ("pytest_invariants", "invariants_detectors")

# Runs in the suite's venv: pstats files are only sure to load in the Python that wrote
# them. It prints, for each function of ours, its own time and the cumulative time that
# reached it from each caller.
DUMP_PROFILE = """
import json, pstats, sys
ours = tuple(sys.argv[2:])
stats = pstats.Stats(sys.argv[1]).stats
key = lambda f: "%s:%d:%s" % f
out = {}
for func, (cc, nc, tt, ct, callers) in stats.items():
    if any("/%s/" % d in func[0] for d in ours):
        out[key(func)] = {"tt": tt, "ct": ct, "calls": nc,
                          "callers": {key(c): v[3] for c, v in callers.items()}}
print(json.dumps(out))
"""


def _short(key: str) -> str:
    """Return "<path inside our package>:<function>" for a pstats key "file:line:func"."""
    file, _, func = key.rsplit(":", 2)
    for folder in OUR_DIRS:
        if f"/{folder}/" in file:
            file = file.split(f"/{folder}/", 1)[1]
    return f"{file}:{func}"


def _own_phase(key: str) -> str | None:
    short = _short(key)
    for phase, patterns in PHASES:
        if any(fnmatch.fnmatchcase(short, p) for p in patterns):
            return phase
    return None


def assign_phases(funcs: dict[str, Any]) -> dict[str, str]:
    phases: dict[str, str] = {}

    def phase_of(key: str, seen: frozenset[str]) -> str:
        if key in phases:
            return phases[key]
        own = _own_phase(key)
        if own is None:
            callers = sorted(funcs[key]["callers"].items(), key=lambda kv: -kv[1])
            inner = [c for c, _ in callers if c in funcs and c not in seen]
            own = phase_of(inner[0], seen | {key}) if inner else "other"
        phases[key] = own
        return own

    for key in funcs:
        phase_of(key, frozenset({key}))
    return phases


def profile(prep: Prepared, config: Config) -> dict[str, Any]:
    """Run `config` once under cProfile; return our functions' profile entries."""
    clean(prep.tree)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.prof"
        cmd = [str(prep.python), "-m", "cProfile", "-o", str(out), "-m", "pytest", *config.args]
        sample = run_child(cmd, prep.tree, dict(os.environ), prep.timeout)
        if sample.status != 0:
            raise SetupError(f"{prep.suite.name}: profiled run exited {sample.status}")
        dump = [str(prep.python), "-c", DUMP_PROFILE, str(out), *OUR_DIRS]
        proc = subprocess.run(dump, capture_output=True, text=True, check=True)
    funcs: dict[str, Any] = json.loads(proc.stdout)
    funcs["__run__"] = {"cpu": sample.cpu}
    return funcs


def render_timings(prep: Prepared) -> str | None:
    """Return the plugin's own timings (see TIMINGS_ENV in the report), if it wrote them."""
    path = timings_path(prep)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    phases: dict[str, float] = data["phases"]
    tests = int(data.get("tests", 0))
    rows = [f"  phases from the plugin ({TIMINGS_ENV}), {tests} tests:"]
    for phase, seconds in phases.items():
        note = f"  ({seconds / tests * 1e6:.0f} us/test)" if phase == "per_test" and tests else ""
        rows.append(f"    {phase:<12} {seconds:7.3f}s{note}")
    return "\n".join(rows)


def render_profile(funcs: dict[str, Any], top: int = 8) -> str:
    run_cpu = funcs.pop("__run__")["cpu"]
    phases = assign_phases(funcs)
    own = dict.fromkeys(PHASE_ORDER, 0.0)
    for key, info in funcs.items():
        own[phases[key]] += info["tt"]
    rows = [
        f"  cProfile, one run: {run_cpu:.2f}s CPU (profiled; it inflates many small calls)",
        # Own time (tottime) leaves out the library code ours calls (json, ast); summing
        # cumulative times instead counted twice wherever ours calls back into ours
        # through pluggy or import hooks (it exceeded the whole run), so it is not shown.
        f"    phase, own time of our functions (of {sum(own.values()):.2f}s in all):",
    ]
    for phase in PHASE_ORDER:
        rows.append(f"    {phase:<12} {own[phase]:8.3f}s")
    rows.append(f"  our {top} functions with the most own time (tottime):")
    heavy = sorted(funcs.items(), key=lambda kv: -kv[1]["tt"])[:top]
    for key, info in heavy:
        rows.append(
            f"    {info['tt']:7.3f}s own {info['ct']:7.3f}s cum {info['calls']:>8} calls  "
            f"[{phases[key]}] {_short(key)}"
        )
    return "\n".join(rows)


def breakdown(prep: Prepared, config: Config, use_profile: bool) -> str:
    timings = render_timings(prep)
    if timings is not None:
        return timings
    head = "  phases: n/a (plugin has no timings)"
    if not use_profile:
        return head
    return head + "\n" + render_profile(profile(prep, config))


# --- main --------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(suite: Suite) -> Iterator[None]:
    # Invocations on one cache share a suite's tree (for every Python) and would
    # clean() each other's state mid-run; they take turns instead.
    folder = cache_root() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{suite.name}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def bench(suite: Suite, python: Path, args: argparse.Namespace) -> str:
    with locked(suite):
        return _bench(suite, python, args)


def _bench(suite: Suite, python: Path, args: argparse.Namespace) -> str:
    prep = prepare(suite, python, args.repo)
    prep.timeout, prep.warm = args.timeout, args.warm
    todo = configs(suite, prep.tree, args.setup or SETUPS)
    warm = measure(prep, todo, args.repeat)
    table = render(prep, todo, warm)
    ours = next((c for c in todo if c.label == "pytest --invariants"), None)
    return table if ours is None else table + "\n" + breakdown(prep, ours, not args.no_profile)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="repeatable")
    parser.add_argument(
        "--python", action="append", help="interpreter path or pyenv version; repeatable"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds after the warm-up")
    parser.add_argument("--quick", action="store_true", help="one timed round, no profile")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per pytest run")
    parser.add_argument(
        "--warm", action="store_true", help="keep each tool's state between runs (default: cold)"
    )
    parser.add_argument(
        "--setup", action="append", choices=SETUPS, help="set-ups besides plain; repeatable"
    )
    parser.add_argument("--repo", type=Path, default=HERE.parent, help="pytest-invariants")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.no_profile = 1, True
    args.repo = args.repo.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failed = []
    for spec in args.python or [sys.executable]:
        for name in args.suite or list(SUITES):
            try:
                print(bench(SUITES[name], resolve_python(spec), args), flush=True)
            except SetupError as error:
                print(f"SETUP FAILED: {name} on {spec}: {error}", file=sys.stderr, flush=True)
                failed.append(f"{name}@{spec}")
    if failed:
        print(f"failed to set up: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

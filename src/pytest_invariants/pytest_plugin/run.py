"""Start an `--invariants` run: load the invariants, register the detectors and our hooks."""

from __future__ import annotations

import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pytest_invariants.baseline import Baseline, baseline_of
from pytest_invariants.gate import PolicyError, parse_policy
from pytest_invariants.load.loading import LoadError, discover, format_problems, load_invariants
from pytest_invariants.load.scopes import search_path
from pytest_invariants.model import InvariantSet
from pytest_invariants.observe import child
from pytest_invariants.pytest_plugin.collector import RunCollector, XdistReceiver, policy_text
from pytest_invariants.pytest_plugin.observer import TestObserver
from pytest_invariants.pytest_plugin.timings import timings_from_env
from pytest_invariants.results import ResultsError, read_results

__all__ = ["DETECTOR_GROUP", "start_run"]

DETECTOR_GROUP = "pytest_invariants.detectors"


def start_run(config: pytest.Config, started: float | None = None) -> None:
    """Load and check everything, then register the observer (and the collector).

    `started` is the `time.process_time()` at which the run began, for the opt-in
    timings (`pytest_plugin/timings.py`).
    """
    started = time.process_time() if started is None else started
    # A run started by an outer run's test (a nested pytest, an xdist worker) is
    # its own run: stop observing it as a child before it picks its SIGTERM handler.
    child.stop()
    timings = timings_from_env()
    invariant_set = _load(config)
    _check_policy(config)
    _register_detectors(config)
    observer = TestObserver(config, invariant_set)
    observer.timings = timings
    config.pluginmanager.register(observer, "invariants-observer")
    if not hasattr(config, "workerinput"):  # an xdist worker only observes
        collector = RunCollector(config, invariant_set, observer)
        collector.timings = timings
        collector.baseline = _baseline(config)
        config.pluginmanager.register(collector, "invariants-collector")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistReceiver(collector), "invariants-xdist")
    if timings is not None:
        timings.add("load", started)


def _register_detectors(config: pytest.Config) -> None:
    """Register every detector module named in the `pytest_invariants.detectors` group."""
    for entry in entry_points(group=DETECTOR_GROUP):
        try:
            module = entry.load()
        except Exception as exc:  # a broken third-party detector must not stop the run
            config.issue_config_time_warning(
                pytest.PytestConfigWarning(
                    f"invariants: detector {entry.name!r} failed to load: {exc}"
                ),
                stacklevel=2,
            )
            continue
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, f"invariants-detector-{entry.name}")


def _load(config: pytest.Config) -> InvariantSet:
    """Load and validate the invariants, or stop the run with every problem located."""
    rootdir = config.rootpath
    explicit = config.getoption("invariants") or None
    try:
        paths = discover(rootdir, explicit, config.getini("invariants_file") or None)
    except LoadError as exc:
        raise pytest.UsageError(format_problems(exc.problems)) from None
    if not paths:
        raise pytest.UsageError(
            f"--invariants: no invariants file found under {rootdir} -- create invariants.yaml or "
            "an invariants/ folder, or name one with --invariants=PATH"
        )
    invariant_set, problems = load_invariants(
        paths, rootdir, search_path(rootdir, config.getini("pythonpath"))
    )
    if invariant_set is None or problems:
        raise pytest.UsageError(format_problems(problems))
    return invariant_set


def _check_policy(config: pytest.Config) -> None:
    text = policy_text(config)
    if text is not None:
        try:
            parse_policy(text)
        except PolicyError as exc:
            raise pytest.UsageError(f"--invariants-gate: {exc}") from None


def _baseline(config: pytest.Config) -> Baseline | None:
    """Read the baseline results at start-up, so a wrong path stops the run before the tests."""
    option = config.getoption("invariants_baseline")
    ini = config.getini("invariants_baseline")
    if option:
        path, name = Path(config.invocation_params.dir, option), "--invariants-baseline"
    elif ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        path, name = base / str(ini), "invariants_baseline"
    else:
        return None
    try:
        return baseline_of(read_results(path))
    except ResultsError as exc:
        raise pytest.UsageError(
            f"{name}: {exc} (the baseline is the results file of an earlier run, e.g. main's "
            ".invariants/results.json kept as a CI artifact)"
        ) from None

"""pytest hooks: options, loading, per-test evidence, verdicts and reports.

Without `--invariants` the module only registers its options and the marker;
the classes below are registered only for an `--invariants` run, so a normal
run pays nothing. Everything real happens in the modules this one calls.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from typing import Any

import pytest

from pytest_invariants.gate import PolicyError, parse_policy
from pytest_invariants.model import InvariantSet, Problem
from pytest_invariants.pytest_plugin.claims import MARKER, MARKER_HELP, ItemClaims, claims_of
from pytest_invariants.pytest_plugin.collector import RunCollector, XdistReceiver

__all__: list[str] = []

_CLAIMS = pytest.StashKey[ItemClaims]()
DETECTOR_GROUP = "pytest_invariants.detectors"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("invariants", "pytest-invariants: which invariants the suite proves")
    group.addoption(
        "--invariants",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="link tests to invariants and report how each is verified; "
        "--invariants=PATH names the invariants file or folder (default: discovered)",
    )
    group.addoption("--invariants-json", metavar="PATH", help="also write the results JSON here")
    group.addoption("--invariants-html", metavar="PATH", help="write the HTML verification report")
    group.addoption("--invariants-md", metavar="PATH", help="write the Markdown report")
    group.addoption("--invariants-sarif", metavar="PATH", help="write a SARIF 2.1.0 report")
    group.addoption(
        "--invariants-gate",
        metavar="POLICY",
        help="fail the run on these statuses, e.g. 'critical:mock-only,unverified;high:unverified'"
        " (overrides the file's gate: section per severity)",
    )
    group.addoption(
        "--invariants-prove",
        action="store_true",
        default=False,
        help="prove verified invariants by targeted mutation after the tests",
    )
    parser.addini("invariants_file", "path of the invariants file or folder", default=None)
    parser.addini("invariants_gate", "gate policy, same syntax as --invariants-gate", default=None)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_invariants import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: Any, args: list[str]
) -> None:
    # `--invariants` takes a value only as `--invariants=PATH`: in `pytest --invariants tests/`
    # the user means a test path, so a bare flag is rewritten before argparse sees it.
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--invariants":
            args[index] = "--invariants="


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}{MARKER_HELP[len(MARKER) :]}")
    if config.getoption("invariants") is None:
        if config.getoption("invariants_prove"):
            raise pytest.UsageError("--invariants-prove needs --invariants (it proves its results)")
        return
    invariant_set = _load(config)
    if config.getoption("invariants_gate") or config.getini("invariants_gate"):
        _check_policy(config)
    _register_detectors(config)
    is_worker = hasattr(config, "workerinput")
    config.pluginmanager.register(TestObserver(config, invariant_set), "invariants-observer")
    if not is_worker:
        collector = RunCollector(config, invariant_set)
        config.pluginmanager.register(collector, "invariants-collector")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistReceiver(collector), "invariants-xdist")


def _register_detectors(config: pytest.Config) -> None:
    """Register every detector module named in the `pytest_invariants.detectors` group."""
    from importlib.metadata import entry_points

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


def _search_path(config: pytest.Config) -> list[str]:
    extra = [str(p) for p in config.getini("pythonpath")]
    return list(dict.fromkeys([*extra, *sys.path, str(config.rootpath)]))


def _load(config: pytest.Config) -> InvariantSet:
    """Load and validate the invariants, or stop the run with every problem located."""
    from pytest_invariants.load.loading import LoadError, discover, format_problems, load_invariants

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
    invariant_set, problems = load_invariants(paths, rootdir, _search_path(config))
    if invariant_set is None or problems:
        raise pytest.UsageError(format_problems(problems))
    return invariant_set


def _check_policy(config: pytest.Config) -> None:
    for text in (config.getoption("invariants_gate"), config.getini("invariants_gate")):
        if text:
            try:
                parse_policy(str(text))
            except PolicyError as exc:
                raise pytest.UsageError(str(exc)) from None


def item_claims(item: pytest.Item) -> ItemClaims | None:
    """Return the claims computed for `item` at collection, if any."""
    return item.stash.get(_CLAIMS, None)


class TestObserver:
    """Hooks that run where tests run: claims at collection, evidence per test."""

    __test__ = False

    def __init__(self, config: pytest.Config, invariant_set: InvariantSet) -> None:
        from pytest_invariants.observe.gatherer import EvidenceGatherer

        self._config = config
        self._set = invariant_set
        self._gatherer = EvidenceGatherer(invariant_set, config.rootpath)

        self.detectors: list[str] = []
        self._deselected: dict[str, list[list[str]]] = {}

    @property
    def recorder_name(self) -> str:
        return self._gatherer.recorder_name

    def pytest_sessionstart(self) -> None:
        self._gatherer.install()
        names = self._config.hook.pytest_invariants_install_detector(
            config=self._config, reporter=self._gatherer.reporter
        )
        self.detectors = sorted(name for name in names if name)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # tryfirst: claims must be known for every item before -k/-m deselect some.
        unknown: list[Problem] = []
        for item in items:
            claims = claims_of(item, self._set.invariants, self._config.rootpath)
            item.stash[_CLAIMS] = claims
            unknown.extend(claims.unknown)
            for iid in claims.ids:
                item.user_properties.append(("invariant", iid))
        if unknown:
            from pytest_invariants.load.loading import format_problems

            raise pytest.UsageError(format_problems(unknown))

    def pytest_collection_finish(self) -> None:
        self._gatherer.start_tracing()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        self._gatherer.begin_test(item.nodeid)
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "setup" and item.stash.get(_CLAIMS, None):
            # Sent ahead of the evidence: if an xdist worker dies during the call,
            # the controller still knows which invariants the crashed test claimed.
            claims = item.stash[_CLAIMS]
            report.invariants_claims = [list(claims.ids), list(claims.by_glob)]  # type: ignore[attr-defined]
        if call.when == "teardown":
            claims = item.stash.get(_CLAIMS, ItemClaims((), (), ()))
            # An attribute on the report survives xdist's serialisation to the controller.
            report.invariants_evidence = self._gatherer.end_test(  # type: ignore[attr-defined]
                item.nodeid, claims.ids, claims.by_glob
            )
        return report

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        # An xdist controller collects nothing: its workers tell it what -k/-m deselected.
        for item in items:
            claims = item.stash.get(_CLAIMS, None)
            if claims and claims.ids:
                self._deselected[item.nodeid] = [list(claims.ids), list(claims.by_glob)]

    def pytest_sessionfinish(self) -> None:
        output = getattr(self._config, "workeroutput", None)
        if output is not None:  # an xdist worker: hand what the controller cannot see over
            output["invariants_deselected"] = self._deselected
            output["invariants_recorder"] = self.recorder_name

    def pytest_unconfigure(self) -> None:
        self._config.hook.pytest_invariants_uninstall_detector(config=self._config)
        self._gatherer.uninstall()

"""Hooks that run where tests run: claims at collection, evidence around each test.

Registered in the only process of a serial run and in every xdist worker (and,
idle, in the xdist controller). On a worker the evidence of each test travels as
a plain dict on its teardown report, which xdist serialises to the controller;
where the collector runs in the same process it gets the value itself (`sink`).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Generator, Sequence

import pytest

from pytest_invariants.load.loading import format_problems
from pytest_invariants.model import InvariantSet, Problem, TestEvidence
from pytest_invariants.observe.gatherer import EvidenceGatherer
from pytest_invariants.pytest_plugin.claims import CLAIMS, ClaimMatcher, ItemClaims, claims_of
from pytest_invariants.pytest_plugin.timings import Timings
from pytest_invariants.results import evidence_to_dict

__all__ = ["TestObserver", "stopped_by_maxfail"]


def stopped_by_maxfail(exc: BaseException) -> bool:
    """Return True for the `Interrupted` xdist raises when -x/--maxfail stops the run.

    A serial run stopped by -x ends normally; xdist ends it with this exception
    (exit 2). It is a narrowed run, not an interrupted one.
    """
    return type(exc).__name__ == "Interrupted" and str(exc).startswith("stopping after")


_NO_CLAIMS = ItemClaims((), (), ())


class TestObserver:
    """Hooks that run where tests run: claims at collection, evidence per test."""

    __test__ = False

    def __init__(self, config: pytest.Config, invariant_set: InvariantSet) -> None:
        self._config = config
        self._set = invariant_set
        self._gatherer = EvidenceGatherer(
            invariant_set,
            config.rootpath,
            testpaths=[str(p) for p in config.getini("testpaths")],
            python_files=[str(p) for p in config.getini("python_files")],
            children=not config.getoption("invariants_no_subprocess", False),
        )

        self.detectors: list[str] = []
        # Set by a collector in this process: evidence then skips the report (and
        # the dict round trip a serial run does not need).
        self.sink: Callable[[TestEvidence], None] | None = None
        self.timings: Timings | None = None
        # (id, glob) of the `tests:` globs no collected test matched; None before collection.
        self.unmatched_globs: list[tuple[str, str]] | None = None
        self._deselected: dict[str, list[list[str]]] = {}
        # Every collected test that claims something (before -k/-m deselect), and
        # every collected file: what a narrowed run knows of the whole suite.
        self.collected_claims: dict[str, list[list[str]]] = {}
        self.collected_files: set[str] = set()
        self.deselected_count = 0
        self.usage_error: str | None = None
        self.interrupted = False

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
        started = time.process_time()
        unknown: list[Problem] = []
        matcher = ClaimMatcher(self._set.invariants)
        for item in items:
            claims = claims_of(item, matcher, self._config.rootpath)
            item.stash[CLAIMS] = claims
            unknown.extend(claims.unknown)
            self.collected_files.add(item.nodeid.split("::", 1)[0])
            if claims.ids:
                self.collected_claims[item.nodeid] = [list(claims.ids), list(claims.by_glob)]
            for iid in claims.ids:
                item.user_properties.append(("invariant", iid))
        self.unmatched_globs = self._unmatched(matcher, [item.nodeid for item in items])
        if self.timings is not None:
            self.timings.add("claims", started)
        if unknown:
            # The mistake is in the tests' markers, not in the invariants files.
            self._usage_error(format_problems(unknown, "the tests' invariant markers"))

    def _usage_error(self, message: str) -> None:
        output = getattr(self._config, "workeroutput", None)
        if output is None:
            raise pytest.UsageError(message)
        # An xdist worker's UsageError reaches its controller as an INTERNALERROR
        # (exit 3) without the message: hand the message over and stop the worker;
        # the controller raises it as the same UsageError a serial run gives.
        self.usage_error = message
        pytest.exit("invariants: usage error (the controller reports it)", returncode=4)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # Ctrl-C, SIGTERM (see collector.py) and pytest.exit() all end here.
        self.interrupted = self.interrupted or not stopped_by_maxfail(excinfo.value)

    def _unmatched(self, matcher: ClaimMatcher, nodeids: Sequence[str]) -> list[tuple[str, str]]:
        # Only the few items some glob matches are tried glob by glob.
        hits: dict[str, list[str]] = {}
        for nodeid in nodeids:
            for iid in matcher.glob_ids(nodeid):
                hits.setdefault(iid, []).append(nodeid)
        return [
            (inv.id, glob)
            for inv in self._set.invariants
            for glob in inv.tests
            if not any(fnmatch.fnmatchcase(nodeid, glob) for nodeid in hits.get(inv.id, ()))
        ]

    def pytest_collection_finish(self) -> None:
        started = time.process_time()
        self._gatherer.start_tracing()
        if self.timings is not None:
            self.timings.add("instrument", started)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        timings = self.timings
        started = time.process_time() if timings is not None else 0.0
        line = item.location[1]
        self._gatherer.begin_test(item.nodeid, line + 1 if line is not None else None)
        if timings is not None:
            timings.tests += 1
            timings.add("per_test", started)
        result = yield
        claims = item.stash.get(CLAIMS, _NO_CLAIMS).ids
        if claims:  # every fixture is set up: a fake it bound by assignment is in place
            self._gatherer.check_assignments(claims, "when its setup ended")
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "setup" and item.stash.get(CLAIMS, None):
            # Sent ahead of the evidence: if an xdist worker dies during the call,
            # the controller still knows which invariants the crashed test claimed.
            claims = item.stash[CLAIMS]
            report.invariants_claims = [list(claims.ids), list(claims.by_glob)]  # type: ignore[attr-defined]
        if call.when == "call":
            claimed = item.stash.get(CLAIMS, _NO_CLAIMS).ids
            if claimed:  # before teardown undoes what the test or its fixtures bound
                self._gatherer.check_assignments(claimed, "when its call ended")
        elif call.when == "teardown":
            timings = self.timings
            started = time.process_time() if timings is not None else 0.0
            claims = item.stash.get(CLAIMS, _NO_CLAIMS)
            evidence = self._gatherer.end_test(item.nodeid, claims.ids, claims.by_glob)
            if self.sink is not None:
                self.sink(evidence)
            else:
                # An attribute on the report survives xdist's serialisation to the controller.
                report.invariants_evidence = evidence_to_dict(evidence)  # type: ignore[attr-defined]
            if timings is not None:
                timings.add("per_test", started)
        return report

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        # An xdist controller collects nothing: its workers tell it what -k/-m deselected.
        self.deselected_count += len(items)
        for item in items:
            claims = item.stash.get(CLAIMS, None)
            if claims and claims.ids:
                self._deselected[item.nodeid] = [list(claims.ids), list(claims.by_glob)]

    def pytest_sessionfinish(self) -> None:
        output = getattr(self._config, "workeroutput", None)
        if output is not None:  # an xdist worker: hand what the controller cannot see over
            output["invariants_deselected"] = self._deselected
            output["invariants_deselected_count"] = self.deselected_count
            output["invariants_recorder"] = self.recorder_name
            output["invariants_unmatched"] = [list(pair) for pair in self.unmatched_globs or ()]
            output["invariants_claims"] = self.collected_claims
            output["invariants_files"] = sorted(self.collected_files)
            output["invariants_usage_error"] = self.usage_error
            output["invariants_interrupted"] = self.interrupted

    def pytest_unconfigure(self) -> None:
        self._config.hook.pytest_invariants_uninstall_detector(config=self._config)
        self._gatherer.uninstall()

"""Hooks that run where tests run: claims at collection, evidence around each test.

Registered in the only process of a serial run and in every xdist worker (and,
idle, in the xdist controller). The evidence of each test travels as a plain
dict on its teardown report, which xdist serialises to the controller.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_invariants.load.loading import format_problems
from pytest_invariants.model import InvariantSet, Problem
from pytest_invariants.observe.gatherer import EvidenceGatherer
from pytest_invariants.pytest_plugin.claims import CLAIMS, ItemClaims, claims_of

__all__ = ["TestObserver"]


class TestObserver:
    """Hooks that run where tests run: claims at collection, evidence per test."""

    __test__ = False

    def __init__(self, config: pytest.Config, invariant_set: InvariantSet) -> None:
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
            item.stash[CLAIMS] = claims
            unknown.extend(claims.unknown)
            for iid in claims.ids:
                item.user_properties.append(("invariant", iid))
        if unknown:
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
        if call.when == "setup" and item.stash.get(CLAIMS, None):
            # Sent ahead of the evidence: if an xdist worker dies during the call,
            # the controller still knows which invariants the crashed test claimed.
            claims = item.stash[CLAIMS]
            report.invariants_claims = [list(claims.ids), list(claims.by_glob)]  # type: ignore[attr-defined]
        if call.when == "teardown":
            claims = item.stash.get(CLAIMS, ItemClaims((), (), ()))
            # An attribute on the report survives xdist's serialisation to the controller.
            report.invariants_evidence = self._gatherer.end_test(  # type: ignore[attr-defined]
                item.nodeid, claims.ids, claims.by_glob
            )
        return report

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        # An xdist controller collects nothing: its workers tell it what -k/-m deselected.
        for item in items:
            claims = item.stash.get(CLAIMS, None)
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

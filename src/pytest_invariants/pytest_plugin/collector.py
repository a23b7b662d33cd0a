"""The receiving side of a run: outcomes and evidence in, verdicts, files and gate out.

Runs in the process that writes results: the only process of a serial run, the
controller of an xdist run. It never observes tests itself; it reads the
reports that pytest (or xdist) hands it, so both kinds of run give the same data.
"""

from __future__ import annotations

import os
import platform
import signal
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants import __version__
from pytest_invariants.baseline import Baseline, Ratchet, ratchet
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.gate import (
    Violation,
    evaluate,
    merge_policies,
    not_judged,
    parse_policy,
)
from pytest_invariants.model import (
    InvariantSet,
    Location,
    Outcome,
    RunInfo,
    RunResults,
    TestEvidence,
)
from pytest_invariants.observe.forksafe import guard_forks
from pytest_invariants.pytest_plugin.claims import item_claims
from pytest_invariants.pytest_plugin.narrowing import deselection_reason, narrowing_of
from pytest_invariants.pytest_plugin.observer import TestObserver, stopped_by_maxfail
from pytest_invariants.pytest_plugin.options import out_path, prove_on
from pytest_invariants.pytest_plugin.summary import RunSummary, print_run_summary
from pytest_invariants.pytest_plugin.timings import Timings
from pytest_invariants.reports.files import write_reports
from pytest_invariants.results import (
    DEFAULT_PATH,
    WriteError,
    evidence_from_dict,
    read_claim_index,
    write_results,
)
from pytest_invariants.review.fingerprint import disk_reader, suspect_ids
from pytest_invariants.status import classify

__all__ = ["RunCollector", "XdistReceiver", "policy_text"]


def policy_text(config: pytest.Config) -> str | None:
    """Return the gate policy given to this run: the option (even empty), else the ini."""
    option = config.getoption("invariants_gate")
    if option is not None:
        return str(option)  # `--invariants-gate=` with an empty CI variable is an error
    ini = config.getini("invariants_gate")
    return str(ini) if ini else None


def _skip_reason(report: pytest.TestReport) -> str:
    """Return the reason a test skipped or xfailed, as the user wrote it."""
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return str(wasxfail).removeprefix("reason: ") or "xfail"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


_SEVERITY = {
    Outcome.CRASHED: 6,
    Outcome.ERROR: 5,
    Outcome.FAILED: 4,
    Outcome.XPASSED: 3,
    Outcome.XFAILED: 2,
    Outcome.SKIPPED: 1,
    Outcome.PASSED: 0,
}


def _phase_outcome(report: pytest.TestReport) -> Outcome:
    xfail = hasattr(report, "wasxfail")
    if str(report.when) == "???":
        return Outcome.CRASHED  # xdist's report for a test whose worker died
    if report.passed:
        return Outcome.XPASSED if xfail and report.when == "call" else Outcome.PASSED
    if report.skipped:
        return Outcome.XFAILED if xfail else Outcome.SKIPPED
    return Outcome.FAILED if report.when == "call" else Outcome.ERROR


def _settled(ev: TestEvidence, outcome: Outcome, location: Location, reason: str) -> TestEvidence:
    """Return `ev` with the outcome and location the reports gave (cheaper than replace())."""
    return TestEvidence(
        nodeid=ev.nodeid,
        outcome=outcome,
        claims=ev.claims,
        glob_claims=ev.glob_claims,
        executed=ev.executed,
        doubles=ev.doubles,
        mock_calls=ev.mock_calls,
        duration=ev.duration,
        location=location,
        observation_warnings=ev.observation_warnings,
        reason=reason,
    )


_SKIPPED = (Outcome.SKIPPED, Outcome.XFAILED)
_COLLECT_ONLY = "--collect-only ran no test"


class _Interrupt:
    """SIGTERM as an interruption, in the process that installed it only."""

    def __init__(self) -> None:
        self.pid = os.getpid()

    def __call__(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:
            # A process forked by a test (a multiprocessing worker) inherits this
            # handler; there SIGTERM must kill as it does without us, or a pool's
            # terminate() waits forever on a worker that swallowed the exception.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunCollector:
    """Collect outcomes and evidence; classify, write, gate and print at the end."""

    def __init__(
        self, config: pytest.Config, invariant_set: InvariantSet, observer: TestObserver
    ) -> None:
        self._config = config
        self._set = invariant_set
        self._observer = observer
        self._outcomes: dict[str, Outcome] = {}
        # TestEvidence from the observer in this process, dicts from xdist workers.
        self._evidence: dict[str, TestEvidence | dict[str, Any]] = {}
        self._locations: dict[str, Location] = {}
        self._order: list[str] = []
        self._deselected: dict[str, TestEvidence] = {}
        self._claims: dict[str, list[list[str]]] = {}  # sent ahead of the evidence
        self._reasons: dict[str, str] = {}  # skip/xfail reasons
        self._selected: dict[str, None] = {}  # node ids left to run after deselection
        self.collected_claims: dict[str, list[list[str]]] = {}  # from xdist workers
        self.collected_files: set[str] = set()  # from xdist workers
        self.deselected_count = 0
        self.collection_errors = 0
        self.interrupted = False
        self.stopped = ""  # xdist's "stopping after N failures"
        self._collection_narrowed = False
        self._previous_sigterm: Any = None
        self.worker_recorder = ""  # the line recorder the xdist workers used
        self.worker_unmatched: set[tuple[str, str]] | None = None  # globs no worker matched
        self._started = _now()
        self.results: RunResults | None = None
        self.violations: list[Violation] | None = None
        self.baseline: Baseline | None = None  # set by run.start_run from --invariants-baseline
        self.ratchet: Ratchet | None = None
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.not_judged: list[str] = []
        self.written: list[Path] = []
        self.timings: Timings | None = None
        observer.sink = self.add_evidence
        self.exitstatus = 0  # the run's status once ours is applied, for the summary

    # -- gathering ------------------------------------------------------------

    def pytest_sessionstart(self) -> None:
        # pytest leaves SIGTERM at its default, which kills the run without a word;
        # as an interruption it gets the same "incomplete, previous results kept" path.
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _Interrupt())
            guard_forks()

    def pytest_unconfigure(self) -> None:
        if self.timings is not None:
            self.timings.write()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1  # also the reports xdist forwards from its workers

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._selected.update(dict.fromkeys(item.nodeid for item in session.items))

    def add_selected(self, ids: Sequence[str]) -> None:
        """Record the tests an xdist worker collected to run."""
        self._selected.update(dict.fromkeys(ids))

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected_count += len(items)
        for item in items:
            claims = item_claims(item)
            if claims and claims.ids:
                self.add_deselected(item.nodeid, claims.ids, claims.by_glob)

    def add_deselected(self, nodeid: str, ids: Sequence[str], by_glob: Sequence[str]) -> None:
        """Record a deselected test that claims invariants (so they are partial)."""
        self._deselected[nodeid] = TestEvidence(
            nodeid=nodeid,
            outcome=Outcome.DESELECTED,
            claims=tuple(ids),
            glob_claims=tuple(by_glob),
        )

    def add_evidence(self, evidence: TestEvidence) -> None:
        """Take one test's evidence from the observer of this process."""
        self._evidence[evidence.nodeid] = evidence

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        if nodeid not in self._outcomes:
            self._order.append(nodeid)
            self._outcomes[nodeid] = Outcome.PASSED
            path, line, _ = report.location
            self._locations[nodeid] = Location(path, (line or 0) + 1)
        outcome = _phase_outcome(report)
        if _SEVERITY[outcome] > _SEVERITY[self._outcomes[nodeid]]:
            self._outcomes[nodeid] = outcome
        if outcome in (Outcome.SKIPPED, Outcome.XFAILED):
            self._reasons.setdefault(nodeid, _skip_reason(report))
        claims = getattr(report, "invariants_claims", None)
        if isinstance(claims, list):
            self._claims[nodeid] = claims
        evidence = getattr(report, "invariants_evidence", None)
        if isinstance(evidence, dict):
            self._evidence[nodeid] = evidence

    def _tests(self) -> list[TestEvidence]:
        tests: list[TestEvidence] = []
        for nodeid in self._order:
            # No evidence means the test never reached teardown (its xdist worker
            # crashed): keep its claims, so the invariants see a crashed claim.
            data = self._evidence.get(nodeid)
            if data is None:
                ids, by_glob = self._claims.get(nodeid, [[], []])
                data = TestEvidence(nodeid, Outcome.PASSED, tuple(ids), tuple(by_glob))
            ev = data if isinstance(data, TestEvidence) else evidence_from_dict(data)
            outcome = self._outcomes[nodeid]
            reason = self._reasons.get(nodeid, "") if outcome in _SKIPPED else ""
            tests.append(_settled(ev, outcome, self._locations[nodeid], reason))
        tests.extend(ev for nodeid, ev in self._deselected.items() if nodeid not in self._outcomes)
        return tests

    def _claims_of_collected(self) -> dict[str, list[list[str]]]:
        return {**self.collected_claims, **self._observer.collected_claims}

    def _not_reached(self) -> list[str]:
        """Return the selected tests that never ran: -x/--maxfail stopped the run early."""
        return [nodeid for nodeid in self._selected if nodeid not in self._outcomes]

    def _outside(self, index: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
        """Return the index's claiming tests in files this run did not collect."""
        files = self.collected_files | self._observer.collected_files
        known = {inv.id for inv in self._set.invariants}
        root = self._config.rootpath
        found = {}
        for nodeid, ids in index.items():
            path = nodeid.split("::", 1)[0]
            if path in files or not (root / path).exists():
                continue  # collected here (so not in this run means gone), or deleted
            claimed = [iid for iid in ids if iid in known]
            if claimed:
                found[nodeid] = claimed
        return found

    def _narrow(
        self, session: pytest.Session
    ) -> tuple[tuple[str, ...], bool, dict[str, tuple[str, ...]] | None]:
        """Mark what this run did not reach; return the reasons, claims_known, the old index.

        The claim index is written by whole runs only: a narrowed one carries the
        previous index over (None: this is a whole run, it makes a new one).
        """
        narrowing = narrowing_of(self._config)
        self._collection_narrowed = narrowing.collection
        reasons = list(narrowing.reasons)
        deselected = deselection_reason(self._config, self.deselected_count, reasons)
        if deselected:
            reasons.append(deselected)
        claims = self._claims_of_collected()
        not_reached = self._not_reached()
        if not_reached:
            why = session.shouldfail or session.shouldstop or self.stopped
            detail = f" ({why})" if isinstance(why, str) and why else ""
            reasons.append(
                f"stopped early{detail}: {len(not_reached)} selected test(s) did not run"
            )
            for nodeid in not_reached:
                if nodeid in claims:
                    self.add_deselected(nodeid, *claims[nodeid])
        if not reasons:
            return (), True, None
        previous = read_claim_index(self._config.rootpath / DEFAULT_PATH)
        for nodeid, ids in self._outside(previous).items():
            if nodeid not in self._outcomes and nodeid not in self._deselected:
                self.add_deselected(nodeid, ids, ())
        return tuple(reasons), not narrowing.collection or bool(previous), dict(previous)

    # -- verdicts ---------------------------------------------------------------

    def _suspects(self) -> set[str]:
        return suspect_ids(self._set, disk_reader(self._config.rootpath))

    def _policy_violations(self, results: RunResults) -> list[Violation] | None:
        override_text = policy_text(self._config)
        override = parse_policy(override_text) if override_text is not None else None
        policy = merge_policies(self._set.gate, override)
        if policy.is_empty():
            return None
        self.not_judged = not_judged(results.invariants, policy)
        violations = evaluate(results.invariants, policy)
        if self.baseline is None:
            return violations
        statuses = {r.invariant.id: r.status.value for r in results.invariants}
        self.ratchet = ratchet(violations, statuses, self.baseline, self._set.fingerprint)
        return list(self.ratchet.new)

    @staticmethod
    def _observation_warnings(tests: list[TestEvidence]) -> tuple[str, ...]:
        """Return each distinct observation problem once, with the first test that hit it."""
        first: dict[str, str] = {}
        for ev in tests:
            for warning in ev.observation_warnings:
                first.setdefault(warning, ev.nodeid)
        return tuple(f"{nodeid}: {warning}" for warning, nodeid in first.items())

    def _glob_warnings(self) -> tuple[str, ...]:
        """Say which `tests:` globs matched no collected test: a typo claims nothing, silently."""
        unmatched = self._observer.unmatched_globs
        pairs = self.worker_unmatched if unmatched is None else set(unmatched)
        return tuple(
            f"{iid}: its `tests:` glob {glob!r} matched no collected test in this run -- compare "
            "it with the node ids of `pytest --collect-only -q`"
            for iid, glob in sorted(pairs or ())
        )

    def _info(
        self,
        complete: bool,
        reasons: tuple[str, ...],
        claims_known: bool,
        warnings: tuple[str, ...] = (),
    ) -> RunInfo:
        return RunInfo(
            rootdir=str(self._config.rootpath),
            tool_version=__version__,
            python=platform.python_version(),
            recorder=self._observer.recorder_name or self.worker_recorder,
            started=self._started,
            finished=_now(),
            complete=complete,
            partial=bool(reasons),
            partial_reasons=reasons,
            claims_known=claims_known,
            args=tuple(str(a) for a in self._config.invocation_params.args),
            warnings=warnings,
        )

    def build(self, session: pytest.Session) -> RunResults:
        reasons, claims_known, previous = self._narrow(session)
        tests = self._tests()
        index = (
            previous
            if previous is not None
            else {ev.nodeid: ev.claims for ev in tests if ev.claims}
        )
        verdicts = classify(
            self._set, tests, suspect=self._suspects(), claims_unknown=not claims_known
        )
        # A run that did not collect everything cannot tell a typo from a glob naming
        # tests it did not collect: only a run that collected everything warns.
        globs = () if self._collection_narrowed else self._glob_warnings()
        warnings = globs + self._observation_warnings(tests)
        info = self._info(True, reasons, claims_known, warnings)
        return RunResults(self._set, verdicts, tuple(tests), info, index)

    # -- output -----------------------------------------------------------------

    def _write(self, results: RunResults) -> None:
        targets = [self._config.rootpath / DEFAULT_PATH]
        extra = out_path(self._config, "invariants_json")
        if extra is not None:
            targets.append(extra)
        for target in targets:
            try:
                write_results(results, target)
                self.written.append(target)
            except WriteError as exc:
                self.errors.append(
                    f"{exc} -- make the folder writable or name another file with --invariants-json"
                )
        self._write_reports(results)

    def _write_reports(self, results: RunResults) -> None:
        paths = {
            fmt: out_path(self._config, f"invariants_{fmt}") for fmt in ("html", "md", "sarif")
        }
        written, errors = write_reports(results, self.violations, paths)
        self.written.extend(written)
        self.errors.extend(errors)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # Ctrl-C, SIGTERM and pytest.exit(), whatever its exit status; not xdist's -x.
        if stopped_by_maxfail(excinfo.value):
            self.stopped = str(excinfo.value)
        else:
            self.interrupted = True

    def _incomplete(self, exitstatus: int) -> str | None:
        """Return why this session is incomplete (nothing is written), or None."""
        if exitstatus in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
            return "" if exitstatus == pytest.ExitCode.USAGE_ERROR else "an internal error"
        if self._config.getoption("collectonly", False):
            return _COLLECT_ONLY
        if self.collection_errors:
            return f"{self.collection_errors} error(s) during collection"
        if self.interrupted or self._observer.interrupted:
            return "the run was interrupted"
        if exitstatus == pytest.ExitCode.INTERRUPTED and not self.stopped:
            return "the run was interrupted"
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        why = self._incomplete(exitstatus)
        if why is not None:
            text = (
                f"{why}: results are incomplete and were not written "
                f"(the previous {DEFAULT_PATH} is left as it was)"
            )
            if why == _COLLECT_ONLY:
                self.notes.append(text)
            elif why:  # empty for a usage error: pytest itself has said what it is
                self.errors.append(text)
            return
        started = time.process_time()
        self.results = self.build(session)
        if prove_on(self._config):
            # Imported only when asked for: the mutation engine is a large import.
            from pytest_invariants.pytest_plugin.prove import prove_in_session

            self.results = prove_in_session(self._config, self.results)
        self.violations = self._policy_violations(self.results)
        self._time("classify", started)
        started = time.process_time()
        self._write(self.results)
        self._time("write", started)
        if self.errors and session.exitstatus in (0, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = int(ExitCode.RESULTS_UNWRITABLE)
        if self.violations and session.exitstatus == 0:
            session.exitstatus = int(ExitCode.GATE_FAILED)
        self.exitstatus = int(session.exitstatus)

    def _time(self, phase: str, started: float) -> None:
        if self.timings is not None:
            self.timings.add(phase, started)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        started = time.process_time()
        summary = RunSummary(
            results=self.results,
            violations=self.violations,
            errors=tuple(self.errors),
            notes=tuple(self.notes),
            not_judged=tuple(self.not_judged),
            written=tuple(self.written),
            recorder=self._observer.recorder_name or self.worker_recorder,
            detectors=tuple(self._observer.detectors),
            proved=prove_on(self._config),
            ratchet=self.ratchet,
            exitstatus=self.exitstatus,
        )
        print_run_summary(summary, terminalreporter)
        self._time("report", started)


class XdistReceiver:
    """Take what xdist workers hand over at their end; registered only when xdist is present."""

    def __init__(self, collector: RunCollector) -> None:
        self._collector = collector

    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        self._collector.add_selected(ids)

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        usage_error = output.get("invariants_usage_error")
        if usage_error:
            # The same located message and exit status (4) as a serial run.
            raise pytest.UsageError(str(usage_error))
        collector = self._collector
        collector.interrupted = collector.interrupted or bool(output.get("invariants_interrupted"))
        collector.collected_claims.update(output.get("invariants_claims", {}))
        collector.collected_files.update(output.get("invariants_files", ()))
        deselected = output.get("invariants_deselected", {})
        collector.deselected_count = max(
            collector.deselected_count, int(output.get("invariants_deselected_count", 0))
        )
        for nodeid, (ids, by_glob) in deselected.items():
            self._collector.add_deselected(nodeid, ids, by_glob)
        self._collector.worker_recorder = output.get("invariants_recorder", "") or (
            self._collector.worker_recorder
        )
        # Unmatched in the whole run means unmatched by every worker's collection.
        found = {(iid, glob) for iid, glob in output.get("invariants_unmatched", ())}
        known = self._collector.worker_unmatched
        self._collector.worker_unmatched = found if known is None else known & found

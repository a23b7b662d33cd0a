"""The `invariants` section of pytest's terminal summary, from plain values.

What to say is decided here from a `RunSummary`; how each verdict looks is the
terminal report's business (`reports.terminal`). We write through pytest's own
terminal reporter, so capture, `-q` and colour settings stay pytest's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_invariants.baseline import Ratchet
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.gate import Violation
from pytest_invariants.model import RunResults
from pytest_invariants.reports.proof import survivor_lines
from pytest_invariants.reports.terminal import make_console, render
from pytest_invariants.text import printable

__all__ = ["RunSummary", "gate_line", "print_run_summary"]


@dataclass(frozen=True)
class RunSummary:
    """What the end of a run has to say; None results mean nothing was classified."""

    results: RunResults | None
    violations: Sequence[Violation] | None
    errors: tuple[str, ...]
    notes: tuple[str, ...]
    not_judged: tuple[str, ...]  # partial invariants the gate would have failed on
    written: tuple[Path, ...]
    recorder: str
    detectors: tuple[str, ...]
    proved: bool
    ratchet: Ratchet | None = None  # the baseline's verdict, with --invariants-baseline
    exitstatus: int = 0  # the run's final status, after ours was applied


# Why pytest's own status stays when the gate failed too (ours never replaces a worse one).
_KEPT_BECAUSE = {
    int(pytest.ExitCode.TESTS_FAILED): "tests failed",
    int(pytest.ExitCode.INTERRUPTED): "the run was interrupted",
    int(pytest.ExitCode.INTERNAL_ERROR): "pytest hit an internal error",
    int(pytest.ExitCode.USAGE_ERROR): "of a usage error",
    int(pytest.ExitCode.NO_TESTS_COLLECTED): "no tests were collected",
    int(ExitCode.RESULTS_UNWRITABLE): "the results could not be written",
}


def gate_line(exitstatus: int) -> str:
    """Return the last word on a failed gate, true to the status the process exits with."""
    if exitstatus == ExitCode.GATE_FAILED:
        return f"invariants gate failed: exit status {int(ExitCode.GATE_FAILED)}"
    why = _KEPT_BECAUSE.get(exitstatus, "pytest set it")
    return f"invariants gate failed too; the exit status stays {exitstatus} because {why}"


class _ReporterFile:
    """A file-like view of the terminal reporter, for rich to write into."""

    def __init__(self, reporter: pytest.TerminalReporter) -> None:
        self._reporter = reporter

    def write(self, text: str) -> int:
        self._reporter.write(text)
        return len(text)

    def flush(self) -> None:
        self._reporter.flush()


def _partial_lines(summary: RunSummary, reporter: pytest.TerminalReporter, verbosity: int) -> None:
    """Say that the run was narrowed and why; at -v, name the claimants that skipped."""
    results = summary.results
    assert results is not None
    if results.info.partial:
        why = printable("; ".join(results.info.partial_reasons))
        count = sum(1 for res in results.invariants if res.partial)
        reporter.write_line(
            f"invariants: partial run ({why}): {count} invariant(s) partial, "
            "judged only for failing",
            yellow=True,
        )
    if summary.not_judged:
        shown = ", ".join(summary.not_judged)
        reporter.write_line(f"invariants gate: not judged in a partial run: {shown}", yellow=True)
    if verbosity <= 0:
        return
    for res in results.invariants:
        if res.skipped:
            names = ", ".join(f"{nodeid} ({why or 'no reason'})" for nodeid, why in res.skipped)
            line = f"invariants: {res.invariant.id}: skipped claimants: {names}"
            reporter.write_line(printable(line))


def print_run_summary(summary: RunSummary, reporter: pytest.TerminalReporter) -> None:
    """Print the verdicts, the gate and where the files went, after pytest's own summary."""
    writer = reporter.config.get_terminal_writer()
    console = make_console(
        _ReporterFile(reporter),  # type: ignore[arg-type]  # write/flush is all rich needs
        force_terminal=writer.hasmarkup or None,
        width=writer.fullwidth,
    )
    verbosity = reporter.config.get_verbosity()
    reporter.section("invariants", sep="=")
    if verbosity > 0:
        detectors = ", ".join(summary.detectors) or "none"
        recorder = summary.recorder or "none (no scope to observe)"
        reporter.write_line(f"invariants: line recorder: {recorder}; detectors: {detectors}")
    if summary.results is not None:
        render(summary.results, summary.violations, console, verbosity)
        _partial_lines(summary, reporter, verbosity)
    for note in summary.notes:
        reporter.write_line(f"invariants: {note}", yellow=True)
    for error in summary.errors:
        reporter.write_line(f"ERROR: {printable(error)}", red=True)
    if summary.ratchet is not None:
        _print_ratchet(summary.ratchet, reporter)
    if summary.violations:
        reporter.write_line(gate_line(summary.exitstatus), red=True, bold=True)
    for path in summary.written:
        reporter.write_line(f"invariants: wrote {printable(path)}")
    if summary.results is not None and summary.proved:
        for text, style in survivor_lines(summary.results):
            console.print(printable(text), style=style, soft_wrap=True, markup=False)


def _print_ratchet(found: Ratchet, reporter: pytest.TerminalReporter) -> None:
    for note in found.notes:
        reporter.write_line(f"invariants gate: baseline: {printable(note)}")
    for iid, words in found.because.items():
        reporter.write_line(f"invariants gate: {printable(iid)} is {printable(words)}")
    reporter.write_line(f"invariants gate: {printable(found.summary())}", bold=True)

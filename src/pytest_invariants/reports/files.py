"""Glue between a finished run and the reporters: which files to write, what to print."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_invariants.gate import EXIT_GATE_FAILED, Violation
from pytest_invariants.model import RunResults
from pytest_invariants.results import write_atomically

if TYPE_CHECKING:
    from pytest_invariants.pytest_plugin.collector import RunCollector

__all__ = ["print_run_summary", "render_format", "write_reports"]


def render_format(fmt: str, results: RunResults, violations: Sequence[Violation] | None) -> str:
    """Return the text of one report format: 'html', 'md' or 'sarif'."""
    listed = list(violations) if violations is not None else None
    if fmt == "html":
        from pytest_invariants.reports import html

        return html.render(results, listed)
    if fmt == "md":
        from pytest_invariants.reports import markdown

        return markdown.render(results, listed)
    if fmt == "sarif":
        from pytest_invariants.reports import sarif

        return json.dumps(sarif.render(results, listed), indent=1) + "\n"
    raise ValueError(f"unknown report format {fmt!r}")


def write_reports(
    results: RunResults,
    violations: Sequence[Violation] | None,
    paths: Mapping[str, Path | None],
) -> list[Path]:
    """Write every requested report atomically; return the paths written."""
    written = []
    for fmt, path in paths.items():
        if path is None:
            continue
        text = render_format(fmt, results, violations)
        write_atomically(path, text)
        written.append(path)
        if fmt == "md" and os.environ.get("GITHUB_STEP_SUMMARY"):
            from pytest_invariants.reports.markdown import append_step_summary

            append_step_summary(text)
    return written


def _verbosity(terminalreporter: Any) -> int:
    return int(terminalreporter.config.getoption("verbose", 0) or 0)


def print_run_summary(collector: RunCollector, terminalreporter: Any) -> None:
    """Print the verdicts, the gate and where the files went, after pytest's own summary."""
    from pytest_invariants.reports.terminal import make_console, render

    tw = terminalreporter._tw
    console = make_console(tw._file, force_terminal=tw.hasmarkup or None, width=tw.fullwidth)
    terminalreporter.section("invariants", sep="=")
    observer = terminalreporter.config.pluginmanager.get_plugin("invariants-observer")
    if _verbosity(terminalreporter) > 0 and observer is not None:
        detectors = ", ".join(observer.detectors) or "none"
        recorder = observer.recorder_name or "none (no scope to observe)"
        terminalreporter.write_line(
            f"invariants: line recorder: {recorder}; detectors: {detectors}"
        )
    if collector.results is not None:
        render(collector.results, collector.violations, console, _verbosity(terminalreporter))
    for error in collector.errors:
        terminalreporter.write_line(f"ERROR: {error}", red=True)
    if collector.violations:
        terminalreporter.write_line(
            f"invariants gate failed: exit status {EXIT_GATE_FAILED}", red=True, bold=True
        )
    for path in collector.written:
        terminalreporter.write_line(f"invariants: wrote {path}")

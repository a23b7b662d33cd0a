"""Glue between a finished run and the reporters: which files to write, what to print."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_invariants.gate import Violation
from pytest_invariants.model import RunResults
from pytest_invariants.reports.view import RunView
from pytest_invariants.results import WriteError, write_atomically

__all__ = ["render_format", "write_reports"]


def render_format(fmt: str, results: RunResults, violations: Sequence[Violation] | None) -> str:
    """Return the text of one report format: 'html', 'md' or 'sarif'."""
    return _render_view(fmt, RunView.of(results, violations))


def _render_view(fmt: str, view: RunView) -> str:
    # Each renderer is imported when asked for: a run that writes no HTML never loads jinja2.
    if fmt == "html":
        from pytest_invariants.reports import html

        return html.render_view(view)
    if fmt == "md":
        from pytest_invariants.reports import markdown

        return markdown.render_view(view)
    if fmt == "sarif":
        from pytest_invariants.reports import sarif

        return json.dumps(sarif.render_view(view), indent=1) + "\n"
    raise ValueError(f"unknown report format {fmt!r}")


def write_reports(
    results: RunResults,
    violations: Sequence[Violation] | None,
    paths: Mapping[str, Path | None],
) -> tuple[list[Path], list[str]]:
    """Write every requested report atomically; return the paths written and the errors.

    One target that cannot be written (`cannot write PATH: reason`) never stops
    the others from being written.
    """
    written: list[Path] = []
    errors: list[str] = []
    wanted = {fmt: path for fmt, path in paths.items() if path is not None}
    if not wanted:
        return written, errors  # most runs write no report: build no view
    view = RunView.of(results, violations)  # built once, read by every report
    for fmt, path in wanted.items():
        text = _render_view(fmt, view)
        try:
            write_atomically(path, text)
        except WriteError as exc:
            errors.append(str(exc))
            continue
        written.append(path)
        if fmt == "md" and os.environ.get("GITHUB_STEP_SUMMARY"):
            from pytest_invariants.reports import markdown

            markdown.append_step_summary(text)
    return written, errors

"""`invariants gate --baseline BASE.json`: read the baseline and say what the ratchet decided."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytest_invariants.baseline import Ratchet, baseline_of, ratchet
from pytest_invariants.cli.errors import CliError
from pytest_invariants.gate import Violation
from pytest_invariants.model import RunResults
from pytest_invariants.results import ResultsError, read_results

__all__ = ["apply_baseline", "ratchet_lines"]


def apply_baseline(path: str, results: RunResults, violations: Sequence[Violation]) -> Ratchet:
    """Split `violations` by the baseline results at `path`; a bad file is a CliError."""
    try:
        base = read_results(Path(path))
    except ResultsError as exc:
        raise CliError(
            f"--baseline: {exc} (the baseline is the results file of an earlier run, "
            "e.g. main's .invariants/results.json kept as a CI artifact)"
        ) from None
    statuses = {r.invariant.id: r.status.value for r in results.invariants}
    return ratchet(violations, statuses, baseline_of(base), results.invariant_set.fingerprint)


def ratchet_lines(found: Ratchet) -> list[str]:
    """Return the notes and the new violations, one line each, for the terminal."""
    lines = [f"invariants gate: baseline: {note}" for note in found.notes]
    for v in found.new:
        lines.append(f"  {v.render()} -- {found.because[v.invariant_id]}")
    return lines

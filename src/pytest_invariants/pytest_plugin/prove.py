"""`pytest --invariants --invariants-prove`: prove after the tests, in the same session."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from pytest_invariants.model import RunResults
from pytest_invariants.prove.engine import ProveSettings, prove_results

__all__ = ["prove_in_session"]


def prove_in_session(config: pytest.Config, results: RunResults) -> RunResults:
    """Prove after `pytest --invariants --invariants-prove`; an interrupt writes nothing."""
    capman = config.pluginmanager.getplugin("capturemanager")
    # Progress goes to the terminal even while pytest captures output.
    shown = capman.global_and_fixture_disabled() if capman is not None else nullcontext()
    try:
        with shown:
            updated, _ = prove_results(results, config.rootpath, ProveSettings())
    except KeyboardInterrupt:
        pytest.exit(
            "invariants: the proof was interrupted; no results were written "
            "(the previous .invariants/results.json is left as it was)",
            returncode=pytest.ExitCode.INTERRUPTED,
        )
    return updated

"""Opt-in timings of the plugin's own phases, for benchmarks (docs/performance.md).

With `PYTEST_INVARIANTS_TIMINGS=path.json` set, the process that writes the
results also writes the CPU seconds spent in each phase of ours:

    {"tests": n, "phases": {"load": s, "claims": s, "instrument": s, "per_test": s,
     "classify": s, "write": s, "report": s}, "load": s, ...}

(the phases are repeated at the top level for readers that want them flat).
`per_test` sums our work around each test in this process, so under xdist it
is the controller's share only. Without the variable nothing is timed: the
per-test hooks test one attribute for None.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final

__all__ = ["ENV", "PHASES", "Timings", "timings_from_env"]

ENV: Final = "PYTEST_INVARIANTS_TIMINGS"
PHASES: Final = ("load", "claims", "instrument", "per_test", "classify", "write", "report")


class Timings:
    """CPU seconds per phase, written as JSON at the end of the run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.phases: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.tests = 0

    def add(self, phase: str, since: float) -> None:
        """Add the CPU time from `since` (a `time.process_time()`) to now to `phase`."""
        self.phases[phase] += time.process_time() - since

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.process_time()
        try:
            yield
        finally:
            self.add(name, started)

    def write(self) -> None:
        """Write the timings; a benchmark aid must never fail the run."""
        rounded = {name: round(seconds, 6) for name, seconds in self.phases.items()}
        data = {"tests": self.tests, "phases": rounded, **rounded}
        with suppress(OSError):
            self.path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def timings_from_env() -> Timings | None:
    """Return the run's timings when `PYTEST_INVARIANTS_TIMINGS` names a file."""
    path = os.environ.get(ENV)
    return Timings(Path(path)) if path else None

"""Detect time-machine moving the clock.

time-machine patches the C functions behind `time.time`, `datetime.now` and
friends, invisible to `unittest.mock`. Reported as the boundary `clock` and the
modules `time` and `datetime`. Hook point: `time_machine.travel.start` / `stop`,
which the decorator, the context manager and the `time_machine` fixture's
`move_to` all go through.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pytest_invariants.detectors import detector


def _replacement(travel: Any) -> str:
    stamp = getattr(travel, "destination_timestamp_ns", None)
    if not isinstance(stamp, int):
        return "time_machine.travel"
    when = dt.datetime.fromtimestamp(stamp / 1e9, tz=dt.timezone.utc).isoformat()
    return f"time_machine.travel({when})"


pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
    name="time-machine",
    cls="time_machine:travel",
    targets=["clock", "time", "datetime"],
    replacement=_replacement,
)

"""Detect freezegun freezing the clock.

freezegun swaps `datetime.datetime`, `time.time` and friends in every loaded
module by plain `setattr`, not through `unittest.mock`. Reported as the boundary
`clock` and the modules `time` and `datetime`, so `allow_doubles: [clock]`
accepts it and `must_be_real: [clock]` refuses it. Hook point:
`freezegun.api._freeze_time.start` / `stop` (decorator on functions and
classes, context manager, `freeze_time(...).start()`).
"""

from __future__ import annotations

from typing import Any

from pytest_invariants.detectors import detector


def _replacement(freezer: Any) -> str:
    when = getattr(freezer, "time_to_freeze", None)
    return f"freezegun.freeze_time({when})" if when is not None else "freezegun.freeze_time"


pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
    name="freezegun",
    cls="freezegun.api:_freeze_time",
    targets=["clock", "time", "datetime"],
    replacement=_replacement,
)

"""Detect freezegun freezing the clock.

freezegun swaps `datetime.datetime`, `time.time` and friends in every loaded
module by plain `setattr`, not through `unittest.mock`. Reported as the boundary
`clock` and the modules `time` and `datetime`, so `allow_doubles: [clock]`
accepts it and `must_be_real: [clock]` refuses it. Hook point:
`freezegun.api._freeze_time.start` / `stop` (decorator on functions and
classes, context manager, `freeze_time(...).start()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Installed, install_start_stop_detector

NAME = "freezegun"
_installed = Installed()


def _describe(freezer: Any) -> tuple[Sequence[str], str] | None:
    when = getattr(freezer, "time_to_freeze", None)
    words = f"freezegun.freeze_time({when})" if when is not None else "freezegun.freeze_time"
    return ["clock", "time", "datetime"], words


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap `_freeze_time.start`/`stop` when freezegun is installed."""
    return install_start_stop_detector(
        config,
        reporter,
        _installed,
        (NAME, NAME, "freezegun.api"),
        lambda api: api._freeze_time,
        _describe,
    )


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore `_freeze_time.start`/`stop`."""
    _installed.remove(config)

"""Detect time-machine moving the clock.

time-machine patches the C functions behind `time.time`, `datetime.now` and
friends, invisible to `unittest.mock`. Reported as the boundary `clock` and the
modules `time` and `datetime`. Hook point: `time_machine.travel.start` / `stop`,
which the decorator, the context manager and the `time_machine` fixture's
`move_to` all go through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Installed, install_start_stop_detector

NAME = "time-machine"
_installed = Installed()


def _describe(travel: Any) -> tuple[Sequence[str], str] | None:
    stamp = getattr(travel, "destination_timestamp_ns", None)
    words = "time_machine.travel"
    if isinstance(stamp, int):
        when = dt.datetime.fromtimestamp(stamp / 1e9, tz=dt.timezone.utc).isoformat()
        words = f"time_machine.travel({when})"
    return ["clock", "time", "datetime"], words


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap `travel.start`/`stop` when time-machine is installed."""
    return install_start_stop_detector(
        config,
        reporter,
        _installed,
        (NAME, "time_machine", "time_machine"),
        lambda module: module.travel,
        _describe,
    )


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore `travel.start`/`stop`."""
    _installed.remove(config)

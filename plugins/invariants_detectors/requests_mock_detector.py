"""Detect requests-mock faking HTTP for `requests`.

requests-mock does not use `unittest.mock`: `MockerCore.start` assigns a fake
`send` to `requests.Session` (or to one session) by hand, so only a detector
sees it. Reported as the boundary `http` and the dotted name
`requests.Session.send`. Hook point: `requests_mock.MockerCore.start` / `stop`,
which the `requests_mock` fixture, `with requests_mock.Mocker()` and the
decorator all go through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Installed, install_start_stop_detector

NAME = "requests-mock"
_installed = Installed()


def _describe(mocker: Any) -> tuple[Sequence[str], str] | None:
    return ["http", "requests.Session.send"], f"requests_mock.{type(mocker).__name__}"


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap `MockerCore.start`/`stop` when requests-mock is installed."""
    return install_start_stop_detector(
        config,
        reporter,
        _installed,
        (NAME, "requests_mock", "requests_mock.mocker"),
        lambda mocker: mocker.MockerCore,
        _describe,
        once=True,
    )


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore `MockerCore.start`/`stop`."""
    _installed.remove(config)

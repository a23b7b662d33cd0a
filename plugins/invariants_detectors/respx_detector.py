"""Detect respx faking HTTP for `httpx`.

respx patches httpcore's (or httpx's) transport methods with `unittest.mock`,
but only once for all routers and it keeps the patches while any router is
registered, possibly across tests; the router's own `start`/`stop` is what
says a test is using a double. Reported as the boundary `http`, the library
`httpx` and the patched classes as dotted names. Hook point:
`respx.MockRouter.start` / `stop` (`@respx.mock`, `with respx.mock(...)`,
the `respx_mock` fixture).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Installed, install_start_stop_detector

NAME = "respx"
_installed = Installed()


def _describe(router: Any) -> tuple[Sequence[str], str] | None:
    mocker = getattr(router, "Mocker", None)
    if mocker is None:  # `using=False`: the router only routes, nothing is patched
        return None
    patched = [str(target) for target in getattr(mocker, "targets", [])]
    return ["http", "httpx", *patched], f"respx.MockRouter (using {mocker.name})"


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap `MockRouter.start`/`stop` when respx is installed."""
    return install_start_stop_detector(
        config,
        reporter,
        _installed,
        (NAME, NAME, "respx.router"),
        lambda router: router.MockRouter,
        _describe,
        once=True,
    )


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore `MockRouter.start`/`stop`."""
    _installed.remove(config)

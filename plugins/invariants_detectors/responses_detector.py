"""Detect the `responses` library faking HTTP for `requests`.

responses patches `requests.adapters.HTTPAdapter.send` with `unittest.mock.patch`,
which the built-in observer already records under that dotted name. This
detector adds the named boundary `http`, so an invariant with
`must_be_real: [http]` is spoiled whichever HTTP library the code uses.
Hook point: `responses.RequestsMock.start` / `stop`, which every form goes
through (`@responses.activate`, `with responses.RequestsMock()`,
`responses.start()`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Installed, install_start_stop_detector

NAME = "responses"
_installed = Installed()


def _is_motos_own(mock: Any) -> bool:
    """Return True for the RequestsMock that moto starts for itself.

    moto routes AWS URLs through a private RequestsMock that passes every other
    request through to the network; it is not an HTTP double, and the moto
    detector reports it as `aws`.
    """
    moto_models = sys.modules.get("moto.core.models")
    return moto_models is not None and mock is getattr(moto_models, "responses_mock", None)


def _describe(mock: Any) -> tuple[Sequence[str], str] | None:
    if _is_motos_own(mock):
        return None
    target = str(getattr(mock, "target", "requests.adapters.HTTPAdapter.send"))
    return ["http", target], "responses.RequestsMock"


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap `RequestsMock.start`/`stop` when responses is installed."""
    return install_start_stop_detector(
        config,
        reporter,
        _installed,
        (NAME, NAME, "responses"),
        lambda module: module.RequestsMock,
        _describe,
        once=True,
    )


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore `RequestsMock.start`/`stop`."""
    _installed.remove(config)

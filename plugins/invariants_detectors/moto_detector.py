"""Detect moto faking AWS.

moto 5's `mock_aws` returns a `moto.core.models.MockAWS`; its `start` switches
on a botocore event handler that answers every AWS call in memory (and a
private responses mock for raw HTTP to AWS URLs). Neither goes through a patch
of a dotted name the code under test would use, so only a detector sees it.
Reported as the boundary `aws` and the libraries `botocore` and `boto3`. Hook
point: `MockAWS.start` / `stop` (decorator, context manager, explicit
`start()`; the server and proxy modes subclass it).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Installed, install_start_stop_detector

NAME = "moto"
_installed = Installed()


def _describe(mock: Any) -> tuple[Sequence[str], str] | None:
    return ["aws", "botocore", "boto3"], f"moto {type(mock).__name__} (mock_aws)"


def _mock_class(models: ModuleType) -> type | None:
    """Return moto's mock class: `MockAWS` in moto 5, `BaseMockAWS` in moto 4."""
    found = getattr(models, "MockAWS", None) or getattr(models, "BaseMockAWS", None)
    return found if isinstance(found, type) else None


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap moto's `MockAWS.start`/`stop` when moto is installed."""
    return install_start_stop_detector(
        config, reporter, _installed, (NAME, NAME, "moto.core.models"), _mock_class, _describe
    )


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore `MockAWS.start`/`stop`."""
    _installed.remove(config)

"""Hook specifications for detector plugins: how third-party test doubles reach us.

Most doubles in real suites do not go through unittest.mock: HTTP is faked with
responses or respx, AWS with moto, time with freezegun. A detector hooks one
such library and tells pytest-invariants whenever one of its doubles becomes
active or inactive. Detectors are ordinary pluggy plugins; pytest-invariants
registers these specs through pytest's `pytest_addhooks`, and loads detectors
from the `pytest_invariants.detectors` entry-point group (see docs/plugins.md).
"""

from __future__ import annotations

from typing import Protocol

import pytest

__all__ = [
    "DoubleReporter",
    "pytest_invariants_install_detector",
    "pytest_invariants_uninstall_detector",
]

hookspec = pytest.hookspec


class DoubleReporter(Protocol):
    """What a detector calls to report its library's doubles."""

    def activated(
        self,
        target: str,
        replacement: str,
        via: str,
        *,
        where: str | None = None,
        key: object = None,
    ) -> None:
        """Report that a double of `target` became active in the current test.

        `target` is a dotted name (`requests.adapters.HTTPAdapter.send`) or a named
        boundary (`http`, `aws`, `clock`, `redis`). `where` defaults to the first
        frame in test code. `key` identifies the activation for `deactivated`.
        """

    def deactivated(self, key: object) -> None:
        """Report that the double activated with `key` is no longer active."""

    def owns(self, package: str, via: str) -> None:
        """Say that the patches `package`'s own code starts are doubles of the detector `via`.

        A `unittest.mock` patch started from inside the installed library (its
        `start()` patching a transport) is then reported as `via`'s, at the test's
        place, and not at all once the detector reports the activation itself: one
        double, not two. `detector()` and `custom_detector()` call it for the
        libraries they hook.
        """


@hookspec
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Hook your library so that it calls `reporter` while a test runs.

    Called once per process of an `--invariants` run, before any test. Return
    the detector's name (shown with `-v`), or None when the library is not
    installed and nothing was hooked.
    """


@hookspec
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Undo everything `pytest_invariants_install_detector` did."""

"""Detect requests-mock faking HTTP for `requests`.

requests-mock does not use `unittest.mock`: `MockerCore.start` assigns a fake
`send` to `requests.Session` (or to one session) by hand, so only a detector
sees it. Reported as the boundary `http` and the dotted name
`requests.Session.send`. Hook point: `requests_mock.MockerCore.start` / `stop`,
which the `requests_mock` fixture, `with requests_mock.Mocker()` and the
decorator all go through.
"""

from __future__ import annotations

from pytest_invariants.detectors import detector

pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
    name="requests-mock",
    cls="requests_mock.mocker:MockerCore",
    targets=["http", "requests.Session.send"],
    replacement=lambda mocker: f"requests_mock.{type(mocker).__name__}",
    once=True,
)

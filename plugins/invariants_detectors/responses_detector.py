"""Detect the `responses` library faking HTTP for `requests`.

responses patches `requests.adapters.HTTPAdapter.send` with `unittest.mock.patch`
from its own code; that patch is this detector's (`DoubleReporter.owns`), so
each activation is one double, reported once at the test's line, under the
named boundary `http` and that dotted name: an invariant with
`must_be_real: [http]` is spoiled whichever HTTP library the code uses.
Hook point: `responses.RequestsMock.start` / `stop`, which every form goes
through (`@responses.activate`, `with responses.RequestsMock()`,
`responses.start()`).
"""

from __future__ import annotations

import sys
from typing import Any

from pytest_invariants.detectors import detector


def _targets(mock: Any) -> list[str] | None:
    # moto routes AWS URLs through a private RequestsMock that passes every other
    # request through to the network: not an HTTP double (the moto detector reports `aws`).
    moto_models = sys.modules.get("moto.core.models")
    if moto_models is not None and mock is getattr(moto_models, "responses_mock", None):
        return None
    return ["http", str(getattr(mock, "target", "requests.adapters.HTTPAdapter.send"))]


pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
    name="responses",
    cls="responses:RequestsMock",
    targets=_targets,
    replacement="responses.RequestsMock",
    once=True,  # responses ignores a second start of a started mock
)

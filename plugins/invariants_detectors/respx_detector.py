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

from typing import Any

from pytest_invariants.detectors import detector


def _targets(router: Any) -> list[str] | None:
    mocker = getattr(router, "Mocker", None)
    if mocker is None:  # `using=False`: the router only routes, nothing is patched
        return None
    return ["http", "httpx", *(str(target) for target in getattr(mocker, "targets", []))]


pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
    name="respx",
    cls="respx.router:MockRouter",
    targets=_targets,
    replacement=lambda router: f"respx.MockRouter (using {router.Mocker.name})",
    once=True,
)

"""Detect fakeredis standing in for a Redis server.

A `fakeredis.FakeRedis` (or `FakeStrictRedis`, `FakeAsyncRedis`, `FakeValkey`)
is a real `redis.Redis` client talking to an in-memory server: creating one in
a test is a double of `redis`, whether the test passes it to the code or patches
it in. Hook point: the constructors of fakeredis' client mixins. A client has no
stop, so its activation ends when the client is garbage-collected; one made in
a wider fixture therefore counts for every test that runs while it is alive.
"""

from __future__ import annotations

import weakref
from types import ModuleType
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Activations, Installed, Undo, install_when_imported, wrap_method

NAME = "fakeredis"
_installed = Installed()


def _library_of(client: Any) -> str:
    """Return `valkey` for the valkey flavours, `redis` for the rest."""
    modules = {cls.__module__.partition(".")[0] for cls in type(client).__mro__}
    return "valkey" if "valkey" in modules else "redis"


def _on_created(activations: Activations) -> Any:
    def created(client: Any, _result: Any) -> None:
        # A subclass constructor may run the mixin's __init__ more than once per client.
        if activations.is_open(client):
            return
        words = f"fakeredis.{type(client).__name__}"
        key = activations.start(client, [_library_of(client)], words)
        # The finalizer holds the key, not the client, so it cannot keep the client alive.
        weakref.finalize(client, activations.stop_key, key)

    return created


# The modules that define the mixins whose `__init__` every fakeredis client runs
# (the async one is missing when redis is built without asyncio support).
_MIXINS = (
    ("fakeredis._clients._sync", "FakeRedisMixin"),
    ("fakeredis._clients._async", "FakeAsyncRedisMixin"),
)


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap the fakeredis client constructors once fakeredis is imported."""
    activations = Activations(reporter, NAME)
    found = False
    for module, mixin in _MIXINS:

        def install(loaded: ModuleType, mixin: str = mixin) -> list[Undo]:
            return [wrap_method(getattr(loaded, mixin), "__init__", _on_created(activations))]

        found = install_when_imported(config, _installed, NAME, module, install) or found
    return NAME if found else None


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore the fakeredis client constructors."""
    _installed.remove(config)

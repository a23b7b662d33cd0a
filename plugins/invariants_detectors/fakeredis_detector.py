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
from typing import Any

import pytest

from pytest_invariants.hookspecs import DoubleReporter

from ._hooking import Activations, Installed, Undo, wrap_method

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


def _mixins() -> list[type]:
    """Return the classes whose `__init__` every fakeredis client runs."""
    found: list[type] = []
    try:
        from fakeredis._clients import _sync
    except ImportError:
        return found
    found.append(_sync.FakeRedisMixin)
    try:
        from fakeredis._clients import _async
    except ImportError:  # redis built without asyncio support
        return found
    found.append(_async.FakeAsyncRedisMixin)
    return found


@pytest.hookimpl
def pytest_invariants_install_detector(
    config: pytest.Config, reporter: DoubleReporter
) -> str | None:
    """Wrap the fakeredis client constructors when fakeredis is installed."""
    mixins = _mixins()
    if not mixins:
        return None
    activations = Activations(reporter, NAME)
    undo: list[Undo] = []
    try:
        for mixin in mixins:
            undo.append(wrap_method(mixin, "__init__", _on_created(activations)))
    except Exception:
        for each in reversed(undo):
            each()
        raise
    _installed.add(config, undo)
    return NAME


@pytest.hookimpl
def pytest_invariants_uninstall_detector(config: pytest.Config) -> None:
    """Restore the fakeredis client constructors."""
    _installed.remove(config)

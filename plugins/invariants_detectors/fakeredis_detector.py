"""Detect fakeredis standing in for a Redis server.

A `fakeredis.FakeRedis` (or `FakeStrictRedis`, `FakeAsyncRedis`, `FakeValkey`)
is a real `redis.Redis` client talking to an in-memory server: creating one in
a test is a double of `redis`, whether the test passes it to the code or patches
it in. Hook point: the constructors of fakeredis' client mixins. A client has no
stop, so its activation ends when the client is garbage-collected; one made in
a wider fixture therefore counts for every test that runs while it is alive.
"""

from __future__ import annotations

from typing import Any

from pytest_invariants.detectors import detector


def _library_of(client: Any) -> str:
    """Return `valkey` for the valkey flavours, `redis` for the rest."""
    modules = {cls.__module__.partition(".")[0] for cls in type(client).__mro__}
    return "valkey" if "valkey" in modules else "redis"


pytest_invariants_install_detector, pytest_invariants_uninstall_detector = detector(
    name="fakeredis",
    # Every client runs one of these mixins' __init__ (the async one is missing when
    # redis is built without asyncio support).
    cls=[
        "fakeredis._clients._sync:FakeRedisMixin",
        "fakeredis._clients._async:FakeAsyncRedisMixin",
    ],
    targets=_library_of,
    replacement=lambda client: f"fakeredis.{type(client).__name__}",
    start="__init__",
    stop=None,  # the double ends when the client is garbage-collected
    once=True,  # a subclass constructor may run the mixin's __init__ more than once
)

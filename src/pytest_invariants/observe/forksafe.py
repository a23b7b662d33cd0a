"""Fork with SIGTERM at its default whenever one of our handlers is installed.

Both the pytest process (SIGTERM as an interruption) and an observed child (write
the evidence, then die) catch SIGTERM with a Python handler. A process forked
from them (a multiprocessing worker) inherits that handler, and CPython clears
the signals that arrived but whose Python handler has not run yet right after
`fork()`. A pool that terminates a worker which has not run a line yet (the
usual case under load: the pool finished with the other workers) then loses the
SIGTERM, and `Pool.terminate()` joins a worker that waits on its queue forever.

So while any of our handlers is installed, every `os.fork()` blocks SIGTERM in
the forking thread (a blocked signal stays pending in the kernel, which no
clearing touches), and the child resets SIGTERM to its default before unblocking:
a SIGTERM sent early kills the child as it would without us. A multiprocessing
child never installs a handler of ours again: it writes its evidence before each
message to its parent instead (docs/children.md). `subprocess` never runs these
hooks: it forks in C.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["guard_forks", "is_ours"]

_installed = False
_blocked: list[bool] = []  # per fork in flight: whether `before` blocked SIGTERM


def guard_forks() -> None:
    """Install the fork hooks once per process (they cost nothing while unused)."""
    global _installed
    if _installed or not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_in_child)
    _installed = True


def is_ours(handler: object) -> bool:
    """Whether a signal handler is one of this package's."""
    module = getattr(handler, "__module__", None) or ""
    return isinstance(module, str) and module.startswith("pytest_invariants")


def _before() -> None:
    block = is_ours(signal.getsignal(signal.SIGTERM))
    if block:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _blocked.append(block)


def _after_in_parent() -> None:
    if _blocked and _blocked.pop():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _in_child() -> None:
    if not (_blocked and _blocked.pop()):
        return
    _blocked.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Not the main thread: signal.signal is refused; the handler stays, and a
    # SIGTERM pending now is handled by it (it was blocked, so never cleared).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

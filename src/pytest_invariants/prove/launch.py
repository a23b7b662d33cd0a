"""Start the proof worker process, as early as the caller can (docs/prove.md, "How it runs").

The worker's start (the interpreter, pytest, the user's plugins, collection) is
the largest fixed cost of a proof. `invariants prove` starts it first thing,
before it imports the rest of this package or reads the results, so that start
runs on another core meanwhile; the worker waits on stdin for its spec. This
module imports only the standard library: importing it must cost nothing.

What must never happen: a worker outliving its controller. The worker asks
the kernel for SIGTERM when its parent dies and stops at end-of-file on stdin,
which this object holds open; `discard()` ends a worker nobody used.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import IO

__all__ = ["WorkerProcess", "worker_env"]


def worker_env() -> dict[str, str]:
    """The worker's environment: ours, without writing bytecode, never a test's child."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # never add .pyc files to the user's tree
    # A worker swaps in mutants: it must not be observed as a test's child process
    # (observe/child.py), whose recorder would put the unmutated source back.
    env.pop("PYTEST_INVARIANTS_CHILD", None)
    return env


class WorkerProcess:
    """A started worker: its process, the pipe its events come on, its log.

    The log is an unnamed temporary file (nothing is left if we are killed).
    The events pipe's write end is the worker's only: `fd` is its number there.
    """

    def __init__(self, cwd: Path | None = None) -> None:
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.read_fd, self.fd = os.pipe()
        try:
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                [sys.executable, "-m", "pytest_invariants.prove.worker"],
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=self.log,
                stderr=self.log,
                pass_fds=(self.fd,),
                env=worker_env(),
            )
        except BaseException:
            os.close(self.read_fd)
            os.close(self.fd)
            self.log.close()
            raise
        os.close(self.fd)  # the number stays meaningful in the worker: it goes in the spec
        self.used = False

    def close(self) -> None:
        """Release our side (the events pipe, the log); the process is ended by its owner."""
        with suppress(OSError):
            os.close(self.read_fd)
        with suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        self.log.close()

    def discard(self) -> None:
        """End a worker that was never handed a spec: it has made nothing yet."""
        if self.used:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close()

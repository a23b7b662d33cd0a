"""Keep the probes' compiled code between runs, keyed by everything that shapes it.

Instrumenting a scope module on 3.10/3.11 parses it, inserts probes and compiles
it twice (plain, to recognise the live functions, and probed): seconds for a
project with hundreds of scope modules, every run. The two module code objects
are stored with `marshal` in `.invariants/probes/`, one file per scope file.

What must never happen: code used that a fresh compile would not give. The key
covers the source bytes, the file name, the file's probe index, whether pytest
rewrote its asserts, the optimisation level, the exact Python (version and
bytecode magic), pytest's version and the source of the modules that build the
code. Anything else changed is a different key: a miss, and a fresh compile. An
unreadable or corrupt entry is a miss; a cache that cannot be written is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import pytest

from pytest_invariants.load.scopecache import read_cache_file

__all__ = ["CodeCache"]

_SUFFIX: Final = ".marshal"
Pair = tuple[types.CodeType, types.CodeType]


def _environment(builders: Iterable[str]) -> bytes:
    """Return what, besides the file itself, decides the compiled code."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{sys.flags.optimize}\0{pytest.__version__}\0".encode())
    digest.update(importlib.util.MAGIC_NUMBER)
    for filename in (*builders, __file__):
        with contextlib.suppress(OSError):
            digest.update(Path(filename).read_bytes())
    return digest.digest()


class CodeCache:
    """Compiled (plain, probed) module code per scope file, on disk."""

    def __init__(self, folder: Path, builders: Iterable[str]) -> None:
        """`builders` are the source files of the code that compiles what is cached."""
        self._folder = folder
        self._builders = tuple(builders)
        self._environment: bytes | None = None

    def _paths(self, data: bytes, filename: str, index: int, rewritten: bool) -> tuple[str, Path]:
        if self._environment is None:
            self._environment = _environment(self._builders)
        name = hashlib.sha256(filename.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        digest = hashlib.sha256(self._environment)
        digest.update(f"\0{filename}\0{index}\0{rewritten}\0".encode("utf-8", "surrogateescape"))
        digest.update(data)
        return name, self._folder / f"{name}-{digest.hexdigest()[:40]}{_SUFFIX}"

    def get(self, data: bytes, filename: str, index: int, rewritten: bool) -> Pair | None:
        """Return the cached pair for this exact input, or None."""
        _, path = self._paths(data, filename, index, rewritten)
        try:
            pair = marshal.loads(read_cache_file(path) or b"")
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if (
            isinstance(pair, tuple)
            and len(pair) == 2
            and all(isinstance(code, types.CodeType) for code in pair)
        ):
            return pair
        return None

    def put(self, data: bytes, filename: str, index: int, rewritten: bool, pair: Pair) -> None:
        """Store `pair`, replacing the entries of older versions of the same file."""
        name, path = self._paths(data, filename, index, rewritten)
        self._store(name, path, marshal.dumps(pair))

    def get_starts(self, data: bytes, filename: str) -> dict[int, int] | None:
        """Return the cached `statement_starts` of this exact source, or None."""
        _, path = self._paths(data, filename, -1, False)
        try:
            starts = marshal.loads(read_cache_file(path) or b"")
        except (OSError, ValueError, EOFError, TypeError):
            return None
        if isinstance(starts, dict) and all(
            type(key) is int and type(value) is int for key, value in starts.items()
        ):
            return starts
        return None

    def put_starts(self, data: bytes, filename: str, starts: dict[int, int]) -> None:
        """Store the `statement_starts` of `data` (kept in a folder of their own)."""
        name, path = self._paths(data, filename, -1, False)
        self._store(name, path, marshal.dumps(starts))

    def _store(self, name: str, path: Path, payload: bytes) -> None:
        with contextlib.suppress(OSError):
            self._folder.mkdir(parents=True, exist_ok=True)
            for old in self._folder.glob(f"{name}-*{_SUFFIX}"):
                if old != path:
                    with contextlib.suppress(OSError):
                        old.unlink()
            fd, tmp = tempfile.mkstemp(dir=self._folder, prefix=".probes-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(payload)
                os.replace(tmp, path)  # atomic: xdist workers instrument at the same time
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

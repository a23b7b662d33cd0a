"""A cache of what scope resolution learned from each source file, keyed by its content.

Parsing a scope file (with `ast` and coverage.py's parser) costs 20-40 ms; a
project with hundreds of scope modules paid seconds on every run for the same
answers (docs/performance.md). The facts of one file are stored in
`.invariants/scope-cache.json` under the SHA-256 of its bytes, the module name
it is read as, and the *analysis*: this package's version, the source of the
modules that compute the facts, coverage.py's version and the Python version.

What must never happen: a fact used for a file whose content changed, or facts
computed by other code. Both change the key, so a stale entry is never found;
it is dropped when the cache is next written. A missing, unreadable or corrupt
cache file is an empty cache; a cache that cannot be written is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from pytest_invariants import __version__

__all__ = ["CACHE_FILE", "FactsCache", "analysis_version", "read_cache_file"]

CACHE_FILE: Final = Path(".invariants") / "scope-cache.json"
_FORMAT: Final = 2  # 2: reads carry the origin of a function-local import


def read_cache_file(path: Path) -> bytes | None:
    """Return the bytes of the regular file `path`, or None (missing, a folder, a device).

    A cache path is anything a user or a tool left in `.invariants/`: a FIFO there
    would block a plain read for ever, so the file is opened without blocking and
    checked before it is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as stream:
            return stream.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def analysis_version(modules: Iterable[str]) -> str:
    """Return a digest of the code that computes the facts (the files of `modules`)."""
    try:  # the metadata, not `import coverage`: a warm run need not import coverage at all
        coverage_version = metadata.version("coverage")
    except metadata.PackageNotFoundError:
        coverage_version = "?"
    digest = hashlib.sha256(f"{_FORMAT} {__version__} {coverage_version} {sys.version}".encode())
    for filename in modules:
        with contextlib.suppress(OSError):
            digest.update(Path(filename).read_bytes())
    return digest.hexdigest()


class FactsCache:
    """Facts per file content, read once at start and written once at the end."""

    def __init__(self, path: Path | None, analysis: str) -> None:
        self._path = path
        self._analysis = analysis
        self._stored = self._read()
        self._used: dict[str, Any] = {}
        self._changed = False

    def key(self, data: bytes, module: str | None, is_package: bool) -> str:
        """Return the key of a file's facts: its bytes and how it is read."""
        digest = hashlib.sha256(data)
        digest.update(f"\0{module or ''}\0{is_package}".encode())
        return digest.hexdigest()

    def get(self, key: str) -> Any | None:
        """Return the facts stored under `key`, or None."""
        found = self._used.get(key)
        if found is None:
            found = self._stored.get(key)
            if found is not None:
                self._used[key] = found
        return found

    def put(self, key: str, facts: Any) -> None:
        """Keep `facts` under `key` for the next run."""
        self._used[key] = facts
        self._changed = True

    def save(self) -> None:
        """Write the facts this run used (dropping the others) when anything changed."""
        if self._path is None or not (self._changed or len(self._used) < len(self._stored)):
            return
        data = {"format": _FORMAT, "analysis": self._analysis, "files": self._used}
        with contextlib.suppress(OSError):
            self._path.parent.mkdir(parents=True, exist_ok=True)
            # Atomic: xdist workers load the invariants at the same time.
            fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".scope-cache-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump(data, out, separators=(",", ":"))
                os.replace(tmp, self._path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def _read(self) -> dict[str, Any]:
        if self._path is None:
            return {}
        raw = read_cache_file(self._path)
        try:
            data = json.loads(raw.decode("utf-8")) if raw is not None else None
        except ValueError:  # UnicodeDecodeError is a ValueError
            return {}
        if not isinstance(data, dict) or data.get("analysis") != self._analysis:
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

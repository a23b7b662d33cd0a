"""Content hashes of the scope files, so saved results can tell when the code moved on.

A results file records, per scope file, the hash of the bytes the run saw.
`invariants why` compares it with the file on disk: a line number from an
older version of the file would point at other code, so a changed file is
reported as such instead of answered wrongly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["digest", "scope_hashes"]


def digest(path: Path) -> str | None:
    """Return `sha256:<hex>` of the file's bytes, or None when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return "sha256:" + hashlib.sha256(data).hexdigest()


def scope_hashes(rootdir: Path, files: Iterable[str]) -> dict[str, str]:
    """Map each scope file (as the results name it: rootdir-relative or absolute) to its hash."""
    found: dict[str, str] = {}
    for file in sorted(set(files)):
        path = Path(file)
        value = digest(path if path.is_absolute() else rootdir / path)
        if value is not None:
            found[file] = value
    return found

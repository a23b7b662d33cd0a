"""Our settings as one run sees them: the command line first, then the ini file.

A path on the command line is relative to where pytest was started (as every
pytest path option is); a path in the ini file is relative to that file, so a
`[tool.pytest.ini_options]` entry means the same file from any folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["out_path", "prove_on", "setting"]


def setting(config: pytest.Config, name: str) -> str | None:
    """Return option `name` (its dest, also the ini key): the command line's, else the ini's."""
    value = config.getoption(name)
    if value:
        return str(value)
    ini = config.getini(name)
    return str(ini) if ini else None


def out_path(config: pytest.Config, name: str) -> Path | None:
    """Return where the file option `name` asks us to write, or None when it is not set."""
    value = config.getoption(name)
    if value:
        return Path(config.invocation_params.dir, value)
    ini = config.getini(name)
    if not ini:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return base / str(ini)


def prove_on(config: pytest.Config) -> bool:
    """Return True when this run should prove its verified invariants by mutation."""
    return bool(config.getoption("invariants_prove") or config.getini("invariants_prove"))

"""Read pytest's own settings without running pytest, for the `invariants` command.

`invariants check`, `diff` and `review` run outside pytest but must find the
same invariants file (`invariants_file`) and import path (`pythonpath`) that
`pytest --invariants` would. pytest reads the first of its configuration files
that holds a pytest section, in this order, and so do we.
"""

from __future__ import annotations

import configparser
import sys
from pathlib import Path
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    # pytest itself depends on tomli before 3.11; mypy may not have its stubs.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["ini_setting", "pytest_settings"]

# (file name, section); pytest.ini and pytest.toml are pytest's files even when empty.
_CONFIG_FILES: Final = (
    ("pytest.toml", ("pytest",)),
    (".pytest.toml", ("pytest",)),
    ("pytest.ini", ("pytest",)),
    (".pytest.ini", ("pytest",)),
    ("pyproject.toml", ("tool", "pytest")),
    ("tox.ini", ("pytest",)),
    ("setup.cfg", ("tool:pytest",)),
)
_ALWAYS_PYTESTS = ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml")


def pytest_settings(rootdir: Path) -> dict[str, Any]:
    """Return the settings of the configuration file pytest would use at `rootdir` ({} if none)."""
    for name, section in _CONFIG_FILES:
        path = rootdir / name
        if not path.is_file():
            continue
        reader = _toml_section if name.endswith(".toml") else _cfg_section
        found = reader(path, section)
        if found is not None:
            return found
        if name in _ALWAYS_PYTESTS:
            return {}
    return {}


def ini_setting(rootdir: Path, name: str) -> str | None:
    """Return the string setting `name` (e.g. `invariants_file`), or None when unset."""
    value = pytest_settings(rootdir).get(name)
    return value if isinstance(value, str) and value else None


def _cfg_section(path: Path, section: tuple[str, ...]) -> dict[str, Any] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return None
    if not parser.has_section(section[0]):
        return None
    return dict(parser.items(section[0]))


def _toml_section(path: Path, section: tuple[str, ...]) -> dict[str, Any] | None:
    """Return `[tool.pytest]` (or its `ini_options`) or `[pytest]`; None when absent."""
    try:
        document: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return None
    for key in section:
        document = document.get(key) if isinstance(document, dict) else None
    if not isinstance(document, dict):
        return None
    options = document.get("ini_options", document)
    return options if isinstance(options, dict) else None

"""Was this run narrowed? (SPEC section 5, docs/reliability.md)

A run is narrowed when it did not collect and run everything the project's
configuration would. What the configuration asks for (ini `addopts`,
`testpaths`, `collect_ignore`) never narrows; what the command line or
`PYTEST_ADDOPTS` adds does. This module reads the options; what actually did not
run (deselected, stopped early) is counted by the collector.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Narrowing", "deselection_reason", "narrowing_of"]

# Options that select a subset of the tests, with every spelling that starts one.
_SELECTING: dict[str, tuple[str, ...]] = {
    "-k": ("-k", "--keyword"),
    "-m": ("-m",),
    "--deselect": ("--deselect",),
    "--ignore": ("--ignore", "--ignore-glob"),
    "--lf": ("--lf", "--last-failed"),
    "--sw": ("--sw", "--stepwise"),
    # CI splitters: pytest-split, pytest-shard, pytest-test-groups, pytest-xdist-style groups.
    "a shard": ("--splits", "--group", "--shard-id", "--num-shards", "--test-group"),
}


@dataclass(frozen=True)
class Narrowing:
    """Why a run is narrowed; `collection` when it did not even collect everything."""

    reasons: tuple[str, ...] = ()
    collection: bool = False  # some tests were never collected: claims come from the index


def _mentions(tokens: Iterable[str], spellings: Sequence[str]) -> bool:
    for token in tokens:
        for spelling in spellings:
            if token == spelling or token.startswith(spelling + "="):
                return True
            if len(spelling) == 2 and not token.startswith("--") and token.startswith(spelling):
                return True  # -kEXPR
    return False


def _command_line(config: pytest.Config) -> list[str]:
    tokens = [str(arg) for arg in config.invocation_params.args]
    with contextlib.suppress(ValueError):  # pytest itself reports a broken PYTEST_ADDOPTS
        tokens += shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    return tokens


def _option_reasons(config: pytest.Config) -> list[str]:
    tokens = _command_line(config)
    found = [name for name, spellings in _SELECTING.items() if _mentions(tokens, spellings)]
    if "--lf" in found and not _lf_deselects(config):
        found.remove("--lf")  # `--lf` with no failures on record runs everything
    return found


def _lf_deselects(config: pytest.Config) -> bool:
    plugin = config.pluginmanager.get_plugin("lfplugin")
    return bool(plugin is not None and getattr(plugin, "active", False) and plugin.lastfailed)


def _covered(path: Path, by: Sequence[Path]) -> bool:
    return any(path == wide or wide in path.parents for wide in by)


def _default_paths(config: pytest.Config) -> list[Path]:
    root = config.rootpath
    testpaths = [str(p) for p in (config.getini("testpaths") or [])]
    found: list[Path] = []
    for pattern in testpaths:
        matched = sorted(root.glob(pattern)) if any(c in pattern for c in "*?[") else []
        found.extend(matched or [root / pattern])
    return [p.resolve() for p in found] or [root.resolve()]


def _argument_reason(config: pytest.Config) -> str | None:
    """Return 'arguments A B' when the path or node-id arguments are narrower than the project."""
    if config.args_source is pytest.Config.ArgsSource.TESTPATHS:
        return None
    given = [str(a) for a in config.args]
    base = config.invocation_params.dir
    if any("::" in arg for arg in given):
        return f"arguments {' '.join(given)}"
    paths = [Path(base, arg).resolve() for arg in given]
    if all(_covered(default, paths) for default in _default_paths(config)):
        return None
    shown = " ".join(os.path.relpath(p, base) for p in paths)
    return f"arguments {shown}"


def narrowing_of(config: pytest.Config) -> Narrowing:
    """Return what the options and arguments of this run say about its narrowing."""
    reasons: list[str] = []
    collection = False
    argument = _argument_reason(config)
    if argument:
        reasons.append(argument)
        collection = True
    options = _option_reasons(config)
    collection = collection or "--ignore" in options or "--lf" in options
    reasons.extend(options)
    return Narrowing(tuple(reasons), collection)


_DESELECTING = ("-k", "--keyword", "-m", "--deselect")


def deselection_reason(config: pytest.Config, count: int, reasons: Sequence[str]) -> str | None:
    """Return why `count` deselected tests narrow the run, or None when nothing new is said.

    Deselection asked for by the ini file's `addopts` (say `-m "not slow"`) is the
    project's configuration and narrows nothing.
    """
    if not count or any(
        r in ("-k", "-m", "--deselect", "--lf", "--sw", "a shard") for r in reasons
    ):
        return None
    addopts = [str(opt) for opt in (config.getini("addopts") or [])]
    if _mentions(addopts, _DESELECTING):
        return None
    return f"{count} test(s) deselected by a plugin"

"""Pick the line recorder for this Python: sys.monitoring on 3.12+, probes before."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from pytest_invariants.observe import recorder as _recorder_module
from pytest_invariants.observe.codecache import CodeCache
from pytest_invariants.observe.probes import ProbeRecorder
from pytest_invariants.observe.recorder import PROBES, SYSMON, LineRecorder, Regions
from pytest_invariants.observe.sysmon import SysMonRecorder, free_tool_id

__all__ = ["make_recorder"]


def make_recorder(
    files: Iterable[str | Path] | Mapping[str, Regions],
    prefer: str | None = None,
    cache_dir: Path | None = None,
) -> LineRecorder:
    """Return the recorder for `files` best suited to this Python.

    `files` may map each file to the line regions that invariants name in it
    (None: the whole file); only functions overlapping them are observed.
    `prefer` forces a mechanism (tests, benchmarks); asking for
    ``sys.monitoring`` before 3.12 is an error rather than a silent change.
    `cache_dir` lets probes keep their compiled code for the next run, and
    ``sys.monitoring`` the statement starts it maps each test's lines with.
    """
    regions = files if isinstance(files, Mapping) else dict.fromkeys(files)
    paths = {os.path.abspath(os.fspath(f)): r for f, r in regions.items()}
    choice = prefer or (SYSMON if sys.version_info >= (3, 12) else PROBES)
    if choice == SYSMON:
        if sys.version_info < (3, 12):
            raise ValueError("sys.monitoring needs Python 3.12 or later")
        if free_tool_id() is not None:
            recorder = SysMonRecorder(paths)
            if cache_dir is not None:
                recorder.starts_cache = CodeCache(cache_dir / "starts", [_RECORDER_SOURCE])
            return recorder
        # Every candidate tool id is taken (debuggers, profilers, other
        # plugins): probes still work, so degrade instead of measuring nothing.
        fallback = _probe_recorder(paths, cache_dir)
        fallback.note("no free sys.monitoring tool id (3, 4, 5, 2): recorded with probes")
        return fallback
    if choice == PROBES:
        return _probe_recorder(paths, cache_dir)
    raise ValueError(f"unknown line recorder {choice!r}: use {SYSMON!r} or {PROBES!r}")


_RECORDER_SOURCE = str(_recorder_module.__file__)  # statement_starts lives there


def _probe_recorder(paths: Mapping[str, Regions], cache_dir: Path | None) -> ProbeRecorder:
    return ProbeRecorder(paths, cache_dir)

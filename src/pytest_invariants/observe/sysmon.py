"""Record scope lines with a ``sys.monitoring`` tool of our own (Python 3.12+).

LINE events are enabled only as local events on the scope's code objects. The
callback records the hit and returns ``DISABLE``, so each line costs one call
per test. At every test start the code objects that had a hit get their events
set off and on again, which re-arms their lines and keeps the data exact per
test (a line run again by a later test counts again). Not ``restart_events()``:
it re-arms every tool's events and makes *every* code object the next test runs
(pytest's own, the suite's) re-check its instrumentation, about 50 ns each per
test (tomlkit's 1,203 tests: 0.1-0.2 s of CPU).
Measured at 1.04x on 3.12 (docs/performance.md), against 3-4x for coverage
contexts, with the same (test, line) pairs.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import Any, Final

from pytest_invariants.model import LineSet
from pytest_invariants.observe.recorder import SYSMON, Regions, ScopeRecorder, code_tree

__all__ = ["TOOL_IDS", "TOOL_NAME", "SysMonRecorder", "free_tool_id"]

TOOL_NAME: Final = "pytest-invariants"
# 0 debugger, 1 coverage, 2 profiler, 5 optimizer by convention: the unnamed
# ids 3 and 4 first, then the least likely of the named ones to be in use.
TOOL_IDS: Final = (3, 4, 5, 2)

# typeshed only declares sys.monitoring for 3.12+, and mypy checks this
# package as 3.10; reach it dynamically rather than scatter ignores.
_mon: Any = getattr(sys, "monitoring", None)


def free_tool_id() -> int | None:
    """Return the first candidate tool id nobody uses, or None."""
    if _mon is None:
        return None
    return next((tid for tid in TOOL_IDS if _mon.get_tool(tid) is None), None)


class SysMonRecorder(ScopeRecorder):
    """Observe the scope's code objects through local LINE events."""

    name = SYSMON

    def __init__(self, files: Mapping[str, Regions]) -> None:
        super().__init__(files)
        self._tool: int | None = None
        # Code objects compare by value (two identical functions are ==):
        # key by id() and hold the objects so the ids stay valid.
        self._codes: dict[int, types.CodeType] = {}
        self._hits: set[tuple[str, int]] = set()
        self._disabled: dict[int, types.CodeType] = {}  # code that returned DISABLE, by id
        self._tests = 0
        self._on_line: Any = None  # our LINE callback, to notice it replaced

    def start(self) -> None:
        """Claim a tool id, enable LINE events on the scope code, hook imports."""
        if self._started:
            return
        if not self._claim_tool():
            raise RuntimeError(f"no free sys.monitoring tool id among {TOOL_IDS}")
        super().start()

    def begin_test(self) -> None:
        """Forget earlier hits and re-arm every disabled LINE event."""
        self._tests += 1
        self._check_tool()
        self._hits.clear()
        self._rearm()

    def _rearm(self) -> None:
        """Re-enable the lines our callback disabled, on those code objects only."""
        if self._tool is None:
            return
        line = _mon.events.LINE
        for code in self._disabled.values():
            _mon.set_local_events(self._tool, code, 0)
            _mon.set_local_events(self._tool, code, line)
        self._disabled.clear()

    def end_test(self) -> dict[str, LineSet]:
        """Return file -> lines executed since `begin_test`."""
        self._check_tool()
        self._check_tampering()
        if not self._hits:
            return {}
        by_name: dict[str, list[int]] = {}
        for filename, line in self._hits:
            by_name.setdefault(filename, []).append(line)
        self._hits.clear()
        grouped: dict[str, list[int]] = {}
        for filename, lines in by_name.items():
            file = self.scope_file(filename)
            if file is not None:
                grouped.setdefault(file, []).extend(lines)
        return self._by_statement(grouped)

    def stop(self) -> None:
        """Disable our events, unregister the callback and free the tool id."""
        if self._tool is not None and _mon.get_tool(self._tool) == TOOL_NAME:
            for code in self._codes.values():
                _mon.set_local_events(self._tool, code, 0)
            _mon.register_callback(self._tool, _mon.events.LINE, None)
            _mon.free_tool_id(self._tool)
        self._tool = None
        self._codes.clear()
        self._disabled.clear()
        self._hits.clear()
        super().stop()

    def _claim_tool(self) -> bool:
        tool = free_tool_id()
        if tool is None:
            return False
        try:
            _mon.use_tool_id(tool, TOOL_NAME)
        except ValueError:  # taken between the check and the claim
            return False
        self._tool = tool
        add = self._hits.add
        disabled = self._disabled
        disable = _mon.DISABLE

        def on_line(code: types.CodeType, line: int) -> Any:
            add((code.co_filename, line))
            disabled[id(code)] = code
            return disable

        self._on_line = on_line
        _mon.register_callback(tool, _mon.events.LINE, on_line)
        return True

    def _check_tampering(self) -> None:
        """Notice a test that replaced our callback or cleared our events; re-arm both.

        Either one silently stops the recording (for later tests too): a callback of
        someone else's on our tool id sees our lines (and may return DISABLE for
        them), and cleared local events deliver nothing.
        """
        if self._tool is None:
            return
        line = _mon.events.LINE
        previous = _mon.register_callback(self._tool, line, self._on_line)  # re-arms it
        if previous is not self._on_line:
            self.note(
                f"test {self._tests} replaced the sys.monitoring LINE callback of tool id "
                f"{self._tool} (now {previous!r}): lines of that test may be missing; re-armed"
            )
        cleared = [
            code
            for code in self._codes.values()
            if not _mon.get_local_events(self._tool, code) & line
        ]
        if cleared:
            for code in cleared:
                _mon.set_local_events(self._tool, code, line)
            self.note(
                f"test {self._tests} cleared the sys.monitoring events of {len(cleared)} scope "
                "code object(s): lines of that test may be missing; re-armed"
            )

    def _check_tool(self) -> None:
        """Notice our tool id freed or taken by someone else; re-arm on a fresh id."""
        if self._tool is not None:
            if _mon.get_tool(self._tool) == TOOL_NAME:
                return
            holder = _mon.get_tool(self._tool)
            self.note(
                f"sys.monitoring tool id {self._tool} was freed or taken (now {holder!r}) "
                f"by the end of test {self._tests}: lines of that test may be missing"
            )
            self._tool = None
        # Without a tool nothing is recorded; try again at every check.
        if self._claim_tool():
            for code in self._codes.values():
                _mon.set_local_events(self._tool, code, _mon.events.LINE)

    def _instrument(self, functions: dict[str, list[types.FunctionType]]) -> None:
        if self._tool is None:
            return
        line = _mon.events.LINE
        for funcs in functions.values():
            for func in funcs:
                for code in code_tree(func.__code__):
                    if id(code) not in self._codes:
                        self._codes[id(code)] = code
                        _mon.set_local_events(self._tool, code, line)

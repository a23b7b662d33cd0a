"""Every exit status of ours, by name, for the plugin and the `invariants` command.

Inside a pytest run, pytest's own statuses (`pytest.ExitCode`, 0-5) keep their
meaning and win over ours; ours start at 7 so that a CI script can tell "the
tests failed" (1) from "the tests passed but the gate failed" (7). The
`invariants` command uses argparse's convention: 2 for a usage error.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """The exit statuses of `pytest --invariants` and the `invariants` command."""

    OK = 0
    #: problems found (`check`), a `--fail-on` change (`diff`)
    PROBLEMS = 1
    #: a usage error or unreadable input (the `invariants` command)
    USAGE = 2
    GATE_FAILED = 7
    RESULTS_UNWRITABLE = 8
    #: `invariants prove`: a named invariant is not proven, or the kill rate is under --fail-under
    PROOF_FAILED = 9
    #: the shell's status for SIGINT, for the `invariants` command
    KEYBOARD_INTERRUPT = 130

"""The `invariants` command: work on invariant files and saved results without pytest.

`main(argv)` runs one subcommand (`cli/commands.py`, `cli/prove.py`, ...) and
never lets a traceback reach the user for bad input: errors print one located
line and return 2 (usage, unreadable input) or 1 (problems found).

This module imports almost nothing: `invariants prove` starts its worker
process before the rest of the package is imported (docs/prove.md), so only
the subcommand that runs pays for its imports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pytest_invariants.cli.errors import CliError
from pytest_invariants.exitcodes import ExitCode

__all__ = ["main"]


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    if list(argv[:1]) == ["prove"]:
        from pytest_invariants.cli.prove import add_prove_parser
        from pytest_invariants.cli.root import root_parser

        parser, sub = root_parser()
        add_prove_parser(sub)
        return parser
    from pytest_invariants.cli.commands import build_parser

    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `invariants` command; return its exit status."""
    given = list(sys.argv[1:] if argv is None else argv)
    args = _parser(given).parse_args(given)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"invariants {args.command}: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except BrokenPipeError:
        return ExitCode.OK
    except KeyboardInterrupt:
        print("invariants: interrupted", file=sys.stderr)
        return ExitCode.KEYBOARD_INTERRUPT
    except Exception as exc:
        from pytest_invariants.results import WriteError

        if not isinstance(exc, WriteError):
            raise
        # One line, the documented status (8), never a traceback.
        print(f"invariants {args.command}: {exc}", file=sys.stderr)
        return ExitCode.RESULTS_UNWRITABLE

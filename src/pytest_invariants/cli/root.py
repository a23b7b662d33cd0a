"""The `invariants` command's top-level parser, shared by the full and the `prove` wiring."""

from __future__ import annotations

import argparse

from pytest_invariants import __version__

__all__ = ["root_parser"]

DESCRIPTION = "The `invariants` command: work on invariant files and saved results without pytest."


def root_parser() -> tuple[
    argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]
]:
    """Return the `invariants` parser and its (empty) subcommands."""
    parser = argparse.ArgumentParser(prog="invariants", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"pytest-invariants {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    return parser, sub

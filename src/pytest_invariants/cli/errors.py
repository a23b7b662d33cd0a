"""The one user-error class of the `invariants` command."""

from __future__ import annotations

__all__ = ["CliError"]


class CliError(Exception):
    """A message for the user: `main` prints it after the command's name and exits 2."""

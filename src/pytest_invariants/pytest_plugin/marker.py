"""The `invariant` marker's name and help: all a plain pytest run needs of us."""

from __future__ import annotations

__all__ = ["MARKER", "MARKER_HELP"]

MARKER = "invariant"
MARKER_HELP = (
    "invariant(*ids): this test verifies the named invariants (pytest-invariants); "
    "the ids come from the invariants file"
)

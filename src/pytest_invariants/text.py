"""Small text helpers shared by every stage."""

from __future__ import annotations

__all__ = ["words"]


def words(text: str) -> str:
    """Return `text` with every run of white space folded to one space."""
    return " ".join(text.split())

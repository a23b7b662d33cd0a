"""Small text helpers shared by every stage."""

from __future__ import annotations

import re

__all__ = ["printable", "words"]

# C0 controls, DEL and C1 controls: a terminal acts on them (colours, cursor moves,
# titles, hyperlinks, 8-bit CSI), so user text must never carry them to it raw.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def words(text: str) -> str:
    """Return `text` with every run of white space folded to one space."""
    return " ".join(text.split())


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return " " if char in "\t\n\r\x0b\x0c" else f"\\x{ord(char):02x}"


def printable(text: object) -> str:
    """Return `text` safe for a terminal: one line, each control character shown as `\\xNN`.

    Tabs and line breaks become spaces, so a title cannot forge a line of our own
    output (such as "invariants gate: passed"); an escape character prints as `\\x1b`.
    """
    return _CONTROL.sub(_visible, str(text))

"""Compare a report with its saved gold file; INVARIANTS_REGOLD=1 rewrites the gold files."""

from __future__ import annotations

import os
import re
from pathlib import Path

GOLD = Path(__file__).parent / "data" / "gold"

_SCRUBS = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?"), "TIMESTAMP"),
    (re.compile(r"/tmp/[^\s\"'<]+"), "TMPDIR"),
]


def scrub(text: str) -> str:
    """Replace what changes from run to run (timestamps, temporary folders)."""
    for pattern, replacement in _SCRUBS:
        text = pattern.sub(replacement, text)
    return text


def check_gold(name: str, actual: str) -> None:
    """Assert that `actual`, scrubbed, equals the gold file `name`."""
    path = GOLD / name
    text = scrub(actual)
    if os.environ.get("INVARIANTS_REGOLD"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its gold file; INVARIANTS_REGOLD=1 rewrites it"

"""pytest-invariants: which must-never-break rules does the test suite really prove?"""

from __future__ import annotations

__version__ = "0.1.0"

"""`python -m pytest_invariants`: the `invariants` command."""

from __future__ import annotations

import sys

from pytest_invariants.cli.main import main

sys.exit(main())

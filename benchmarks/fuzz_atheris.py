"""Fuzz the results reader with atheris (coverage-guided); optional, not part of the suite.

Usage::

    pip install atheris
    python benchmarks/fuzz_atheris.py [-runs=200000] [-max_total_time=120] [CORPUS_DIR ...]

Each input is taken as the bytes of a results file. The property is the one
tests/test_results_fuzz.py checks with hypothesis: the reader returns usable
results (every report renders from them) or raises ResultsError; any other
exception is a crash, which libFuzzer saves as `crash-<sha1>` in the current
directory. Copy a crash into tests/data/crashers/ with a `.json` name that
says what is wrong in it; the suite replays every file there.

Seeding the corpus with a real file (`.invariants/results.json`) finds deep
damage much sooner than starting from nothing.
"""

from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports():
    from pytest_invariants.reports.files import render_format
    from pytest_invariants.results import ResultsError, from_dict
    from pytest_invariants.status import classify


def one_input(data: bytes) -> None:
    """Read `data` as a results file; let any exception but ResultsError escape."""
    try:
        text = data.decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return  # read_results turns these into ResultsError before from_dict runs
    try:
        results = from_dict(parsed, "fuzz")
    except ResultsError:
        return
    classify(results.invariant_set, results.tests)
    for fmt in ("md", "sarif", "html"):
        render_format(fmt, results, None)


def main() -> None:
    """Hand control to libFuzzer."""
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

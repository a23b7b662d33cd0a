"""The pytest entry point: options, the marker, and the switch that starts a run.

A plain `pytest` run imports only this module and the marker's name: everything
else is imported (lazily, below) only when `--invariants` is given, so having
the plugin installed costs a normal run nothing measurable.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_invariants import hookspecs
from pytest_invariants.pytest_plugin.marker import MARKER, MARKER_HELP

__all__: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("invariants", "pytest-invariants: which invariants the suite proves")
    group.addoption(
        "--invariants",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="link tests to invariants and report how each is verified; "
        "--invariants=PATH names the invariants file or folder (default: discovered)",
    )
    group.addoption("--invariants-json", metavar="PATH", help="also write the results JSON here")
    group.addoption("--invariants-html", metavar="PATH", help="write the HTML verification report")
    group.addoption("--invariants-md", metavar="PATH", help="write the Markdown report")
    group.addoption("--invariants-sarif", metavar="PATH", help="write a SARIF 2.1.0 report")
    group.addoption(
        "--invariants-gate",
        metavar="POLICY",
        help="fail the run on these statuses, e.g. 'critical:mock-only,unverified;high:unverified'"
        " (overrides the file's gate: section per severity)",
    )
    group.addoption(
        "--invariants-baseline",
        metavar="PATH",
        help="results of an earlier run (e.g. main's): the gate fails only on findings that "
        "are new or worse than there",
    )
    group.addoption(
        "--invariants-prove",
        action="store_true",
        default=False,
        help="prove verified invariants by targeted mutation after the tests",
    )
    parser.addini("invariants_file", "path of the invariants file or folder", default=None)
    parser.addini("invariants_gate", "gate policy, same syntax as --invariants-gate", default=None)
    parser.addini(
        "invariants_baseline", "baseline results file, as --invariants-baseline", default=None
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: Any, args: list[str]
) -> None:
    # `--invariants` takes a value only as `--invariants=PATH`: in `pytest --invariants tests/`
    # the user means a test path, so a bare flag is rewritten before argparse sees it.
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--invariants":
            args[index] = "--invariants="


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}{MARKER_HELP[len(MARKER) :]}")
    if config.getoption("invariants") is None:
        if config.getoption("invariants_prove"):
            raise pytest.UsageError("--invariants-prove needs --invariants (it proves its results)")
        return
    started = time.process_time()  # the load phase includes importing the machinery
    # Lazy: a run without --invariants never imports the machinery.
    from pytest_invariants.pytest_plugin.run import start_run

    start_run(config, started)

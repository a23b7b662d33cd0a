"""The pytest entry point: options, the marker, and the switch that starts a run.

A plain `pytest` run imports only this module and the marker's name: everything
else is imported (lazily, below) only when the plugin is on, so having it
installed costs a normal run nothing measurable.

The plugin is on with `--invariants`, or with any of our other command-line
options (asking for a report or a gate means asking for the run that makes
it; the header says so), and off with `--no-invariants`, which beats both, so
one run can opt out of an `addopts = --invariants`. Each option but
`--invariants` has an ini key of the same name with `_` for `-`; the command
line wins over the ini file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pytest_invariants import hookspecs
from pytest_invariants.pytest_plugin.marker import MARKER, MARKER_HELP

__all__: list[str] = []

# The options that turn the plugin on by themselves (dest names, which are also the ini keys).
_IMPLYING = (
    "invariants_json",
    "invariants_html",
    "invariants_md",
    "invariants_sarif",
    "invariants_gate",
    "invariants_baseline",
    "invariants_prove",
)
_STATE = pytest.StashKey[str]()  # what the header says about how the plugin was switched


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("invariants", "pytest-invariants: which invariants the suite proves")
    group.addoption(
        "--invariants",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="link tests to invariants and report how each is verified; "
        "--invariants=PATH names the invariants file or folder (default: ini invariants_file, "
        "else discovered)",
    )
    group.addoption(
        "--no-invariants",
        action="store_true",
        default=False,
        help="turn pytest-invariants off for this run, even with --invariants in addopts",
    )
    paths = {
        "json": "also write the results JSON here",
        "html": "write the HTML verification report",
        "md": "write the Markdown report",
        "sarif": "write a SARIF 2.1.0 report",
    }
    for name, text in paths.items():
        group.addoption(
            f"--invariants-{name}", metavar="PATH", help=f"{text} (implies --invariants)"
        )
        parser.addini(f"invariants_{name}", f"{text} (path relative to the ini file)", default=None)
    group.addoption(
        "--invariants-gate",
        metavar="POLICY",
        help="fail the run on these statuses, e.g. 'critical:mock-only,unverified;high:unverified'"
        " (overrides the file's gate: section per severity; implies --invariants)",
    )
    group.addoption(
        "--invariants-baseline",
        metavar="PATH",
        help="results of an earlier run (e.g. main's): the gate fails only on findings that "
        "are new or worse than there (implies --invariants)",
    )
    group.addoption(
        "--invariants-prove",
        action="store_true",
        default=False,
        help="prove verified invariants by targeted mutation after the tests"
        " (implies --invariants)",
    )
    group.addoption(
        "--invariants-no-subprocess",
        action="store_true",
        default=False,
        help="do not observe scope code in the Python child processes tests start",
    )
    parser.addini("invariants_file", "path of the invariants file or folder", default=None)
    parser.addini("invariants_gate", "gate policy, same syntax as --invariants-gate", default=None)
    parser.addini(
        "invariants_baseline", "baseline results file, as --invariants-baseline", default=None
    )
    parser.addini(
        "invariants_prove", "prove verified invariants by mutation", type="bool", default=False
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def _looks_like_invariants(arg: str) -> bool:
    """Return True when a test path is most likely the invariants file or folder."""
    path = Path(arg)
    if path.suffix in (".yaml", ".yml"):
        return "invariant" in path.name.lower()
    return path.name == "invariants" and path.is_dir()


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: Any, args: list[str]
) -> None:
    # `--invariants` takes a value only as `--invariants=PATH`: in `pytest --invariants tests/`
    # the user means a test path, so a bare flag is rewritten before argparse sees it.
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--invariants":
            following = args[index + 1] if index + 1 < len(args) else ""
            if _looks_like_invariants(following):
                raise pytest.UsageError(
                    f"`--invariants {following}`: with a space, {following} is read as a test "
                    f"path -- write --invariants={following} to name the invariants file"
                )
            args[index] = "--invariants="


def _implied_by(config: pytest.Config) -> list[str]:
    """Return the command-line options given that turn the plugin on without --invariants."""
    return [f"--{name.replace('_', '-')}" for name in _IMPLYING if config.getoption(name)]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}{MARKER_HELP[len(MARKER) :]}")
    implied = _implied_by(config)
    if config.getoption("no_invariants"):
        if config.getoption("invariants") is not None or implied:
            config.stash[_STATE] = "invariants: off (--no-invariants)"
        return
    if config.getoption("invariants") is None:
        if not implied:
            return
        config.option.invariants = ""
        config.stash[_STATE] = f"invariants: on ({', '.join(implied)} implies --invariants)"
    started = time.process_time()  # the load phase includes importing the machinery
    # Lazy: a run without the plugin on never imports the machinery.
    from pytest_invariants.pytest_plugin.run import start_run

    start_run(config, started)


def pytest_report_header(config: pytest.Config) -> str | None:
    return config.stash.get(_STATE, None)

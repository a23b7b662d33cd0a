"""`invariants why TARGET`: which invariants guard this code, and what the last run saw.

TARGET is `path/to/file.py:LINE`, `path/to/file.py` or `module:qualname`. It is
resolved the way `code:` entries are (`load.scopes`: found on the import path
and parsed with `ast`, never imported), then answered from the saved results.
A file that changed since the run is refused: its line numbers may point at
other code now.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Final

from pytest_invariants.cli.errors import CliError
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.load.scopes import ScopeResolver, search_path
from pytest_invariants.load.sources import digest
from pytest_invariants.model import Location, Problem, RunResults
from pytest_invariants.reports.why import render_json, render_text
from pytest_invariants.results import DEFAULT_PATH, ResultsError, read_results
from pytest_invariants.why import Target, explain

__all__ = ["add_why_parser", "why_main"]

_WITH_LINE: Final = re.compile(r"^(?P<file>.+):(?P<line>\d+)$")
_FORMS: Final = "write `path/to/file.py:LINE`, `path/to/file.py` or `module:qualname`"


def _rootdir(args: argparse.Namespace, results: RunResults) -> Path:
    if args.rootdir:
        return Path(args.rootdir).resolve()
    recorded = Path(results.info.rootdir) if results.info.rootdir else None
    return recorded if recorded is not None and recorded.is_dir() else Path.cwd()


def _is_path(text: str) -> bool:
    return text.endswith(".py") or "/" in text or "\\" in text


def _file_argument(text: str, rootdir: Path) -> str:
    """Return the path the resolver should read: relative to the cwd when it exists there."""
    path = Path(text).expanduser()
    if not path.is_absolute() and (Path.cwd() / path).exists():
        return str((Path.cwd() / path).resolve())
    return text if path.is_absolute() else str(rootdir / path)


def _resolve(text: str, resolver: ScopeResolver, rootdir: Path) -> tuple[Target, int | None]:
    """Return the target and the line asked about (None for a whole file or a definition)."""
    match = _WITH_LINE.match(text)
    raw, line = (match["file"], int(match["line"])) if match else (text, None)
    if line is not None and not _is_path(raw):
        raise CliError(f"`{text}`: a line number needs a file path -- {_FORMS}")
    argument = _file_argument(raw, rootdir) if _is_path(raw) else raw
    entry = resolver.resolve(argument, Location("TARGET"))
    if isinstance(entry, Problem):
        fix = f" -- {entry.fix}" if entry.fix else ""
        raise CliError(f"{entry.what.replace(argument, raw)}{fix}")
    lines = (line, line) if line is not None else entry.lines
    return Target(entry.file, lines, text), line


def _check_fresh(target: Target, results: RunResults, rootdir: Path, where: str) -> list[str]:
    """Refuse a target whose file changed since the run; return caveats to print."""
    recorded = results.invariant_set.sources.get(target.file)
    if recorded is None:
        if not results.invariant_set.sources and results.invariants:
            return [
                f"{where} holds no file hashes (written before results schema 2): "
                f"cannot tell whether {target.file} changed since that run"
            ]
        return []
    path = Path(target.file)
    if digest(path if path.is_absolute() else rootdir / path) != recorded:
        when = f" (finished {results.info.finished})" if results.info.finished else ""
        raise CliError(
            f"{target.file} changed since the run that wrote {where}{when}: its line numbers "
            "may point at other code now -- re-run `pytest --invariants` and ask again"
        )
    return []


def _check_line(target: Target, line: int, rootdir: Path) -> None:
    path = Path(target.file)
    path = path if path.is_absolute() else rootdir / path
    try:
        count = len(path.read_text(encoding="utf-8", errors="replace").splitlines())
    except OSError as exc:
        raise CliError(f"{target.file}: cannot read ({exc.strerror or exc})") from None
    if not 1 <= line <= count:
        raise CliError(
            f"line {line} is outside {target.file} ({count} lines) -- name a line from 1 to {count}"
        )


def why_main(args: argparse.Namespace) -> int:
    """Print every invariant guarding TARGET, from saved results."""
    where = args.results
    try:
        results = read_results(Path(where))
    except ResultsError as exc:
        raise CliError(str(exc)) from None
    rootdir = _rootdir(args, results)
    resolver = ScopeResolver(rootdir, search_path(rootdir))
    target, line = _resolve(args.target, resolver, rootdir)
    notes = _check_fresh(target, results, rootdir, where)
    if line is not None:
        _check_line(target, line, rootdir)
    answer = explain(results, target)
    render = render_json if args.format == "json" else render_text
    sys.stdout.write(render(answer, notes))
    return ExitCode.OK


def add_why_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `invariants why TARGET`."""
    parser = subparsers.add_parser(
        "why",
        help="which invariants guard this code, and which tests ran it",
        description="Show every invariant whose code: scope contains TARGET, with the tests "
        "that ran it for real, under test doubles, or claimed it without reaching it. "
        "Reads saved results; never imports your code.",
    )
    parser.add_argument("target", metavar="TARGET", help=_FORMS.removeprefix("write "))
    parser.add_argument(
        "--results",
        default=str(DEFAULT_PATH),
        metavar="RESULTS.json",
        help=f"results of `pytest --invariants` (default: {DEFAULT_PATH})",
    )
    parser.add_argument("--rootdir", help="project root (default: the one the results name)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=why_main)

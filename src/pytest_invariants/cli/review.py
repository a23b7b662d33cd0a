"""`invariants diff` and `invariants review`: the pull-request side of the tool.

Exit codes of `invariants diff`:

- 0 (ExitCode.OK): nothing named by `--fail-on` applies;
- 1 (ExitCode.PROBLEMS): something named by `--fail-on` applies (removed, weakened,
  impacted-unverified, suspect);
- 2 (ExitCode.USAGE): bad arguments, git trouble (not a repository, unknown
  revision, shallow clone), unreadable results, or invalid invariants at HEAD.

`invariants review` returns 0 when the fingerprints were written and 2 when it
could not write them.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pytest_invariants.cli.errors import CliError
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.load.loading import LoadError, discover, format_problems, load_invariants
from pytest_invariants.load.pytestini import ini_setting
from pytest_invariants.load.scopes import search_path
from pytest_invariants.model import Invariant, InvariantSet, RunResults
from pytest_invariants.reports.diff import render_github, render_json, render_markdown
from pytest_invariants.results import ResultsError, read_results
from pytest_invariants.review.compare import FAIL_ON, failures
from pytest_invariants.review.diff import HeadInvalid
from pytest_invariants.review.diff import run_diff as _run_diff
from pytest_invariants.review.edit import ReviewError, write_reviewed
from pytest_invariants.review.fingerprint import disk_reader, fingerprint
from pytest_invariants.review.gitfiles import GitError

__all__ = [
    "add_diff_parser",
    "add_review_parser",
    "diff_main",
    "review_main",
]


FORMATS: Final = ("markdown", "json", "github")


def _error(command: str, message: str) -> int:
    print(f"invariants {command}: {message}", file=sys.stderr)
    return ExitCode.USAGE


# -- invariants diff ------------------------------------------------------------------


def _fail_on(text: str | None) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in FAIL_ON]
    if unknown:
        raise CliError(
            f"--fail-on: unknown {', '.join(unknown)} -- choose from {','.join(FAIL_ON)}"
        )
    return names


def _results(path: str | None) -> RunResults | None:
    if not path:
        return None
    try:
        return read_results(Path(path))
    except ResultsError as exc:
        raise CliError(str(exc)) from None


def _render(fmt: str, report: Any, fail_on: Sequence[str], failed: Sequence[str]) -> str:
    if fmt == "json":
        return render_json(report, failed)
    if fmt == "github":
        return render_github(report, fail_on)
    return render_markdown(report)


def diff_main(args: argparse.Namespace) -> int:
    """Compare invariants and guarded code between two revisions; print the review."""
    try:
        fail_on = _fail_on(args.fail_on)
        results = _results(args.results)
        if "impacted-unverified" in fail_on and results is None:
            raise CliError(
                "--fail-on impacted-unverified needs --results RESULTS.json "
                "(from `pytest --invariants`)"
            )
        report = _run_diff(
            Path(args.rootdir).resolve(),
            args.base,
            args.head,
            explicit=args.invariants,
            results=results,
            merge_base=args.merge_base,
        )
    except (CliError, GitError) as exc:
        return _error("diff", str(exc))
    except HeadInvalid as exc:
        return _head_invalid(exc)
    failed = failures(report, fail_on)
    sys.stdout.write(_render(args.format, report, fail_on, failed))
    for reason in failed:
        print(f"invariants diff: --fail-on: {reason}", file=sys.stderr)
    return ExitCode.PROBLEMS if failed else ExitCode.OK


def _head_invalid(exc: HeadInvalid) -> int:

    print(format_problems(list(exc.problems)), file=sys.stderr)
    return _error(
        "diff",
        f"the invariants at HEAD are invalid ({len(exc.problems)} problem(s)); "
        "fix them first (`invariants check`)",
    )


def add_diff_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `invariants diff BASE [HEAD]`."""
    parser = subparsers.add_parser(
        "diff",
        help="review invariant and guarded-code changes between git revisions",
        description="Compare the invariants (and the code they guard) at BASE with HEAD "
        "(default: the working tree). Exit 0, 1 when --fail-on applies, 2 on error.",
    )
    parser.add_argument(
        "base",
        metavar="BASE",
        nargs="?",
        default=None,
        help="base revision, e.g. origin/main (default: the merge base of HEAD and origin/HEAD, "
        "the upstream default branch)",
    )
    parser.add_argument(
        "head",
        metavar="HEAD",
        nargs="?",
        default=None,
        help="head revision (default: the working tree)",
    )
    parser.add_argument("--invariants", metavar="PATH", help="invariants file or folder")
    parser.add_argument("--rootdir", default=".", help="project root (default: .)")
    parser.add_argument(
        "--results",
        metavar="RESULTS.json",
        help="results of `pytest --invariants` to show each impacted status",
    )
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument(
        "--fail-on", metavar="LIST", help=f"exit 1 when any applies: {','.join(FAIL_ON)}"
    )
    parser.add_argument(
        "--merge-base",
        action="store_true",
        help="compare from the merge base of BASE and HEAD (like BASE...HEAD)",
    )
    parser.set_defaults(func=diff_main)


# -- invariants review ------------------------------------------------------------------


def _load(rootdir: Path, explicit: str | None) -> InvariantSet:

    try:
        paths = discover(rootdir, explicit, ini_setting(rootdir, "invariants_file"))
    except LoadError as exc:
        raise CliError(format_problems(exc.problems)) from None
    if not paths:
        raise CliError(f"no invariants file found under {rootdir}")
    invariant_set, problems = load_invariants(paths, rootdir, search_path(rootdir))
    if invariant_set is None or problems:
        raise CliError(format_problems(problems) + "\nfix these before reviewing")
    return invariant_set


def _chosen(invariant_set: InvariantSet, ids: Sequence[str], every: bool) -> list[Invariant]:
    by_id = invariant_set.by_id()
    if every:
        return list(invariant_set.invariants)
    if not ids:
        raise CliError("name the invariants to review (IDs), or pass --all")
    for iid in ids:
        if iid not in by_id:
            close = difflib.get_close_matches(iid, list(by_id), n=1)
            hint = f" -- did you mean {close[0]}?" if close else ""
            raise CliError(f"unknown invariant id {iid!r}{hint}")
    return [by_id[iid] for iid in dict.fromkeys(ids)]


def _file_of(inv: Invariant, rootdir: Path) -> Path:
    path = Path(inv.location.path)
    return path if path.is_absolute() else rootdir / path


def _write(chosen: Sequence[Invariant], rootdir: Path) -> list[tuple[str, str, str]]:
    """Write each fingerprint into its file; return (id, fingerprint, file) for those changed."""
    read = disk_reader(rootdir)
    by_file: dict[Path, dict[str, str]] = {}
    for inv in chosen:
        by_file.setdefault(_file_of(inv, rootdir), {})[inv.id] = fingerprint(inv, read)
    written: list[tuple[str, str, str]] = []
    for path, prints in by_file.items():
        for iid in write_reviewed(path, prints):
            written.append(
                (
                    iid,
                    prints[iid],
                    str(path.relative_to(rootdir) if rootdir in path.parents else path),
                )
            )
    return written


def review_main(args: argparse.Namespace) -> int:
    """Record that the named invariants were reviewed, as they and their code are now."""
    rootdir = Path(args.rootdir).resolve()
    try:
        chosen = _chosen(_load(rootdir, args.invariants), args.ids, args.all)
        written = _write(chosen, rootdir)
    except (CliError, ReviewError) as exc:
        return _error("review", str(exc))
    for iid, value, where in written:
        print(f"invariants review: {iid} reviewed ({value[:19]}…) in {where}")
    unchanged = len(chosen) - len(written)
    if unchanged:
        print(f"invariants review: {unchanged} already up to date")
    return ExitCode.OK


def add_review_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `invariants review ID... | --all`."""
    parser = subparsers.add_parser(
        "review",
        help="record that invariants were reviewed (clears 'suspect')",
        description="Write the `reviewed:` fingerprint of each invariant (its meaning and its "
        "scope code) into the invariants file; later changes make it suspect.",
    )
    parser.add_argument("ids", nargs="*", metavar="ID", help="invariant ids to mark reviewed")
    parser.add_argument("--all", action="store_true", help="every invariant")
    parser.add_argument("--invariants", metavar="PATH", help="invariants file or folder")
    parser.add_argument("--rootdir", default=".", help="project root (default: .)")
    parser.set_defaults(func=review_main)

"""The `invariants` subcommands and their parser (`cli/main.py` runs them).

Every subcommand is `name_main(args) -> int`; `cli.main.main(argv)` never lets a
traceback reach the user for bad input: errors print one located line and
return 2 (usage, unreadable input) or 1 (problems found).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

from pytest_invariants.cli.errors import CliError
from pytest_invariants.cli.owners import add_owners_parser, owner_drift_lines
from pytest_invariants.cli.prove import add_prove_parser
from pytest_invariants.cli.ratchet import apply_baseline, ratchet_lines
from pytest_invariants.cli.review import add_diff_parser, add_review_parser
from pytest_invariants.cli.root import root_parser
from pytest_invariants.cli.why import add_why_parser
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.gate import (
    PolicyError,
    Violation,
    evaluate,
    merge_policies,
    not_judged,
    parse_policy,
)
from pytest_invariants.graph import FORMATS, build_graph, export
from pytest_invariants.load.loading import LoadError, discover, format_problems, load_invariants
from pytest_invariants.load.pytestini import ini_setting
from pytest_invariants.load.scopes import search_path
from pytest_invariants.model import InvariantSet, Outcome, RunResults, TestEvidence
from pytest_invariants.reports.files import write_reports
from pytest_invariants.results import (
    ResultsError,
    read_results,
    write_atomically,
    write_results,
)
from pytest_invariants.review.fingerprint import disk_reader, suspect_ids
from pytest_invariants.status import classify
from pytest_invariants.text import printable

__all__ = ["build_parser"]


def _emit(text: str, output: str | None) -> None:
    if output:
        write_atomically(Path(output), text)
        print(f"invariants: wrote {output}")
    else:
        sys.stdout.write(text)


def _read(path: str) -> RunResults:
    try:
        return read_results(Path(path))
    except ResultsError as exc:
        raise CliError(str(exc)) from None


# -- check / schema -------------------------------------------------------------


def check_main(args: argparse.Namespace) -> int:
    """Validate the invariants files; print every problem with its location."""

    rootdir = Path(args.rootdir).resolve()
    try:
        # A folder argument means what --invariants=FOLDER means: its YAML files.
        given = [found for p in args.paths for found in discover(rootdir, str(Path(p).resolve()))]
        paths = given or discover(rootdir, ini_value=ini_setting(rootdir, "invariants_file"))
    except LoadError as exc:
        print(format_problems(exc.problems), file=sys.stderr)
        return ExitCode.PROBLEMS
    if not paths:
        raise CliError(f"no invariants file found under {rootdir} (invariants/ or invariants.yaml)")
    invariant_set, problems = load_invariants(paths, rootdir, search_path(rootdir))
    if invariant_set is None or problems:
        print(format_problems(problems), file=sys.stderr)
        return ExitCode.PROBLEMS
    suspects = _suspects(invariant_set, rootdir)
    for iid in sorted(suspects):
        why = "its meaning or scope code changed since `invariants review`"
        print(f"{printable(iid)}: suspect -- {why}")
    drift = owner_drift_lines(invariant_set, rootdir)
    for line in drift:
        print(printable(line), file=sys.stderr)
    count = len(invariant_set.invariants)
    failed = []
    if suspects and args.fail_on_suspect:
        failed.append(f"{len(suspects)} invariant(s) need `invariants review` (--fail-on-suspect)")
    if drift and args.strict_owners:
        failed.append(f"{len(drift)} ownership warning(s) above (--strict-owners)")
    if failed:
        # The last line is what CI logs show: it must say why the status is 1.
        print(
            f"invariants check failed: {'; '.join(failed)}; the files themselves are valid "
            f"({count} invariant(s))"
        )
        return ExitCode.PROBLEMS
    print(f"invariants: {count} invariant(s) in {len(paths)} file(s) are valid")
    return ExitCode.OK


def _suspects(invariant_set: InvariantSet, rootdir: Path) -> set[str]:
    return suspect_ids(invariant_set, disk_reader(rootdir))


def schema_main(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the invariants file (or of the results file)."""
    name = "results.schema.json" if args.results else "invariants.schema.json"
    text = (
        resources.files("pytest_invariants").joinpath("schemas").joinpath(name).read_text("utf-8")
    )
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return ExitCode.OK


# -- gate / report / graph ----------------------------------------------------------


def gate_main(args: argparse.Namespace) -> int:
    """Apply a gate policy to saved results; exit 7 when it fails."""
    results = _read(args.results)
    try:
        override = parse_policy(args.policy) if args.policy is not None else None
    except PolicyError as exc:
        raise CliError(str(exc)) from None
    policy = merge_policies(results.invariant_set.gate, override)
    if policy.is_empty():
        print("invariants gate: no policy (give --policy or a gate: section); nothing is gated")
        return ExitCode.OK
    violations = evaluate(results.invariants, policy)
    if not results.info.complete:
        print("invariants gate: these results come from an incomplete run")
    if results.info.partial:
        why = printable(
            "; ".join(results.info.partial_reasons) or "some claiming tests did not run"
        )
        print(
            f"invariants gate: the run was partial ({why}): partial invariants are judged "
            "only for failing"
        )
        skipped = not_judged(results.invariants, policy)
        if skipped:
            print(f"invariants gate: not judged in a partial run: {', '.join(skipped)}")
    if args.baseline:
        return _gate_with_baseline(args.baseline, results, violations)
    for violation in violations:
        print(f"  {printable(violation.render())}")
    if violations:
        print(
            f"invariants gate failed: {len(violations)} violation(s) "
            f"(exit {int(ExitCode.GATE_FAILED)})"
        )
        return ExitCode.GATE_FAILED
    print(f"invariants gate passed: {len(results.invariants)} invariant(s) checked")
    return ExitCode.OK


def _gate_with_baseline(path: str, results: RunResults, violations: list[Violation]) -> int:
    found = apply_baseline(path, results, violations)
    for line in ratchet_lines(found):
        print(printable(line))
    if found.new:
        print(f"invariants gate failed: {found.summary()} (exit {int(ExitCode.GATE_FAILED)})")
        return ExitCode.GATE_FAILED
    print(f"invariants gate passed: {found.summary()}")
    return ExitCode.OK


def report_main(args: argparse.Namespace) -> int:
    """Render reports from saved results."""

    results = _read(args.results)
    if not (args.html or args.md or args.sarif):
        raise CliError("name at least one of --html PATH, --md PATH, --sarif PATH")
    policy = merge_policies(results.invariant_set.gate, None)
    violations = None if policy.is_empty() else evaluate(results.invariants, policy)
    paths = {
        fmt: Path(p) if p else None
        for fmt, p in (("html", args.html), ("md", args.md), ("sarif", args.sarif))
    }
    written, errors = write_reports(results, violations, paths)
    for path in written:
        print(f"invariants: wrote {path}")
    for error in errors:
        print(f"invariants report: {error}", file=sys.stderr)
    return ExitCode.RESULTS_UNWRITABLE if errors else ExitCode.OK


def graph_main(args: argparse.Namespace) -> int:
    """Export the graph of saved results."""
    results = _read(args.results)
    _emit(export(build_graph(results), args.format), args.output)
    return ExitCode.OK


# -- combine ------------------------------------------------------------------------


def _merge_tests(shards: Sequence[RunResults]) -> list[TestEvidence]:
    """Merge per-test evidence: a test that ran in some shard beats a deselected copy."""
    merged: dict[str, TestEvidence] = {}
    for shard in shards:
        for ev in shard.tests:
            known = merged.get(ev.nodeid)
            if known is None or known.outcome is Outcome.DESELECTED:
                merged[ev.nodeid] = ev
    return list(merged.values())


def _same_run(a: RunResults, b: RunResults) -> bool:
    """Return True when two results files come from one run (a copy, or one file named twice)."""
    return a.info == b.info and [t.nodeid for t in a.tests] == [t.nodeid for t in b.tests]


def _warn_repeats(paths: Sequence[str], shards: Sequence[RunResults]) -> None:
    # A shard given twice counts once (merging is idempotent), but it usually means a
    # wrong glob in a CI script, with another shard missing: say so rather than stay silent.
    seen: dict[Path, str] = {}
    for index, path in enumerate(paths):
        real = Path(path).resolve()
        earlier = seen.get(real) or next(
            (paths[j] for j in range(index) if _same_run(shards[j], shards[index])), None
        )
        seen.setdefault(real, path)
        if earlier is not None:
            print(
                f"invariants combine: warning: {path} is the same run as {earlier} "
                "(counted once) -- is another shard missing?",
                file=sys.stderr,
            )


def combine_main(args: argparse.Namespace) -> int:
    """Merge shard results into one, recomputing every status from the merged evidence."""
    shards = [_read(path) for path in args.shards]
    _warn_repeats(args.shards, shards)
    first = shards[0]
    for path, shard in zip(args.shards[1:], shards[1:], strict=True):
        if shard.invariant_set.fingerprint != first.invariant_set.fingerprint:
            raise CliError(
                f"{path}: made from other invariant files than {args.shards[0]}; "
                "re-run every shard on the same commit"
            )
        if shard.info.tool_version != first.info.tool_version:
            raise CliError(
                f"{path}: made by pytest-invariants {shard.info.tool_version}, "
                f"{args.shards[0]} by {first.info.tool_version}"
            )
    tests = _merge_tests(shards)
    suspect = {r.invariant.id for s in shards for r in s.invariants if r.suspect}
    # The shards together are the run: a claimant that ran in no shard makes its
    # invariant partial, but no shard's "claims outside me are unknown" survives the
    # merge (docs/reliability.md), so shards that cover the suite equal a serial run.
    claims_known = True
    verdicts = classify(first.invariant_set, tests, suspect=suspect)
    partial = any(r.partial for r in verdicts)
    info = replace(
        first.info,
        complete=all(s.info.complete for s in shards),
        partial=partial,
        partial_reasons=("some claiming tests ran in none of the shards",) if partial else (),
        claims_known=claims_known,
        args=("combine", *args.shards),
    )
    # Shards that together ran everything are a whole run: they make a new claim index.
    index = {nodeid: ids for shard in shards for nodeid, ids in shard.claim_index.items()}
    if not partial:
        index = {ev.nodeid: ev.claims for ev in tests if ev.claims}
    combined = RunResults(first.invariant_set, verdicts, tuple(tests), info, index)
    write_results(combined, Path(args.output))
    print(f"invariants: combined {len(shards)} shard(s), {len(tests)} test(s) into {args.output}")
    return ExitCode.OK


# -- wiring --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand."""
    parser, sub = root_parser()

    check = sub.add_parser("check", help="validate the invariants files")
    check.add_argument("paths", nargs="*", help="files to check (default: discovered)")
    check.add_argument("--rootdir", default=".", help="project root (default: .)")
    check.add_argument(
        "--fail-on-suspect", action="store_true", help="exit 1 when an invariant needs review"
    )
    check.add_argument(
        "--strict-owners",
        action="store_true",
        help="exit 1 when an owner owns none of its invariant's files per CODEOWNERS",
    )
    check.set_defaults(func=check_main)

    schema = sub.add_parser("schema", help="print the JSON Schema of the invariants file")
    schema.add_argument("--results", action="store_true", help="the results file's schema instead")
    schema.set_defaults(func=schema_main)

    gate = sub.add_parser("gate", help="apply a gate policy to saved results")
    gate.add_argument("results", help="results JSON (.invariants/results.json)")
    gate.add_argument("--policy", help="e.g. 'critical:mock-only,unverified;high:unverified'")
    gate.add_argument(
        "--baseline",
        metavar="BASE.json",
        help="fail only on findings that are new or worse than in these earlier results",
    )
    gate.set_defaults(func=gate_main)

    report = sub.add_parser("report", help="render reports from saved results")
    report.add_argument("results")
    report.add_argument("--html", metavar="PATH")
    report.add_argument("--md", metavar="PATH")
    report.add_argument("--sarif", metavar="PATH")
    report.set_defaults(func=report_main)

    graph = sub.add_parser("graph", help="export the graph of saved results")
    graph.add_argument("results")
    graph.add_argument("--format", choices=FORMATS, default="json")
    graph.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    graph.set_defaults(func=graph_main)

    combine = sub.add_parser("combine", help="merge results from CI shards")
    combine.add_argument("shards", nargs="+", metavar="SHARD.json")
    combine.add_argument("-o", "--output", required=True, metavar="RESULTS.json")
    combine.set_defaults(func=combine_main)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_prove_parser(sub)
    add_diff_parser(sub)
    add_review_parser(sub)
    add_why_parser(sub)
    add_owners_parser(sub)

"""Ownership: `invariants owners` (who answers for what) and the CODEOWNERS check of `check`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_invariants.cli.errors import CliError
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.gate import Violation, evaluate
from pytest_invariants.load.codeowners import ownership_drift, read_codeowners
from pytest_invariants.model import InvariantResult, InvariantSet, RunResults
from pytest_invariants.results import DEFAULT_PATH, ResultsError, read_results

__all__ = ["add_owners_parser", "owner_drift_lines", "owners_main"]


def owner_drift_lines(invariant_set: InvariantSet, rootdir: Path) -> list[str]:
    """Return one warning per ownership drift and per CODEOWNERS line the code host skips."""
    found = read_codeowners(rootdir)
    if found is None:
        return []
    problems = [*found.owners.skipped, *ownership_drift(invariant_set.invariants, found, rootdir)]
    return [f"warning: {p.render()}" for p in problems]


def _owner_lines(
    owner: str, items: Sequence[InvariantResult], gate: dict[str, list[Violation]]
) -> list[str]:
    breaking = [r for r in items if r.invariant.id in gate]
    lines = [f"{owner}: {len(items)} invariant(s), {len(breaking)} break the gate"]
    width = max(len(r.invariant.id) for r in items)
    ordered = sorted(
        items, key=lambda r: (r.invariant.id not in gate, r.status.rank, r.invariant.id)
    )
    for res in ordered:
        inv = res.invariant
        why = gate.get(inv.id)
        tail = f"  <- breaks the gate: {', '.join(v.reason for v in why)}" if why else ""
        cells = f"{inv.id:<{width}}  {inv.severity.value:<8}  {res.status.value:<10}"
        lines.append(f"  {cells}  {inv.title}{tail}")
    return lines


def owners_main(args: argparse.Namespace) -> int:
    """List, per owner, their invariants, statuses and what breaks the gate."""
    try:
        results: RunResults = read_results(Path(args.results))
    except ResultsError as exc:
        raise CliError(str(exc)) from None
    policy = results.invariant_set.gate
    violations = [] if policy.is_empty() else evaluate(results.invariants, policy)
    gate: dict[str, list[Violation]] = {}
    for v in violations:
        gate.setdefault(v.invariant_id, []).append(v)
    by_owner: dict[str, list[InvariantResult]] = {}
    for res in results.invariants:
        by_owner.setdefault(res.invariant.owner, []).append(res)
    order = sorted(by_owner, key=lambda o: (-sum(r.invariant.id in gate for r in by_owner[o]), o))
    blocks = ["\n".join(_owner_lines(owner, by_owner[owner], gate)) for owner in order]
    sys.stdout.write("\n\n".join(blocks) + "\n")
    if policy.is_empty():
        print("\n(no gate policy in the results: nothing is gated)")
    return ExitCode.OK


def add_owners_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `invariants owners`."""
    parser = subparsers.add_parser(
        "owners", help="per owner: their invariants, statuses and what breaks the gate"
    )
    parser.add_argument(
        "--results",
        default=str(DEFAULT_PATH),
        metavar="RESULTS.json",
        help=f"results of `pytest --invariants` (default: {DEFAULT_PATH})",
    )
    parser.set_defaults(func=owners_main)

"""`invariants prove`: prove the invariants of saved results by targeted mutation.

The worker process is started first thing (`prove/launch.py`), before this
command imports the proof engine or reads the results: its start-up, the
largest fixed cost of a proof, runs on another core meanwhile. So the imports
at the top of this module stay light.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_invariants.cli.errors import CliError
from pytest_invariants.exitcodes import ExitCode
from pytest_invariants.prove.launch import WorkerProcess

if TYPE_CHECKING:
    from pytest_invariants.model import RunResults
    from pytest_invariants.prove.engine import Task

__all__ = ["add_prove_parser", "prove_main"]


def prove_main(args: argparse.Namespace) -> int:
    """Prove invariants of saved results and write the updated results back."""
    worker = WorkerProcess()  # it starts up while we import and plan; it waits for its spec
    try:
        return _prove(args, worker)
    finally:
        worker.discard()  # not handed a spec (bad input, nothing to prove): end it now


def _prove(args: argparse.Namespace, worker: WorkerProcess) -> int:
    from pytest_invariants.prove.engine import ProveSettings, prove_results
    from pytest_invariants.reports.proof import print_survivors, summary_line
    from pytest_invariants.results import ResultsError, read_results, write_results

    path = Path(args.results)
    try:
        results = read_results(path)
    except ResultsError as exc:
        raise CliError(str(exc)) from None
    known = {res.invariant.id for res in results.invariants}
    unknown = sorted(set(args.ids) - known)
    if unknown:
        raise CliError(f"unknown invariant id(s): {', '.join(unknown)}")
    rootdir = Path(args.rootdir or results.info.rootdir or ".").resolve()
    # The time box's defaults are the engine's (the parser does not import it).
    given = (("factor", args.timeout_factor), ("base", args.timeout_base))
    settings = ProveSettings(
        jobs=args.jobs,
        use_cache=not args.no_cache,
        progress=False if args.no_progress else None,
        only=tuple(args.ids),
        **{name: value for name, value in given if value is not None},
    )
    started = time.monotonic()
    updated, tasks = prove_results(results, rootdir, settings, worker)
    write_results(updated, path)
    print_survivors(updated, only=args.ids)
    print(summary_line(tasks, updated, time.monotonic() - started))
    for iid in args.ids:
        if iid not in {t.invariant_id for t in tasks}:
            print(f"{iid}: not proven: only verified invariants with a scope can be proven")
    print(f"invariants: wrote {path}")
    return _verdict(args, updated, tasks)


def _verdict(args: argparse.Namespace, results: RunResults, tasks: list[Task]) -> int:
    """Return PROOF_FAILED when a named invariant or the --fail-under kill rate is not met."""
    from pytest_invariants.prove.engine import kill_rate

    proofs = {r.invariant.id: r.proof for r in results.invariants}
    failed = [iid for iid in args.ids if (proof := proofs.get(iid)) is None or not proof.proven]
    status = ExitCode.OK
    if failed:
        print(f"invariants prove: not proven: {', '.join(failed)}")
        status = ExitCode.PROOF_FAILED
    if args.fail_under is not None:
        asked = [p for iid, p in proofs.items() if p and iid in {t.invariant_id for t in tasks}]
        rate = kill_rate(asked)
        shown = "nothing measured" if rate is None else f"{rate:.1%}"
        if rate is None or rate * 100 < args.fail_under - 1e-9:
            print(f"invariants prove: kill rate {shown} is under --fail-under={args.fail_under:g}%")
            status = ExitCode.PROOF_FAILED
    return int(status)


def add_prove_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `invariants prove` to the command's subparsers."""
    cmd = sub.add_parser("prove", help="prove verified invariants by targeted mutation")
    cmd.add_argument("ids", nargs="*", metavar="ID", help="invariants to prove (default: all)")
    cmd.add_argument(
        "--results",
        default=str(Path(".invariants") / "results.json"),
        help="results JSON to read and update (default: .invariants/results.json)",
    )
    cmd.add_argument("--rootdir", help="project root (default: the one the results name)")
    cmd.add_argument("--jobs", "-j", type=int, default=0, help="worker processes (default: cores)")
    cmd.add_argument("--no-cache", action="store_true", help="ignore .invariants/proof-cache.json")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    cmd.add_argument(
        "--fail-under",
        type=float,
        metavar="PCT",
        help=f"exit {int(ExitCode.PROOF_FAILED)} when under PCT%% of the mutants are killed",
    )
    cmd.add_argument(
        "--timeout-factor",
        type=float,
        help="time box: this many times the tests' own duration (default: 4) ...",
    )
    cmd.add_argument(
        "--timeout-base",
        type=float,
        help="... plus this many seconds (default: 0.5)",
    )
    cmd.set_defaults(func=prove_main)

"""Proofs in words: each invariant's verdict and its surviving mutants as diffs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text

from pytest_invariants.model import MutantStatus, Proof, RunResults
from pytest_invariants.reports.terminal import make_console

if TYPE_CHECKING:  # the engine (and rich.progress) only for a run that proves
    from pytest_invariants.prove.engine import Task

__all__ = ["print_survivors", "summary_line", "survivor_lines"]


def _verdict(iid: str, proof: Proof) -> str:
    shown = "—" if proof.score is None else f"{proof.score:.0%}"
    word = "proven" if proof.proven else "not proven"
    cached = ", cached" if proof.cached else ""
    head = (
        f"{iid}: {word}: {proof.killed} of {proof.total} mutants killed "
        f"({shown}, threshold {proof.threshold:.0%}{cached})"
    )
    return head + (f" -- {proof.note}" if proof.note else "")


def survivor_lines(results: RunResults, only: Collection[str] = ()) -> list[tuple[str, str]]:
    """Return (text, style) lines: each proof's verdict, its survivors with their diffs.

    With `only`, just those invariants' proofs.
    """
    out: list[tuple[str, str]] = []
    for res in results.invariants:
        proof = res.proof
        if proof is None or (only and res.invariant.id not in only):
            continue
        out.append((_verdict(res.invariant.id, proof), "green" if proof.proven else "yellow"))
        for mutant in proof.mutants:
            if mutant.status.killed:
                continue
            where = f"{mutant.file}:{mutant.line} ({mutant.operator})"
            if mutant.waived:
                out.append((f"  waived as equivalent: {where}", "dim"))
                continue
            if mutant.status is MutantStatus.ERROR:
                out.append((f"  could not test this change: {where}: {mutant.why}", "red"))
                continue
            if mutant.status is MutantStatus.NOT_REACHED:
                out.append((f"  no linked test runs this line: {where}", "bold yellow"))
            else:
                out.append((f"  this change to your code breaks no test: {where}", "bold yellow"))
            out.extend((f"    {line}", "dim") for line in mutant.diff.splitlines())
    return out


def print_survivors(results: RunResults, file: Any = None, only: Collection[str] = ()) -> None:
    """Print the proofs' verdicts and surviving mutants with rich (NO_COLOR respected)."""
    console = make_console(file)
    for text, style in survivor_lines(results, only):
        console.print(Text(text, style=style), soft_wrap=True)


def summary_line(tasks: Sequence[Task], results: RunResults, seconds: float) -> str:
    """Return one line: how many invariants were proven, mutants killed, time taken."""
    asked = {t.invariant_id for t in tasks}
    proofs = [r.proof for r in results.invariants if r.proof and r.invariant.id in asked]
    proven = sum(1 for p in proofs if p.proven)
    mutants = sum(p.total for p in proofs)
    killed = sum(p.killed for p in proofs)
    cached = sum(1 for p in proofs if p.cached)
    return (
        f"invariants prove: {proven} of {len(proofs)} invariant(s) proven; {killed} of "
        f"{mutants} mutants killed; {cached} from cache; {seconds:.1f}s"
    )

"""Proofs in words: each invariant's verdict and its surviving mutants as diffs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from pytest_invariants.model import RunResults
from pytest_invariants.prove.engine import DEFAULT_THRESHOLD, KILLED, Task
from pytest_invariants.reports.terminal import make_console

__all__ = ["print_survivors", "summary_line", "survivor_lines"]


def _verdict(iid: str, proof: Mapping[str, Any]) -> str:
    score = proof.get("score")
    shown = "—" if score is None else f"{score:.0%}"
    word = "proven" if proof.get("proven") else "not proven"
    cached = ", cached" if proof.get("cached") else ""
    head = (
        f"{iid}: {word}: {proof.get('killed', 0)} of {proof.get('total', 0)} mutants killed "
        f"({shown}, threshold {proof.get('threshold', DEFAULT_THRESHOLD):.0%}{cached})"
    )
    return head + (f" -- {proof['note']}" if proof.get("note") else "")


def survivor_lines(results: RunResults) -> list[tuple[str, str]]:
    """Return (text, style) lines: each proof's verdict, its survivors with their diffs."""
    out: list[tuple[str, str]] = []
    for res in results.invariants:
        proof = res.proof
        if not proof:
            continue
        style = "green" if proof.get("proven") else "yellow"
        out.append((_verdict(res.invariant.id, proof), style))
        mutants = proof.get("mutants")
        for mutant in mutants if isinstance(mutants, list) else []:
            if not isinstance(mutant, dict) or mutant.get("status") in KILLED:
                continue
            where = f"{mutant.get('file')}:{mutant.get('line')} ({mutant.get('operator')})"
            if mutant.get("waived"):
                out.append((f"  waived as equivalent: {where}", "dim"))
                continue
            if mutant.get("status") == "error":
                out.append((f"  could not test this change: {where}: {mutant.get('why')}", "red"))
                continue
            out.append((f"  this change to your code breaks no test: {where}", "bold yellow"))
            out.extend((f"    {line}", "dim") for line in str(mutant.get("diff", "")).splitlines())
    return out


def print_survivors(results: RunResults, file: Any = None) -> None:
    """Print the proofs' verdicts and surviving mutants with rich (NO_COLOR respected)."""
    console = make_console(file)
    for text, style in survivor_lines(results):
        console.print(Text(text, style=style), soft_wrap=True)


def summary_line(tasks: Sequence[Task], results: RunResults, seconds: float) -> str:
    """Return one line: how many invariants were proven, mutants killed, time taken."""
    proofs = [
        r.proof
        for r in results.invariants
        if r.proof and r.invariant.id in {t.invariant_id for t in tasks}
    ]
    proven = sum(1 for p in proofs if p.get("proven"))
    mutants = sum(int(p.get("total", 0) or 0) for p in proofs)  # type: ignore[call-overload]
    killed = sum(int(p.get("killed", 0) or 0) for p in proofs)  # type: ignore[call-overload]
    cached = sum(1 for p in proofs if p.get("cached"))
    return (
        f"invariants prove: {proven} of {len(proofs)} invariant(s) proven; {killed} of "
        f"{mutants} mutants killed; {cached} from cache; {seconds:.1f}s"
    )

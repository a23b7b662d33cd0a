"""Build RunResults from plain model values, for the report tests.

The verdicts come from the real pure core (`status.classify`), so the reports
are tested on results shaped exactly like a run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pytest_invariants.model import (
    DoubleKind,
    DoubleRecord,
    GatePolicy,
    Invariant,
    InvariantResult,
    InvariantSet,
    Lifecycle,
    Location,
    MutantOutcome,
    MutantStatus,
    ObjectRef,
    Outcome,
    RunInfo,
    RunResults,
    ScopeEntry,
    ScopeKind,
    Severity,
    TestEvidence,
)
from pytest_invariants.prove.engine import proof_of
from pytest_invariants.status import classify

XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'

BILLING = """\
def charge_order(order, gateway):
    if order.paid:
        return None
    receipt = gateway.charge(order.total)
    order.paid = True
    return receipt


def refund(order):
    # never run by any test
    order.paid = False
    return order
"""


def scope(
    raw: str,
    file: str,
    lines: tuple[int, int] | None,
    executable: Sequence[int],
    dotted: str | None = None,
) -> ScopeEntry:
    """Return a qualname scope entry (or a whole file when `lines` is None)."""
    kind = ScopeKind.QUALNAME if lines else ScopeKind.FILE
    return ScopeEntry(raw, kind, file, dotted, lines, frozenset(executable))


CHARGE = scope(
    "shop.billing:charge_order",
    "src/shop/billing.py",
    (1, 6),
    [2, 3, 4, 5, 6],
    "shop.billing.charge_order",
)
REFUND = scope(
    "shop.billing:refund", "src/shop/billing.py", (9, 12), [11, 12], "shop.billing.refund"
)
LEDGER = scope("shop.ledger:post", "src/shop/ledger.py", (1, 3), [2, 3], "shop.ledger.post")


def inv(iid: str, line: int, severity: Severity = Severity.HIGH, **kw: object) -> Invariant:
    """Return an invariant defined at `line` of invariants.yaml."""
    base = Invariant(
        iid,
        f"Title of {iid}",
        f"Why {iid} matters.",
        "payments-team",
        severity,
        location=Location("invariants.yaml", line),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def ev(
    nodeid: str,
    claims: Sequence[str] = (),
    outcome: Outcome = Outcome.PASSED,
    executed: dict[str, frozenset[int]] | None = None,
    doubles: Sequence[DoubleRecord] = (),
) -> TestEvidence:
    return TestEvidence(
        nodeid, outcome, tuple(claims), executed=executed or {}, doubles=tuple(doubles)
    )


GATEWAY_MOCK = DoubleRecord(
    "shop.billing.charge_order",
    DoubleKind.DOUBLE,
    "MagicMock",
    "unittest.mock.patch",
    "tests/test_pay.py:12",
    ObjectRef("shop.billing", "charge_order", "src/shop/billing.py", 1, "function"),
)


def sample_set() -> InvariantSet:
    """Return a set with one invariant per status, flags, and hostile strings."""
    invariants = (
        inv(
            "PAY-001",
            5,
            Severity.CRITICAL,
            title="A card is never charged twice",
            code=(CHARGE,),
            links={
                "runbook": "https://example.org/rb",
                "adr": "docs/adr/7.md",
                "evil": "javascript:alert(1)",
            },
        ),
        inv(
            "PAY-002", 14, Severity.CRITICAL, title="Charges go through the gateway", code=(CHARGE,)
        ),
        inv("PAY-003", 20, Severity.HIGH, code=(REFUND,), depends_on=("PAY-002",)),
        inv("PAY-004", 26, Severity.MEDIUM, code=(CHARGE,)),
        inv("PAY-005", 31, Severity.HIGH, code=(LEDGER,)),
        inv("PAY-006", 36, Severity.LOW, code=(REFUND,)),
        inv(
            "XSS-1",
            41,
            Severity.MEDIUM,
            title=XSS,
            why=XSS,
            owner="<b>owner</b>",
            tags=("x|y", "<i>"),
        ),
        inv("OLD-1", 47, Severity.CRITICAL, lifecycle=Lifecycle.DEPRECATED),
        inv("PART-1", 52, Severity.HIGH, code=(LEDGER,)),
    )
    policy = GatePolicy(
        {
            "critical": frozenset({"mock-only", "unverified", "failing"}),
            "high": frozenset({"unverified", "failing", "partial"}),
        }
    )
    return InvariantSet(invariants, ("invariants.yaml",), policy, "sha256:abc")


def sample_tests() -> tuple[TestEvidence, ...]:
    billing = "src/shop/billing.py"
    return (
        ev(
            "tests/test_pay.py::test_charge_once",
            ["PAY-001"],
            executed={billing: frozenset({2, 3, 4, 5, 6})},
        ),
        ev("tests/test_pay.py::test_charge_mocked", ["PAY-002"], doubles=[GATEWAY_MOCK]),
        ev("tests/test_pay.py::test_refund_claim", ["PAY-003"]),
        ev("tests/test_pay.py::test_other", [], executed={billing: frozenset({2, 3})}),
        ev(
            "tests/test_ledger.py::test_post",
            ["PAY-005"],
            Outcome.FAILED,
            executed={"src/shop/ledger.py": frozenset({2})},
        ),
        ev("tests/test_xss.py::test_<script>", ["XSS-1"]),
        ev("tests/test_ledger.py::test_part", ["PART-1"], Outcome.DESELECTED),
    )


def sample_results(rootdir: Path | str = "", proofs: bool = True) -> RunResults:
    """Return classified results for the sample set; write sources under `rootdir` first."""
    iset = sample_set()
    tests = sample_tests()
    mutants = (
        MutantOutcome(
            "m1",
            "condition-negate",
            "src/pay.py",
            3,
            "-    if order.paid:\n+    if not order.paid:",
            MutantStatus.KILLED,
            killed_by="tests/test_pay.py::test_charge_once",
        ),
        MutantOutcome(
            "m2",
            "statement-remove",
            "src/pay.py",
            4,
            "-    order.paid = True\n+    pass  # <script>x</script>",
            MutantStatus.SURVIVED,
        ),
        MutantOutcome(
            "m3-equivalent",
            "number-plus-one",
            "src/pay.py",
            5,
            "-    x = 1\n+    x = 2",
            MutantStatus.SURVIVED,
            waived=True,
        ),
    )
    proof = {"PAY-001": proof_of(mutants, 1.0, cached=False, note=None)}
    verdicts = classify(iset, tests, suspect=["PAY-004"], proofs=proof if proofs else None)
    info = RunInfo(
        rootdir=str(rootdir),
        tool_version="0.1.0",
        python="3.12.0",
        recorder="sys.monitoring",
        started="2024-01-01T00:00:00Z",
        finished="2024-01-01T00:00:05Z",
        partial=True,
    )
    return RunResults(iset, verdicts, tests, info)


def write_sources(root: Path) -> None:
    """Write the scope sources of the sample set under `root`."""
    (root / "src" / "shop").mkdir(parents=True, exist_ok=True)
    (root / "src" / "shop" / "billing.py").write_text(BILLING, encoding="utf-8")
    (root / "src" / "shop" / "ledger.py").write_text(
        "def post(x):\n    y = x\n    return y\n", encoding="utf-8"
    )


def big_results(n_invariants: int = 1000, n_tests: int = 10_000) -> RunResults:
    """Return results for a large suite: each test claims one invariant and runs another."""
    invs = tuple(
        inv(
            f"INV-{i:04d}",
            5 * i + 1,
            list(Severity)[i % 4],
            owner=f"team-{i % 7}",
            code=(scope(f"pkg.m{i}:f", f"src/pkg/m{i}.py", (1, 10), range(2, 11), f"pkg.m{i}.f"),),
            depends_on=(f"INV-{i - 1:04d}",) if i % 10 else (),
        )
        for i in range(n_invariants)
    )
    tests = []
    for t in range(n_tests):
        own, other = t % n_invariants, (t * 7 + 3) % n_invariants
        doubles = [GATEWAY_MOCK] if t % 5 == 0 else []
        executed = {
            f"src/pkg/m{own}.py": frozenset(range(2, 2 + t % 9)),
            f"src/pkg/m{other}.py": frozenset({3, 4}),
        }
        outcome = Outcome.FAILED if t % 97 == 0 else Outcome.PASSED
        tests.append(
            ev(f"tests/test_m{own}.py::test_{t}", [f"INV-{own:04d}"], outcome, executed, doubles)
        )
    iset = InvariantSet(invs, ("invariants.yaml",), GatePolicy())
    verdicts = _classify_each(invs, tests)
    return RunResults(iset, verdicts, tuple(tests), RunInfo(tool_version="0.1.0"))


def _classify_each(
    invs: Sequence[Invariant], tests: Sequence[TestEvidence]
) -> tuple[InvariantResult, ...]:
    """Classify each invariant over only the tests that touch it (fast; no at_risk)."""
    touching: dict[str, list[TestEvidence]] = {}
    for test in tests:
        for iid in test.claims:
            touching.setdefault(iid, []).append(test)
    by_file = {entry.file: inv.id for inv in invs for entry in inv.code}
    for test in tests:
        for file in test.executed:
            if file in by_file and by_file[file] not in test.claims:
                touching.setdefault(by_file[file], []).append(test)
    return tuple(classify(InvariantSet((inv,)), touching.get(inv.id, []))[0] for inv in invs)

"""Link kinds and statuses (SPEC sections 4 and 5) on plain values: no pytest run needed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_invariants.linking import link_for
from pytest_invariants.model import (
    DoubleKind,
    DoubleRecord,
    Invariant,
    InvariantSet,
    LinkKind,
    MockCall,
    ObjectRef,
    Outcome,
    ScopeEntry,
    ScopeKind,
    Severity,
    Status,
    TestEvidence,
)
from pytest_invariants.status import classify, status_of

BILLING = "src/shop/billing.py"
CHARGE = ScopeEntry(
    raw="shop.billing:charge_order",
    kind=ScopeKind.QUALNAME,
    file=BILLING,
    dotted="shop.billing.charge_order",
    lines=(10, 16),
    executable=frozenset({11, 12, 13, 14, 15, 16}),
    reads=frozenset({"shop.billing.gateway.charge", "shop.billing.transport.TransportError"}),
)


def invariant(iid: str = "PAY-001", **fields: object) -> Invariant:
    values: dict[str, object] = {
        "title": "A card is never charged twice",
        "why": "Chargebacks.",
        "owner": "payments",
        "severity": Severity.CRITICAL,
        "code": (CHARGE,),
    }
    values.update(fields)
    return Invariant(id=iid, **values)  # type: ignore[arg-type]


def evidence(
    nodeid: str = "tests/test_pay.py::test_charge",
    outcome: Outcome = Outcome.PASSED,
    claims: tuple[str, ...] = ("PAY-001",),
    lines: frozenset[int] = frozenset({11, 12}),
    doubles: tuple[DoubleRecord, ...] = (),
    calls: tuple[MockCall, ...] = (),
) -> TestEvidence:
    return TestEvidence(
        nodeid=nodeid,
        outcome=outcome,
        claims=claims,
        executed={BILLING: lines} if lines else {},
        doubles=doubles,
        mock_calls=calls,
    )


def double(
    target: str,
    original: ObjectRef | None = None,
    kind: DoubleKind = DoubleKind.DOUBLE,
    via: str = "unittest.mock.patch",
) -> DoubleRecord:
    return DoubleRecord(target, kind, "MagicMock", via, "tests/test_pay.py:9", original)


@pytest.mark.invariant("LINK-001")
def test_a_claiming_test_that_runs_the_scope_cleanly_is_real() -> None:
    link = link_for(invariant(), evidence())
    assert link is not None and link.kind is LinkKind.REAL
    assert "ran 2 scope line(s)" in link.evidence[0]


@pytest.mark.invariant("LINK-001")
def test_patching_the_scope_by_name_is_mocked_out_even_when_the_scope_ran() -> None:
    link = link_for(invariant(), evidence(doubles=(double("shop.billing.charge_order"),)))
    assert link is not None
    assert (link.kind, link.detail) == (LinkKind.MOCK_BASED, "mocked-out")
    assert "shop.billing.charge_order" in link.evidence[1]


@pytest.mark.invariant("LINK-001")
def test_patching_a_reexport_is_recognised_by_the_replaced_objects_identity() -> None:
    original = ObjectRef("shop.billing", "charge_order", BILLING, 10, "function")
    link = link_for(invariant(), evidence(doubles=(double("shop.api.charge_order", original),)))
    assert link is not None and link.detail == "mocked-out"


@pytest.mark.invariant("LINK-002")
def test_replacing_a_module_level_name_the_scope_reads_is_against_doubles() -> None:
    link = link_for(invariant(), evidence(doubles=(double("shop.billing.gateway"),)))
    assert link is not None and (link.kind, link.detail) == (LinkKind.MOCK_BASED, "against-doubles")


@pytest.mark.invariant("LINK-002")
@pytest.mark.parametrize(
    ("target", "spoils"),
    [
        ("shop.billing.gateway.charge", True),  # the chain itself
        ("shop.billing.gateway", True),  # an ancestor of it
        ("shop.billing.gateway.charge.retry", True),  # under a chain that is no module
        ("shop.billing.gateway.refund", False),  # a sibling of the chain
        ("shop.billing.transport", True),  # the module read as a whole
        ("shop", True),  # its ancestor
        ("shop.billing.transport.Adapter.send", False),  # elsewhere under a module read
    ],
)
def test_a_double_spoils_through_a_read_chain_precisely(target: str, spoils: bool) -> None:
    scope = ScopeEntry(
        raw=CHARGE.raw,
        kind=CHARGE.kind,
        file=BILLING,
        dotted=CHARGE.dotted,
        lines=CHARGE.lines,
        executable=CHARGE.executable,
        reads=frozenset({"shop.billing.gateway.charge", "shop.billing.transport"}),
        module_reads=frozenset({"shop.billing.transport"}),
    )
    link = link_for(invariant(code=(scope,)), evidence(doubles=(double(target),)))
    assert link is not None
    assert (link.kind is LinkKind.MOCK_BASED) is spoils


@pytest.mark.invariant("LINK-002")
def test_must_be_real_replaced_by_plain_data_spoils_and_an_item_change_does_not() -> None:
    strict = invariant(must_be_real=("shop.rates.TABLE", "os.environ", "sys.path"))
    swapped = double("shop.rates.TABLE", kind=DoubleKind.CONFIG, via="monkeypatch.setattr")
    environ = double("os.environ", kind=DoubleKind.CONFIG, via="monkeypatch.setattr")
    for change in (swapped, environ):
        link = link_for(strict, evidence(doubles=(change,)))
        assert link is not None and link.detail == "against-doubles", change
        assert "must_be_real" in link.evidence[1]
    items = (
        double("shop.rates.TABLE[GBP]", kind=DoubleKind.CONFIG, via="monkeypatch.setitem"),
        double("env:HOME", kind=DoubleKind.CONFIG, via="monkeypatch.setenv"),
        double("env:*", kind=DoubleKind.CONFIG, via="unittest.mock.patch.dict"),
        double("sys.path", kind=DoubleKind.CONFIG, via="monkeypatch.syspath_prepend"),
    )
    assert link_for(strict, evidence(doubles=items)).kind is LinkKind.REAL  # type: ignore[union-attr]
    # Without must_be_real, plain data never spoils, even when the scope reads it.
    assert link_for(invariant(), evidence(doubles=(swapped,))).kind is LinkKind.REAL  # type: ignore[union-attr]
    allowed = invariant(must_be_real=("shop.rates",), allow_doubles=("shop.rates.TABLE",))
    assert link_for(allowed, evidence(doubles=(swapped,))).kind is LinkKind.REAL  # type: ignore[union-attr]


@pytest.mark.invariant("LINK-002")
def test_a_mock_called_from_scope_code_spoils_and_one_called_elsewhere_does_not() -> None:
    inside = MockCall("gateway.charge", BILLING, 14)
    outside = MockCall("gateway.charge", BILLING, 30)
    assert link_for(invariant(), evidence(calls=(inside,))).kind is LinkKind.MOCK_BASED  # type: ignore[union-attr]
    assert link_for(invariant(), evidence(calls=(outside,))).kind is LinkKind.REAL  # type: ignore[union-attr]


@pytest.mark.invariant("LINK-002")
def test_must_be_real_and_allow_doubles() -> None:
    db = double("shop.db.connect")
    strict = invariant(must_be_real=("shop.db",))
    assert link_for(strict, evidence(doubles=(db,))).detail == "against-doubles"  # type: ignore[union-attr]
    assert link_for(invariant(), evidence(doubles=(db,))).kind is LinkKind.REAL  # type: ignore[union-attr]
    clock_call = MockCall("now", BILLING, 12, target="shop.clock.now")
    lenient = invariant(allow_doubles=("shop.clock",))
    assert link_for(lenient, evidence(calls=(clock_call,))).kind is LinkKind.REAL  # type: ignore[union-attr]
    assert link_for(invariant(), evidence(calls=(clock_call,))).kind is LinkKind.MOCK_BASED  # type: ignore[union-attr]


@pytest.mark.invariant("LINK-001")
def test_configuration_changes_and_spies_never_spoil() -> None:
    config = double("shop.billing.charge_order", kind=DoubleKind.CONFIG)
    spy = double("shop.billing.charge_order", kind=DoubleKind.SPY)
    link = link_for(invariant(), evidence(doubles=(config, spy)))
    assert link is not None and link.kind is LinkKind.REAL


def test_claimed_incidental_and_no_link() -> None:
    assert link_for(invariant(), evidence(lines=frozenset())).kind is LinkKind.CLAIMED  # type: ignore[union-attr]
    assert link_for(invariant(), evidence(claims=())).kind is LinkKind.INCIDENTAL  # type: ignore[union-attr]
    assert link_for(invariant(), evidence(claims=(), lines=frozenset({40}))) is None


def test_unscoped_invariants_link_on_doubles_alone() -> None:
    bare = invariant(code=(), allow_doubles=("shop.clock",))
    assert link_for(bare, evidence(lines=frozenset())).kind is LinkKind.REAL  # type: ignore[union-attr]
    spoiled = link_for(bare, evidence(doubles=(double("shop.notify.send_email"),)))
    assert spoiled is not None and spoiled.kind is LinkKind.MOCK_BASED and spoiled.unscoped
    allowed = link_for(bare, evidence(doubles=(double("shop.clock.now"),)))
    assert allowed is not None and allowed.kind is LinkKind.REAL


@pytest.mark.invariant("STAT-001")
@pytest.mark.parametrize(
    ("tests", "expected"),
    [
        ([evidence()], Status.VERIFIED),
        ([evidence(), evidence("t::b", Outcome.FAILED)], Status.FAILING),
        ([evidence(outcome=Outcome.ERROR)], Status.FAILING),
        ([evidence(outcome=Outcome.XFAILED)], Status.UNVERIFIED),
        ([evidence(outcome=Outcome.SKIPPED)], Status.UNVERIFIED),
        ([evidence(doubles=(double("shop.billing.charge_order"),))], Status.MOCK_ONLY),
        ([evidence(lines=frozenset())], Status.CLAIMED),
        ([evidence(claims=())], Status.INCIDENTAL),
        ([evidence(claims=(), outcome=Outcome.FAILED)], Status.UNVERIFIED),
        ([], Status.UNVERIFIED),
    ],
)
def test_status_table(tests: list[TestEvidence], expected: Status) -> None:
    inv = invariant()
    links = [link for ev in tests if (link := link_for(inv, ev))]
    assert status_of(links) is expected


@pytest.mark.invariant("STAT-002")
def test_at_risk_is_transitive_and_partial_names_the_tests_that_did_not_run() -> None:
    top = invariant("ACC-001", depends_on=("LED-001",))
    middle = invariant("LED-001", depends_on=("LED-002",))
    bottom = invariant(
        "LED-002", code=(ScopeEntry("shop.x", ScopeKind.MODULE, "src/shop/x.py", "shop.x", None),)
    )
    not_run = evidence("t::not_run", Outcome.DESELECTED, claims=("LED-002",), lines=frozenset())
    tests = [evidence(claims=("ACC-001", "LED-001")), not_run]
    results = {r.invariant.id: r for r in classify(InvariantSet((top, middle, bottom)), tests)}
    assert results["LED-002"].status is Status.UNVERIFIED
    assert results["ACC-001"].at_risk and results["ACC-001"].at_risk_because == ("LED-002",)
    assert results["LED-001"].at_risk and not results["LED-002"].at_risk
    assert results["LED-002"].partial and results["LED-002"].partial_because == ("t::not_run",)


@pytest.mark.invariant("STAT-002")
def test_a_claimant_that_skipped_itself_makes_nothing_partial_but_is_named() -> None:
    inv = invariant("GFT-001")
    skipped = replace(
        evidence("t::skipped", Outcome.SKIPPED, claims=("GFT-001",), lines=frozenset()),
        reason="sandbox not reachable",
    )
    xfailed = evidence("t::xfailed", Outcome.XFAILED, claims=("GFT-001",), lines=frozenset())
    (result,) = classify(InvariantSet((inv,)), [skipped, xfailed, evidence(claims=("GFT-001",))])
    assert result.status is Status.VERIFIED and not result.partial
    assert result.skipped == (("t::skipped", "sandbox not reachable"), ("t::xfailed", ""))


@pytest.mark.invariant("STAT-002")
def test_unknown_claimants_make_only_unverified_invariants_partial() -> None:
    verified, unverified = invariant("A-001"), invariant("B-001")
    tests = [evidence(claims=("A-001",))]
    results = classify(InvariantSet((verified, unverified)), tests, claims_unknown=True)
    assert [(r.invariant.id, r.partial) for r in results] == [("A-001", False), ("B-001", True)]


def test_scope_coverage_counts_real_lines_and_suggestions_come_from_clean_runs() -> None:
    mocked = evidence(
        "t::mocked", lines=frozenset({11, 12, 13, 14}), doubles=(double("shop.billing.gateway"),)
    )
    real = evidence("t::real", lines=frozenset({11, 12, 13}))
    stranger = evidence("t::stranger", claims=(), lines=frozenset({11, 12, 13, 14, 15}))
    (result,) = classify(InvariantSet((invariant(),)), [mocked, real, stranger])
    assert result.status is Status.VERIFIED
    assert result.scope_coverage == pytest.approx(3 / 6, abs=1e-4)
    assert result.double_lines == {BILLING: frozenset({14})}
    assert result.suggested_tests == ("t::stranger",)

"""Refunds: the gateway replaced with monkeypatch; one test shows a real bug."""

from __future__ import annotations

import pytest

from shop import gateway
from shop.orders import create_order
from shop.refunds import RefundTooLarge, refund


@pytest.fixture
def paid_order(conn, monkeypatch):
    """Return a paid order of 40.00 + 4.95 shipping; the provider's refund API is faked."""
    monkeypatch.setattr(gateway, "PAYMENT_URL", "https://sandbox.example.test")  # config only
    refunded: list[tuple[str, int]] = []
    monkeypatch.setattr(gateway, "refund", lambda charge, cents: refunded.append((charge, cents)))
    order = create_order(conn, "ada", [("tee", 2, 20_00)])
    conn.execute("UPDATE orders SET status = 'paid', charge_id = 'ch_9' WHERE id = ?", (order,))
    return order


@pytest.mark.invariant("PAY-003")
def test_a_refund_larger_than_the_charge_is_refused(conn, paid_order):
    with pytest.raises(RefundTooLarge):
        refund(conn, paid_order, 50_00)


@pytest.mark.demo_failure
@pytest.mark.invariant("PAY-003")
def test_two_partial_refunds_never_exceed_the_charge(conn, paid_order):
    # Fails on purpose: refund() forgets earlier refunds (see the BUG note in
    # src/shop/refunds.py and "failing" in README.md).
    refund(conn, paid_order, 30_00)
    with pytest.raises(RefundTooLarge):
        refund(conn, paid_order, 30_00)

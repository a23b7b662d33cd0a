"""Payments: SQLite for real, the provider faked with responses and unittest.mock."""

from __future__ import annotations

import json
from unittest.mock import patch

import pytest
import responses

from shop import gateway
from shop.orders import create_order
from shop.payments import pay_order

CHARGES = f"{gateway.PAYMENT_URL}/charges"


@pytest.mark.invariant("PAY-001")
@responses.activate
def test_paying_twice_charges_once(conn):
    responses.post(CHARGES, json={"id": "ch_1"})
    order = create_order(conn, "ada", [("mug", 1, 12_50)])
    assert pay_order(conn, order) == "ch_1"
    assert pay_order(conn, order) == "ch_1"
    assert len(responses.calls) == 1


@pytest.mark.invariant("PAY-002")
@responses.activate
def test_charge_sends_amount_and_idempotency_key():
    responses.post(CHARGES, json={"id": "ch_2"})
    gateway.charge(7, 17_45, idempotency_key="order-7")
    request = responses.calls[0].request
    assert json.loads(request.body) == {"order": 7, "amount": 17_45, "currency": "EUR"}
    assert request.headers["Idempotency-Key"] == "order-7"


@pytest.mark.invariant("PAY-005")
def test_charge_is_retried_three_times_then_gives_up():
    with patch("shop.gateway.charge", side_effect=gateway.GatewayError("502")) as charge:
        with pytest.raises(gateway.GatewayError):
            gateway.charge_with_retry(7, 100, "order-7")
    assert charge.call_count == 3


@pytest.mark.invariant("PAY-005")
def test_a_retry_that_succeeds_returns_the_charge():
    outcomes = [gateway.GatewayError("502"), {"id": "ch_3"}]
    with patch("shop.gateway.charge", side_effect=outcomes):
        assert gateway.charge_with_retry(7, 100, "order-7") == {"id": "ch_3"}

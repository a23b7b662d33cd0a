"""The payment provider's HTTP API, through requests."""

from __future__ import annotations

import os
from typing import Any

import requests

PAYMENT_URL = os.environ.get("SHOP_PAYMENT_URL", "https://payments.example.test/v1")
TIMEOUT_SECONDS = 10


class GatewayError(Exception):
    """The provider refused the request or could not be reached."""


def charge(order_id: int, amount_cents: int, idempotency_key: str) -> dict[str, Any]:
    """Charge the customer's card for the order; return the provider's charge object."""
    response = requests.post(
        f"{PAYMENT_URL}/charges",
        json={"order": order_id, "amount": amount_cents, "currency": "EUR"},
        headers={"Idempotency-Key": idempotency_key},
        timeout=TIMEOUT_SECONDS,
    )
    if response.status_code >= 500:
        raise GatewayError(f"provider error {response.status_code}")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def charge_with_retry(
    order_id: int, amount_cents: int, idempotency_key: str, attempts: int = 3
) -> dict[str, Any]:
    """Charge, retrying provider errors up to `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return charge(order_id, amount_cents, idempotency_key)
        except GatewayError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def refund(charge_id: str, amount_cents: int) -> dict[str, Any]:
    """Refund part or all of a charge."""
    response = requests.post(
        f"{PAYMENT_URL}/refunds",
        json={"charge": charge_id, "amount": amount_cents},
        timeout=TIMEOUT_SECONDS,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result

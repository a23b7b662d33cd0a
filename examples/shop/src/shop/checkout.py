"""The checkout flow the web layer calls."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from shop import inventory, loyalty, payments
from shop.orders import create_order


def checkout(conn: sqlite3.Connection, customer: str, cart: Iterable[tuple[str, int, int]]) -> dict[str, object]:
    """Reserve stock, create and pay the order; return a summary for the confirmation page."""
    lines = list(cart)
    for sku, quantity, _ in lines:
        inventory.reserve(conn, sku, quantity)
    order_id = create_order(conn, customer, lines)
    charge_id = payments.pay_order(conn, order_id)
    paid = payments.amount_due(conn, order_id)
    return {"order": order_id, "charge": charge_id, "paid": paid, "points": loyalty.points_for(paid)}

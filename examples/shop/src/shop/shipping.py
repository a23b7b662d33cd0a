"""Shipping fees and dispatch."""

from __future__ import annotations

import sqlite3

FREE_SHIPPING_FROM_CENTS = 50_00
STANDARD_FEE_CENTS = 4_95
FINAL_STATES = frozenset({"cancelled", "shipped"})


class CannotShip(Exception):
    """The order is in a state that must never be shipped."""


def shipping_fee(total_cents: int) -> int:
    """Return the shipping fee in cents: free from 50.00, else the standard fee."""
    if total_cents >= FREE_SHIPPING_FROM_CENTS:
        return 0
    return STANDARD_FEE_CENTS


def ship_order(conn: sqlite3.Connection, order_id: int) -> None:
    """Mark a paid order as shipped; refuse anything cancelled or unpaid."""
    row = conn.execute("SELECT status FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None or row["status"] != "paid":
        raise CannotShip(f"order {order_id} is {row['status'] if row else 'missing'}")
    conn.execute("UPDATE orders SET status = 'shipped' WHERE id = ?", (order_id,))

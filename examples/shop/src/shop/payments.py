"""Paying for orders: exactly one charge per order."""

from __future__ import annotations

import sqlite3

from shop import db, gateway
from shop.orders import discount_for, order_total
from shop.shipping import shipping_fee


def amount_due(conn: sqlite3.Connection, order_id: int) -> int:
    """Return what the customer pays in cents: total, minus discount, plus shipping."""
    total = order_total(conn, order_id)
    return total - discount_for(total) + shipping_fee(total)


def pay_order(conn: sqlite3.Connection, order_id: int) -> str:
    """Charge the order once and return the charge id; a second call charges nothing."""
    with db.transaction(conn):
        row = conn.execute("SELECT status, charge_id FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row["status"] == "paid":
            return str(row["charge_id"])
        charged = gateway.charge_with_retry(
            order_id, amount_due(conn, order_id), idempotency_key=f"order-{order_id}"
        )
        conn.execute(
            "UPDATE orders SET status = 'paid', charge_id = ? WHERE id = ?",
            (charged["id"], order_id),
        )
    return str(charged["id"])

"""Refunds."""

from __future__ import annotations

import sqlite3

from shop import db, gateway
from shop.payments import amount_due


class RefundTooLarge(Exception):
    """The refund would pay back more than the customer paid."""


def refund(conn: sqlite3.Connection, order_id: int, cents: int) -> None:
    """Refund `cents` of a paid order; never more than was charged in all."""
    with db.transaction(conn):
        row = conn.execute("SELECT charge_id FROM orders WHERE id = ?", (order_id,)).fetchone()
        # BUG (kept on purpose for the demo, see README): earlier refunds are not
        # subtracted, so two partial refunds can together exceed the charge.
        if cents > amount_due(conn, order_id):
            raise RefundTooLarge(f"{cents} > charged amount")
        gateway.refund(row["charge_id"], cents)
        conn.execute("INSERT INTO refunds (order_id, cents) VALUES (?, ?)", (order_id, cents))

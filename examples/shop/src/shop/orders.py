"""Orders: creating them, their totals, discounts and the cancellation window."""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Iterable

from shop import clock, db

CANCEL_WINDOW = datetime.timedelta(minutes=30)
DISCOUNT_FROM_CENTS = 100_00


def create_order(conn: sqlite3.Connection, customer: str, lines: Iterable[tuple[str, int, int]]) -> int:
    """Store a new order with its (sku, quantity, unit_cents) lines; return its id."""
    with db.transaction(conn):
        cursor = conn.execute(
            "INSERT INTO orders (customer, placed_at) VALUES (?, ?)",
            (customer, clock.now().isoformat()),
        )
        order_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO order_lines (order_id, sku, quantity, unit_cents) VALUES (?, ?, ?, ?)",
            [(order_id, sku, qty, cents) for sku, qty, cents in lines],
        )
    return order_id


def order_total(conn: sqlite3.Connection, order_id: int) -> int:
    """Return the order's total in cents: the sum of quantity x unit price of its lines."""
    row = conn.execute(
        "SELECT COALESCE(SUM(quantity * unit_cents), 0) AS total FROM order_lines WHERE order_id = ?",
        (order_id,),
    ).fetchone()
    return int(row["total"])


def discount_for(total_cents: int) -> int:
    """Return the discount in cents: 10% for orders of 100.00 or more, else nothing."""
    if total_cents >= DISCOUNT_FROM_CENTS:
        return total_cents // 10
    return 0


def can_cancel(placed_at: datetime.datetime) -> bool:
    """Return True while the customer may still cancel: up to 30 minutes after placing."""
    return clock.now() - placed_at <= CANCEL_WINDOW

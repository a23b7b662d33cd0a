"""Stock keeping."""

from __future__ import annotations

import sqlite3


class OutOfStock(Exception):
    """Not enough units left to reserve."""


def reserve(conn: sqlite3.Connection, sku: str, quantity: int) -> None:
    """Take `quantity` units of `sku` out of stock, or raise OutOfStock and change nothing."""
    # The guard lives in the UPDATE itself, so two concurrent reservations cannot both win.
    cursor = conn.execute(
        "UPDATE stock SET quantity = quantity - ? WHERE sku = ? AND quantity >= ?",
        (quantity, sku, quantity),
    )
    if cursor.rowcount == 0:
        raise OutOfStock(f"{sku}: fewer than {quantity} left")

"""The whole checkout, end to end against SQLite with the provider faked.

It claims no invariant, yet it runs a lot of guarded code: the report lists it
as incidental evidence and suggests which invariants it could claim.
"""

from __future__ import annotations

import responses

from shop import gateway
from shop.checkout import checkout


@responses.activate
def test_checkout_pays_and_awards_points(conn):
    responses.post(f"{gateway.PAYMENT_URL}/charges", json={"id": "ch_5"})
    summary = checkout(conn, "ada", [("mug", 2, 30_00)])
    assert summary["paid"] == 60_00
    assert summary["points"] == 60
    assert conn.execute("SELECT quantity FROM stock WHERE sku = 'mug'").fetchone()[0] == 3

"""Stock: tested with a MagicMock connection, so the SQL guard never runs."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest

from shop.inventory import OutOfStock, reserve


@pytest.mark.invariant("ORD-005")
def test_reserve_refuses_when_no_row_was_updated():
    conn = MagicMock()
    conn.execute.return_value.rowcount = 0
    with pytest.raises(OutOfStock):
        reserve(conn, "mug", 10)


@pytest.mark.invariant("ORD-005")
def test_reserve_passes_the_quantity_to_the_database():
    conn = MagicMock()
    conn.execute.return_value.rowcount = 1
    reserve(conn, "mug", 2)
    assert conn.execute.call_args.args[1] == (2, "mug", 2)

"""Fixtures shared by the shop's tests: a real SQLite database, fresh per test."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from shop import db


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    """Return an in-memory SQLite database with the shop's schema and some stock."""
    connection = db.connect(":memory:")
    connection.executemany(
        "INSERT INTO stock (sku, quantity) VALUES (?, ?)", [("mug", 5), ("tee", 2)]
    )
    yield connection
    connection.close()

"""Loyalty points."""

from __future__ import annotations


def points_for(paid_cents: int) -> int:
    """Return the points earned on a paid amount: one per whole euro, none for refunds."""
    if paid_cents <= 0:
        return 0
    return paid_cents // 100

"""The one place the shop reads the time, so tests can freeze it."""

from __future__ import annotations

import datetime


def now() -> datetime.datetime:
    """Return the current time as an aware datetime in UTC."""
    return datetime.datetime.now(datetime.timezone.utc)

"""The clock: one real test, and one that freezes the very thing it claims to check."""

from __future__ import annotations

import datetime

import pytest
from freezegun import freeze_time

from shop import clock


@pytest.mark.invariant("CLK-001")
def test_now_is_aware_utc():
    assert clock.now().utcoffset() == datetime.timedelta(0)


@pytest.mark.invariant("CLK-001")
@freeze_time("2024-03-31 01:30:00")
def test_now_during_the_dst_switch():
    # Under freezegun this checks freezegun's clock, not ours: the report marks it mock-based.
    assert clock.now().hour == 1

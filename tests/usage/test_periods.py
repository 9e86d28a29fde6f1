from datetime import UTC, datetime, timezone

import pytest

from usage.periods import period_bounds


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("period, now, start, end", [
    ("daily", utc(2026, 11, 23, 23, 59, 59, 999999), utc(2026, 11, 23), utc(2026, 11, 24)),
    ("daily", utc(2026, 11, 24), utc(2026, 11, 24), utc(2026, 11, 25)),
    # ISO weeks start on Monday: Sunday's last second is still the old week.
    ("weekly", utc(2026, 11, 29, 23, 59, 59), utc(2026, 11, 23), utc(2026, 11, 30)),
    ("weekly", utc(2026, 11, 30), utc(2026, 11, 30), utc(2026, 12, 7)),
    ("weekly", utc(2027, 1, 1, 12), utc(2026, 12, 28), utc(2027, 1, 4)),  # a week across the new year
    ("monthly", utc(2026, 11, 30, 23, 59, 59), utc(2026, 11, 1), utc(2026, 12, 1)),
    ("monthly", utc(2026, 12, 31, 23, 59, 59), utc(2026, 12, 1), utc(2027, 1, 1)),
    ("monthly", utc(2028, 2, 29, 12), utc(2028, 2, 1), utc(2028, 3, 1)),  # leap day
    ("daily", utc(2028, 2, 29, 23, 59, 59), utc(2028, 2, 29), utc(2028, 3, 1)),
])
def test_period_bounds(period, now, start, end):
    assert period_bounds(period, now) == (start, end)


def test_bounds_are_utc_whatever_the_offset_of_now():
    from datetime import timedelta

    tokyo = timezone(timedelta(hours=9))
    # 08:00 on Dec 1 in Tokyo is still Nov 30 in UTC.
    assert period_bounds("monthly", datetime(2026, 12, 1, 8, tzinfo=tokyo)) == (utc(2026, 11, 1), utc(2026, 12, 1))

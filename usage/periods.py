"""Limit periods in UTC: calendar days, ISO weeks starting Monday, calendar months."""
from datetime import UTC, datetime, timedelta

from accounts.models import ResetPeriod

_last: dict[str, tuple[datetime, datetime]] = {}  # each period's latest bounds: most calls fall in them


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the period that contains `now`."""
    bounds = _last.get(period)
    if bounds is not None and bounds[0] <= now < bounds[1]:
        return bounds
    bounds = _last[period] = _period_bounds(period, now)
    return bounds


def _period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == ResetPeriod.DAILY:
        return day, day + timedelta(days=1)
    if period == ResetPeriod.WEEKLY:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

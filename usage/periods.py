"""Limit periods in UTC: calendar days, ISO weeks starting Monday, calendar months."""
from datetime import UTC, datetime, timedelta

from accounts.models import ResetPeriod


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the period that contains `now`."""
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

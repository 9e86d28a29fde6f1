"""Usage analytics. Totals come from rollups (O(buckets)): hourly for windows of up to two
days, daily beyond, so 90 days of a busy key read about as many rows as of a quiet one. Only
the request list reads the raw log, one page at a time."""
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Company
from keys.models import ApiKey, KeyLimit
from usage import counters
from usage.models import DailyRollup, RequestLog, UsageRollup
from usage.periods import day_of, hour_of, period_bounds

HOURLY_UP_TO_DAYS = 2
FAILED = Q(status_code__gte=400)


def window(days: int, now: datetime) -> tuple[type[UsageRollup] | type[DailyRollup], datetime]:
    """(rollup model, first bucket). Up to two days: the last `days` × 24 hours, ending with the
    current one. Longer: today and the `days` - 1 UTC days before it."""
    if days <= HOURLY_UP_TO_DAYS:
        return UsageRollup, hour_of(now) - timedelta(hours=days * 24 - 1)
    return DailyRollup, day_of(now) - timedelta(days=days - 1)


def _rollups(days: int, now: datetime | None = None, **filters: Any) -> QuerySet[Any]:
    """The window's rollups, none after `now`: another worker may flush a request stamped just
    after it, whose hour (or day) can begin past the window's last bucket."""
    now = now or timezone.now()
    model, first = window(days, now)
    rollups: QuerySet[Any] = model.objects.filter(bucket__gte=first, bucket__lte=now, **filters)
    return rollups


def _totals(rollups: QuerySet[Any]) -> dict[str, int]:
    totals = rollups.aggregate(
        total=Sum("requests"), failed=Sum("requests", filter=FAILED), spend=Sum("spend_microcents")
    )
    total, failed = totals["total"] or 0, totals["failed"] or 0
    return {"total_requests": total, "successful_requests": total - failed, "failed_requests": failed,
            "total_spend_microcents": totals["spend"] or 0}


def usage_summary(api_key: ApiKey, days: int) -> dict[str, int]:
    return _totals(_rollups(days, api_key=api_key))


def usage_by_tier(api_key: ApiKey, days: int) -> list[dict[str, Any]]:
    rows = (_rollups(days, api_key=api_key).values("tier")
            .annotate(requests=Sum("requests"), spend_microcents=Sum("spend_microcents")).order_by("tier"))
    return list(rows)


def usage_errors(api_key: ApiKey, days: int) -> list[dict[str, Any]]:
    rows = (_rollups(days, api_key=api_key).filter(FAILED).values("status_code", "error_code")
            .annotate(count=Sum("requests"), last_seen=Max("last_seen")).order_by("-count", "status_code"))
    return [{"status_code": r["status_code"], "code": r["error_code"], "count": r["count"],
             "last_seen": r["last_seen"]} for r in rows]


def usage_timeseries(days: int, now: datetime | None = None, **filters: Any) -> tuple[str, list[dict[str, Any]]]:
    """Zero-filled buckets: hourly up to two days, daily (UTC) beyond."""
    now = now or timezone.now()
    rows = (_rollups(days, now, **filters).values("bucket")
            .annotate(total=Sum("requests"), failed=Sum("requests", filter=FAILED), spend=Sum("spend_microcents")))
    hourly = days <= HOURLY_UP_TO_DAYS
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    first = window(days, now)[1]
    buckets: dict[datetime, dict[str, Any]] = {}
    at = first
    while at <= now:
        buckets[at] = {"bucket": at, "requests": 0, "successful": 0, "failed": 0, "spend_microcents": 0}
        at += step
    for row in rows:
        entry = buckets[row["bucket"]]
        entry["requests"] += row["total"]
        entry["failed"] += row["failed"] or 0
        entry["successful"] += row["total"] - (row["failed"] or 0)
        entry["spend_microcents"] += row["spend"] or 0
    return ("hour" if hourly else "day"), list(buckets.values())


def usage_daily_by_key(api_keys: Iterable[ApiKey], days: int, now: datetime | None = None) -> dict[Any, list[int]]:
    """Requests per UTC day for each key, oldest day first, zero-filled: the list's sparklines,
    in one query for the whole page."""
    now = now or timezone.now()
    first = day_of(now) - timedelta(days=days - 1)
    counts = {key.pk: [0] * days for key in api_keys}
    rows = (DailyRollup.objects.filter(api_key__in=list(counts), bucket__gte=first, bucket__lte=now)
            .values("api_key_id", "bucket").annotate(total=Sum("requests")))
    for row in rows:
        counts[row["api_key_id"]][(row["bucket"] - first).days] += row["total"]
    return counts


def usage_requests(api_key: ApiKey, days: int, *, status: str | None = None, tier: str | None = None,
                   domain: str | None = None) -> QuerySet[RequestLog]:
    since = timezone.now() - timedelta(days=days)
    log = RequestLog.objects.filter(api_key=api_key, created_at__gte=since)
    if status == "success":
        log = log.filter(status_code__lt=400)
    elif status == "failed":
        log = log.filter(FAILED)
    if tier:
        log = log.filter(tier=tier)
    if domain:
        log = log.filter(domain__icontains=domain)
    return log.order_by("-created_at", "-id")


def company_usage_by_key(company: Company, days: int) -> list[dict[str, Any]]:
    """Per key, busiest first. A deleted key's use still counts (its rows outlive it), under
    its id with no name."""
    per_key = (_rollups(days, company=company).values("api_key_id")
               .annotate(total=Sum("requests"), failed=Sum("requests", filter=FAILED),
                         spend=Sum("spend_microcents")).order_by("-total", "api_key_id"))
    keys = ApiKey.objects.filter(pk__in=[r["api_key_id"] for r in per_key]).values_list("pk", "name", "prefix")
    names = {pk: {"name": name, "prefix": prefix} for pk, name, prefix in keys}
    deleted: dict[str, str | None] = {"name": None, "prefix": None}
    return [
        {
            "api_key_id": r["api_key_id"],
            "api_key_name": names.get(r["api_key_id"], deleted)["name"],
            "prefix": names.get(r["api_key_id"], deleted)["prefix"],
            "total_requests": r["total"],
            "failed_requests": r["failed"] or 0,
            "total_spend_microcents": r["spend"] or 0,
        }
        for r in per_key
    ]


def company_usage(company: Company, days: int) -> dict[str, Any]:
    return {**_totals(_rollups(days, company=company)), "keys": company_usage_by_key(company, days)}


def limits_use(api_key: ApiKey, now: datetime | None = None) -> dict[str, Any] | None:
    """The key's limits with its use in the current period and when that period ends, for
    showing to people; None when the key has no limits. The use is None while the counter
    store is unreachable, so the page or the answer still shows the limits."""
    limit = KeyLimit.objects.filter(api_key=api_key).first()
    if limit is None:
        return None
    start, end = period_bounds(limit.reset_period, now or timezone.now())
    requests: int | None
    spend: int | None
    try:
        requests, spend = counters.current_use(key_id=limit.counted_with_id or api_key.pk, period_start=start)
    except Exception:  # an unreachable counter store must not take the page down with it
        requests = spend = None
    return {"limit": limit, "period_start": start, "period_end": end, "requests_used": requests,
            "spend_used_microcents": spend}


def limits_reached(api_keys: Iterable[ApiKey], now: datetime | None = None) -> dict[uuid.UUID, datetime]:
    """{key id: when its period ends} for the keys whose request limit or budget for the
    current period is used up, so their product routes answer 429 until then. Pages show it
    as the key's status; a green "Active" would contradict the API. One query for the limits,
    then one counter read per limited key; an unreachable counter store reports none."""
    now = now or timezone.now()
    reached: dict[uuid.UUID, datetime] = {}
    for limit in KeyLimit.objects.filter(api_key__in=[key.pk for key in api_keys], enabled=True):
        start, end = period_bounds(limit.reset_period, now)
        try:
            requests, spend = counters.current_use(key_id=limit.counted_with_id or limit.api_key_id,
                                                   period_start=start)
        except Exception:  # as in limits_use: the page shows what it can
            continue
        if ((limit.request_limit is not None and requests >= limit.request_limit)
                or (limit.budget_limit_microcents is not None and spend >= limit.budget_limit_microcents)):
            reached[limit.api_key_id] = end
    return reached

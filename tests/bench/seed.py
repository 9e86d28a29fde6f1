"""Seeding a bench database, run by tests/bench/run.py in a process of its own with the bench
server's environment (DJANGO_SETTINGS_MODULE=tests.bench.settings and its DATABASE_URL).

    python -m tests.bench.seed setup                   -> JSON: the keys and tokens of every row
    python -m tests.bench.seed log KEY_ID ROWS [DAYS]  -> ROWS log records for the key, spread
                                                          evenly over DAYS, and their hourly and daily rollups
    python -m tests.bench.seed analyze                 -> the planner's statistics, once the log is seeded

The log is written with bulk SQL in large batches (COPY on PostgreSQL), and the rollups are
computed from the same rows, so the analytics read exactly what the recorder would have written.
"""
import json
import sys
import time
from collections import defaultdict
from datetime import timedelta

import django

BATCH = 50_000
ROTATION_KEYS = 2_000  # the "many keys" row: more than a worker sees twice a second
KEYS_PER_MEMBER = 50
# Log sizes the analytics are timed at; each gets a company of its own, so the company-wide
# calls read one size too.
ANALYTICS_SIZES = ("small", "big", "huge")
LOG_COLUMNS = ("api_key_id", "company_id", "user_id", "created_at", "method", "path", "route", "status_code",
               "error_code", "latency_ms", "client_ip", "user_agent", "domain", "tier", "cost_microcents", "request_id")
# A mix the analytics group by: three tiers, mostly successes, some refusals.
TIERS = ("free", "standard", "premium")
OUTCOMES = ((200, ""), (200, ""), (200, ""), (200, ""), (200, ""), (200, ""), (200, ""), (200, ""),
            (401, "expired_api_key"), (429, "request_limit_exceeded"))


def setup() -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token
    from rest_framework_api_key.models import APIKey

    from accounts.access import OPERATOR
    from accounts.models import Company, Membership, Role
    from keys.limit_services import MAX_REQUEST_LIMIT, limits_set
    from keys.services import api_key_create

    company = Company.objects.create(name="Bench")
    owner = get_user_model().objects.create(username="bench", email="bench@example.com")
    Membership.objects.create(user=owner, company=company, role=Role.OWNER)
    logged, logged_raw = api_key_create(company=company, owner=owner, name="bench: logging, no limit")
    limited, limited_raw = api_key_create(company=company, owner=owner, name="bench: logging and a limit")
    # Big enough never to refuse: the row measures the counting, not the refusals.
    limits_set(api_key=limited, grantor=OPERATOR, request_limit=MAX_REQUEST_LIMIT, reset_period="monthly")
    # Spread over members, as many people's scripts would be (and within each one's key cap).
    rotation = []
    for n in range(ROTATION_KEYS):
        if n % KEYS_PER_MEMBER == 0:
            member = get_user_model().objects.create(username=f"bench-member-{n}")
            Membership.objects.create(user=member, company=company, role=Role.MEMBER)
        rotation.append(api_key_create(company=company, owner=member, name=f"bench: rotation {n}")[1])
    _, drf_api_key = APIKey.objects.create_key(name="bench")
    token = Token.objects.create(user=owner)
    creds = {"logged": logged_raw, "limited": limited_raw, "hasapikey": drf_api_key, "token": token.key,
             "rotation": rotation}
    for size in ANALYTICS_SIZES:
        tenant = Company.objects.create(name=f"Bench analytics {size}")
        analyst = get_user_model().objects.create(username=f"bench-analyst-{size}")
        Membership.objects.create(user=analyst, company=tenant, role=Role.OWNER)
        _, creds[f"{size}_analyst"] = api_key_create(company=tenant, owner=analyst, name="bench: reads the analytics")
        logged_key, _ = api_key_create(company=tenant, owner=analyst, name=f"bench: {size} log")
        creds[f"{size}_key_id"] = str(logged_key.pk)
    return creds


def _rows(key, count: int, days: int, now):
    """(log row, rollup dimensions, cost) for `count` requests spread evenly over `days`."""
    span = timedelta(days=days).total_seconds()
    for i in range(count):
        at = now - timedelta(seconds=span * (i + 0.5) / count)
        tier = TIERS[i % len(TIERS)]
        status, error = OUTCOMES[i % len(OUTCOMES)]
        cost = 0 if status >= 400 else {"free": 0, "standard": 100, "premium": 1000}[tier]
        yield ((key.pk, key.company_id, key.owner_id, at, "GET", "/api/v1/demo/echo", "api/v1/demo/echo", status,
                error, 3, "127.0.0.1", "bench/1.0", "", tier, cost, ""), (tier, status, error), cost)


def log(key_id: str, count: int, days: int = 90) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from keys.models import ApiKey
    from usage.models import DailyRollup, RequestLog, UsageRollup
    from usage.periods import day_of, hour_of

    key = ApiKey.objects.get(pk=key_id)
    now = timezone.now()
    table = connection.ops.quote_name(RequestLog._meta.db_table)
    columns = ", ".join(LOG_COLUMNS)
    key_value = RequestLog._meta.get_field("api_key").target_field.get_db_prep_value(key.pk, connection)
    adapt = connection.ops.adapt_datetimefield_value
    rollups = {UsageRollup: (hour_of, defaultdict(lambda: [0, 0, None])),
               DailyRollup: (day_of, defaultdict(lambda: [0, 0, None]))}
    batch = []

    def write(cursor):
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(LOG_COLUMNS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                               [(key_value, *row[1:3], adapt(row[3]), *row[4:]) for row in batch])
        batch.clear()

    with transaction.atomic(), connection.cursor() as cursor:
        for row, dims, cost in _rows(key, count, days, now):
            batch.append(row)
            for bucket_of, totals in rollups.values():
                total = totals[(bucket_of(row[3]), *dims)]
                total[0] += 1
                total[1] += cost
                total[2] = row[3] if total[2] is None or row[3] > total[2] else total[2]
            if len(batch) >= BATCH:
                write(cursor)
        if batch:
            write(cursor)
        for model, (_, totals) in rollups.items():
            model.objects.bulk_create(
                [model(api_key_id=key.pk, company_id=key.company_id, bucket=bucket, tier=tier, status_code=status,
                       error_code=error, requests=requests, spend_microcents=spend, last_seen=last)
                 for (bucket, tier, status, error), (requests, spend, last) in totals.items()],
                batch_size=2000,
            )
    return {"key_id": key_id, "rows": count, "rollups": {model.__name__: len(totals)
                                                           for model, (_, totals) in rollups.items()}}


def analyze() -> dict:
    """What a running database has before anyone reads a log this size: PostgreSQL's autovacuum
    analyzes a table once a tenth of it changed (and vacuums it, which sets the visibility map
    that index-only scans read); a bench that times a million rows seconds after writing them,
    before autovacuum's next round (or on a server where it is off), times plans made blind,
    with no statistics: a sort of every row of the key instead of a walk down its index.
    SQLite has no autovacuum: ANALYZE is what `PRAGMA optimize` runs for a table that grew."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run inside a transaction
        cursor.execute("VACUUM (ANALYZE)" if connection.vendor == "postgresql" else "ANALYZE")
    return {"analyzed": connection.vendor, "seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str]) -> None:
    django.setup()
    if argv[0] == "setup":
        result = setup()
    elif argv[0] == "log":
        result = log(argv[1], int(argv[2]), *(int(a) for a in argv[3:4]))
    elif argv[0] == "analyze":
        result = analyze()
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Writing request-log records and adding them to the rollups, one batch per transaction."""
import datetime as dt
import functools
from collections import defaultdict, namedtuple

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from core import sqlite_bulk
from core.outcomes import OUTCOMES, KeyStatus
from keys.services import api_keys_touch
from usage.models import DailyRollup, RequestLog, UsageRollup
from usage.periods import day_of, hour_of

LOG_FIELDS = [f for f in RequestLog._meta.concrete_fields if not f.primary_key]
# One request-log row as a request hands it over: a plain tuple, because building a model
# instance on the request path costs far more (docs/benchmarks.md). write() takes either.
LogRecord = namedtuple("LogRecord", [f.attname for f in LOG_FIELDS])  # type: ignore[misc]  # from the model
# Columns whose Python values the database drivers take as they are; the others (the key's
# UUID, the time, the IP) go through their field's conversion.
# Requests refused for what the key is, not for what it asked: they are no use of the key, so
# they leave its last_used_at alone. Every other logged request is one.
NOT_A_USE = frozenset(OUTCOMES[status].code for status in (KeyStatus.REVOKED, KeyStatus.EXPIRED, KeyStatus.REGENERATED,
                                                           KeyStatus.OWNER_INACTIVE))
# Rollup rows per upsert statement on SQLite: 9 parameters each, under its limit of 32,766.
SQLITE_ROLLUP_CHUNK = 1000
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
PLAIN_TYPES = {"CharField", "IntegerField", "BigIntegerField", "PositiveIntegerField", "PositiveSmallIntegerField",
               "AutoField", "BigAutoField"}


def _totals(rows, bucket_of, width: dt.timedelta) -> list[tuple]:
    """Sum (key, company, time, tier, status, error, requests, spend, last seen) rows per bucket
    of bucket_of(time), `width` long: records into hours, then hours into days. A batch's times
    fall in a bucket or two, so a bucket is worked out again only for a time outside the last
    one: datetime.replace() with keywords costs more than the rest of a row."""
    totals: defaultdict[tuple, list] = defaultdict(lambda: [0, 0, None])
    start = end = None
    for key_id, company_id, at, tier, status, error, requests, spend, last_seen in rows:
        if start is None or at.tzinfo is None or not start <= at < end:
            start = bucket_of(at)
            # The last bucket of year 9999 has no end a datetime can hold: such a time (or a
            # naive one, compared with nothing) is bucketed on its own.
            end = start + width if start.year < 9999 else start
        total = totals[(key_id, company_id, start, tier, status, error)]
        total[0] += requests
        total[1] += spend
        if total[2] is None or last_seen > total[2]:
            total[2] = last_seen
    return [(*dims, *total) for dims, total in totals.items()]


def _upsert_rollups(model, rows: list[tuple], texts: dict) -> None:
    """Add to the totals in one statement per batch. PostgreSQL takes each column as one array
    (unnest): a short statement that psycopg parses once, where a VALUES list of thousands of
    parameters costs more Python to convert than the upsert costs the database. SQLite shares
    the rest of the syntax, with a VALUES list; `texts` keeps the batch's values converted for
    SQLite, from one call to the next."""
    table = connection.ops.quote_name(model._meta.db_table)
    upsert = (
        "ON CONFLICT (api_key_id, bucket, tier, status_code, error_code) DO UPDATE SET "
        f"requests = {table}.requests + excluded.requests, "
        f"spend_microcents = {table}.spend_microcents + excluded.spend_microcents, "
        f"last_seen = CASE WHEN excluded.last_seen > {table}.last_seen "
        f"THEN excluded.last_seen ELSE {table}.last_seen END"
    )
    columns = "api_key_id, company_id, bucket, tier, status_code, error_code, requests, spend_microcents, last_seen"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[], "
                f"%s::text[], %s::int[], %s::text[], %s::bigint[], %s::bigint[], %s::timestamptz[]) {upsert}",
                [list(column) for column in zip(*rows, strict=True)],
            )
        return
    adapt = sqlite_bulk.time_text()
    for start in range(0, len(rows), SQLITE_ROLLUP_CHUNK):
        chunk = rows[start : start + SQLITE_ROLLUP_CHUNK]
        params = []
        for key_id, company_id, bucket, tier, status, error, requests, spend, last_seen in chunk:
            # Each converted once a batch: the rows share a bucket or two, and a key's hourly
            # and daily rows share its id and last time.
            if bucket not in texts:
                texts[bucket] = adapt(bucket)
            if last_seen.tzinfo is not dt.UTC:  # a local time's fold: equal times, two instants
                seen = adapt(last_seen)
            elif (seen := texts.get(last_seen)) is None:
                seen = texts[last_seen] = adapt(last_seen)
            if key_id not in texts:
                texts[key_id] = sqlite_bulk.uuid_text(key_id)
            params += [texts[key_id], company_id, texts[bucket], tier, status, error, requests, spend, seen]
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        sqlite_bulk.run(f"INSERT INTO {table} ({columns}) VALUES {values} {upsert}", params)


def _values(record) -> tuple:
    if isinstance(record, LogRecord):
        return record
    return tuple(getattr(record, field.attname) for field in LOG_FIELDS)


def _insert_log(records) -> None:
    """PostgreSQL: COPY, the values as they are (psycopg adapts UUIDs, times and addresses
    itself): a quarter of the recorder's and half of PostgreSQL's time per record against an
    INSERT run over the batch. Elsewhere one prepared INSERT run over the batch: bulk_create
    compiled SQL for every value of every row, twice the time again."""
    table = connection.ops.quote_name(RequestLog._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in LOG_FIELDS)
    if connection.vendor == "postgresql":
        # On the driver's own cursor, so its errors are wrapped here: the recorder keeps a batch
        # back only on Django's OperationalError (the database is unreachable).
        with (connection.cursor() as cursor, connection.wrap_database_errors,
              cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy):
            for record in records:
                copy.write_row(_values(record))
        return
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: it looks the connection up on every use
    fast = {"UUIDField": sqlite_bulk.uuid_text, "DateTimeField": sqlite_bulk.time_text()}

    def preparer(field):
        kind = (field.target_field if field.is_relation else field).get_internal_type()
        if kind in PLAIN_TYPES:
            return None
        convert = fast.get(kind) or (lambda value: field.get_db_prep_save(value, db))
        # An address's conversion is kept for the batch: a worker sees a few clients again and
        # again, and an IPv6 address costs 13 µs to clean.
        return functools.lru_cache(maxsize=4096)(convert) if kind == "GenericIPAddressField" else convert

    # Only three of the sixteen columns need converting: copy each row and convert those,
    # rather than run a Python step for every value (a third of the writer's time per record).
    conversions = [(i, convert) for i, field in enumerate(LOG_FIELDS) if (convert := preparer(field))]
    rows = []
    for record in records:
        row = list(_values(record))
        for i, convert in conversions:
            row[i] = convert(row[i])
        rows.append(row)
    sqlite_bulk.run_many(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['?'] * len(LOG_FIELDS))})", rows)


def _last_uses(records) -> dict:
    uses: dict = {}
    for r in records:
        if r.error_code not in NOT_A_USE and (r.api_key_id not in uses or r.created_at > uses[r.api_key_id]):
            uses[r.api_key_id] = r.created_at
    return uses


def write(records) -> None:
    """Records are LogRecords or RequestLog instances. The keys' last_used_at goes in the same
    transaction, one UPDATE per key due (keys.services.api_keys_touch)."""
    with transaction.atomic():
        api_keys_touch(uses=_last_uses(records))
        _insert_log(records)
        hourly = _totals(((r.api_key_id, r.company_id, r.created_at, r.tier, r.status_code, r.error_code, 1,
                           r.cost_microcents, r.created_at) for r in records), hour_of, HOUR)
        texts: dict = {}
        for model, rows in ((UsageRollup, hourly), (DailyRollup, _totals(hourly, day_of, DAY))):
            if rows:
                _upsert_rollups(model, rows, texts)

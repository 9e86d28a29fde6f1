"""Atomic check-and-count of a limited key's use in its current period.

One operation per request decides and counts together, so N simultaneous requests against
R remaining admit exactly R: a Lua script in Redis when the cache is Redis (shared by every
worker), otherwise a conditional UPDATE in the database. Local-memory caches are per process
and could not count across gunicorn workers, so they are never used for this.
"""
import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction

from core.errors import ServiceUnavailable
from core.redis_client import redis_client
from keys.cache import cache_is_shared
from usage.models import LimitCounter

# Returns {admitted, requests, spend, refused_by}; refused_by 1 = requests, 2 = budget.
CONSUME_SCRIPT = """
local requests = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
local spend = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local cost = tonumber(ARGV[1])
if ARGV[2] ~= '' and requests + 1 > tonumber(ARGV[2]) then return {0, requests, spend, 1} end
if ARGV[3] ~= '' and spend + cost > tonumber(ARGV[3]) then return {0, requests, spend, 2} end
requests = redis.call('HINCRBY', KEYS[1], 'r', 1)
spend = redis.call('HINCRBY', KEYS[1], 's', cost)
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return {1, requests, spend, 0}
"""


@dataclass(frozen=True)
class Consumption:
    admitted: bool
    requests: int
    spend_microcents: int
    refused_by: str = ""  # "requests" or "budget"


def _redis_key(key_id, period_start: datetime) -> str:
    return f"keyhouse:quota:{key_id}:{int(period_start.timestamp())}"


def bulk(value) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


# The counter's one command, packed by hand up to its key and arguments: redis-py's Script call
# (argument encoding, the pool, retries, response callbacks) cost about 160 µs of a worker's
# CPU per request, several times the round trip itself.
CONSUME_SHA = hashlib.sha1(CONSUME_SCRIPT.encode()).hexdigest()
EVALSHA_HEAD = b"*8\r\n" + bulk(b"EVALSHA") + bulk(CONSUME_SHA.encode()) + bulk(b"1")
_own = threading.local()  # each thread's own connection for the counter: no pool, no lock


def _connection(client):
    pool = client.connection_pool
    if getattr(_own, "pool", None) is not pool:
        _own.pool, _own.connection = pool, pool.connection_class(**pool.connection_kwargs)
    return _own.connection


def evalsha(client, packed: bytes, script: str = CONSUME_SCRIPT):
    """Send and read on this thread's connection; after a Redis restart, load the script once
    and send again. A broken connection is closed on the error and reopened on the next send."""
    import redis

    connection = _connection(client)

    def send():
        connection.send_packed_command([packed], check_health=False)
        return connection.read_response()

    try:
        return send()
    except redis.exceptions.NoScriptError:
        client.script_load(script)
    return send()


def _consume_redis(key_id, period_start, period_end, cost, request_limit, budget) -> Consumption:
    import redis

    packed = EVALSHA_HEAD + b"".join(bulk(value) for value in (
        _redis_key(key_id, period_start), cost, "" if request_limit is None else request_limit,
        "" if budget is None else budget, int(period_end.timestamp()) + 3600))
    try:
        admitted, requests, spend, refused = evalsha(redis_client(), packed)
    except redis.RedisError as exc:
        raise ServiceUnavailable("The usage counter store is unreachable; retry shortly.",
                                 code="counter_store_unavailable") from exc
    return Consumption(bool(admitted), requests, spend, {1: "requests", 2: "budget"}.get(refused, ""))


def _count(key_id, period_start, cost, request_limit, budget):
    """Decide and count in one conditional UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL):
    (requests, spend) after counting, or None when there is no counter row or no room."""
    table = connection.ops.quote_name(LimitCounter._meta.db_table)
    key_field = LimitCounter._meta.get_field("api_key").target_field
    where, params = ["api_key_id = %s", "period_start = %s"], [
        key_field.get_db_prep_value(key_id, connection), connection.ops.adapt_datetimefield_value(period_start)]
    if request_limit is not None:
        where.append("requests < %s")
        params.append(request_limit)
    if budget is not None:
        where.append("spend_microcents <= %s")
        params.append(budget - cost)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET requests = requests + 1, spend_microcents = spend_microcents + %s "
            f"WHERE {' AND '.join(where)} RETURNING requests, spend_microcents", [cost, *params])
        return cursor.fetchone()


def _consume_database(key_id, period_start, cost, request_limit, budget) -> Consumption:
    """One statement for an admitted request, outside any transaction of its own (a conditional
    UPDATE decides and counts atomically by itself; BEGIN and COMMIT around it cost more than it
    does); a period's first request creates the row, and a refusal reads what was used, for the
    message and the headers, in one transaction."""
    try:
        counted = _count(key_id, period_start, cost, request_limit, budget)
        if counted is not None:
            return Consumption(True, *counted)
        with transaction.atomic():
            counted = _count(key_id, period_start, cost, request_limit, budget)
            if counted is None:
                LimitCounter.objects.bulk_create(
                    [LimitCounter(api_key_id=key_id, period_start=period_start)], ignore_conflicts=True
                )
                counted = _count(key_id, period_start, cost, request_limit, budget)
            if counted is not None:
                return Consumption(True, *counted)
            requests, spend = LimitCounter.objects.filter(api_key_id=key_id, period_start=period_start).values_list(
                "requests", "spend_microcents").get()
    except DatabaseError as exc:
        raise ServiceUnavailable("The usage counter store is unreachable; retry shortly.",
                                 code="counter_store_unavailable") from exc
    refused_by = "requests" if request_limit is not None and requests >= request_limit else "budget"
    return Consumption(False, requests, spend, refused_by)


def consume(*, key_id, period_start, period_end, cost, request_limit, budget) -> Consumption:
    if cache_is_shared():
        return _consume_redis(key_id, period_start, period_end, cost, request_limit, budget)
    return _consume_database(key_id, period_start, cost, request_limit, budget)


def current_use(*, key_id, period_start) -> tuple[int, int]:
    """(requests, spend) counted so far in the period, for showing limits to people."""
    if cache_is_shared():
        requests, spend = redis_client().hmget(_redis_key(key_id, period_start), "r", "s")
        return int(requests or 0), int(spend or 0)
    row = LimitCounter.objects.filter(api_key_id=key_id, period_start=period_start).values_list(
        "requests", "spend_microcents").first()
    return row or (0, 0)
